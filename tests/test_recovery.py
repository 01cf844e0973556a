"""Crash recovery with ``Model.fit``: Keras's BackupAndRestore under MirroredStrategy.

``JOB`` fits a model holding a SoftSOM layer of each mode under
``MirroredStrategy`` over two logical CPUs, with ``BackupAndRestore``; one
run kills itself with SIGKILL at a seeded (epoch, batch), and its restart
must resume from the last backup (the end of the previous epoch) and end with
the weights, embeddings and ``samples_seen`` of an uninterrupted run.
(The custom training loop across workers: tests/test_multiworker.py.)
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.two_cpus import PREAMBLE

pytestmark = pytest.mark.slow

EPOCHS = 4
BATCHES_PER_EPOCH = 4  # 256 samples, batches of 64
_KILL = np.random.default_rng(150)
KILL_EPOCH = int(_KILL.integers(1, EPOCHS))
KILL_BATCH = int(_KILL.integers(BATCHES_PER_EPOCH))
TIMEOUT = 240
TOLERANCE = 1e-6

JOB = (
    r"""
import json, os, signal, sys, time

job = json.loads(sys.argv[1])
began = time.monotonic()
"""
    + PREAMBLE
    + r"""
import keras  # noqa: E402

from softsom import SoftSOM  # noqa: E402

MODES = ("kohonen", "backprop", "frozen")
keras.utils.set_random_seed(0)
with strategy.scope():
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, activation="tanh", name="hidden")(inputs)
    soms = [SoftSOM((3, 3), beta=2.0, embedding_update=m, decay_samples=500, name=m)(hidden) for m in MODES]
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(keras.layers.Concatenate()(soms)))
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
rng = np.random.default_rng(0)
X = rng.normal(size=(256, 3)).astype("float32")
y = (X[:, 0] * X[:, 1] > 0).astype("int32")
first = {}


class Watch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        first.setdefault("epoch", epoch)
        first.setdefault("after", time.monotonic() - began)
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if [self.epoch, batch] == job.get("kill"):
            os.kill(os.getpid(), signal.SIGKILL)


backup = keras.callbacks.BackupAndRestore(job["backup_dir"], delete_checkpoint=False)
history = model.fit(X, y, batch_size=64, epochs=job["epochs"], shuffle=False, verbose=0, callbacks=[backup, Watch()])
out = {
    "first_epoch": first["epoch"],
    "first_epoch_after": first["after"],
    "loss": history.history["loss"],
    "weights": [w.tolist() for w in model.get_weights()],
    "samples_seen": int(model.get_layer("kohonen").samples_seen.numpy()),
}
with open(job["out"], "w") as f:
    json.dump(out, f)
"""
)


def start(folder, name, **job):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    job = dict(job, out=str(folder / f"{name}.json"), epochs=EPOCHS)
    with open(folder / f"{name}.err", "w") as err:
        command = [sys.executable, "-c", JOB, json.dumps(job)]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env)


def wait(process, folder, name):
    try:
        process.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
        pytest.fail(f"{name} did not end within {TIMEOUT} s")
    return process.returncode, (folder / f"{name}.err").read_text()


def result(folder, name):
    return json.loads((folder / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recovery")
    # The uninterrupted run and the one that is killed, side by side.
    processes = {
        "uninterrupted": start(folder, "uninterrupted", backup_dir=str(folder / "backup-uninterrupted")),
        "killed": start(folder, "killed", backup_dir=str(folder / "backup"), kill=[KILL_EPOCH, KILL_BATCH]),
    }
    status = {name: wait(p, folder, name) for name, p in processes.items()}
    began = time.monotonic()
    restarted = start(folder, "restarted", backup_dir=str(folder / "backup"))
    status["restarted"] = wait(restarted, folder, "restarted")
    return folder, status, time.monotonic() - began


def test_the_killed_run_died_of_sigkill(runs):
    _, status, _ = runs
    assert status["killed"][0] == -signal.SIGKILL, status["killed"][1][-3000:]


def test_the_restarted_fit_resumes_from_the_backup_and_ends_as_the_uninterrupted_one(runs):
    folder, status, _ = runs
    for name in ("uninterrupted", "restarted"):
        assert status[name][0] == 0, status[name][1][-3000:]
    alone, restarted = result(folder, "uninterrupted"), result(folder, "restarted")
    # BackupAndRestore saves at the end of every epoch: the killed epoch runs again.
    assert alone["first_epoch"] == 0
    assert restarted["first_epoch"] == KILL_EPOCH
    difference = max(
        float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())
        for a, b in zip(alone["weights"], restarted["weights"])
    )
    assert difference < TOLERANCE
    assert restarted["samples_seen"] == alone["samples_seen"] == EPOCHS * 256
    np.testing.assert_allclose(restarted["loss"], alone["loss"][KILL_EPOCH:], atol=TOLERANCE)
