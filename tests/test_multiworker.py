"""Training across two MultiWorkerMirroredStrategy workers, and a worker killed mid-training.

Each worker is a process of its own on 127.0.0.1 (free ports, its own
``TF_CONFIG``), running ``JOB`` with :func:`softsom.distribute.train` on a
model holding a SoftSOM layer of each of the three modes, then
``KohonenSOM(mode="batch")`` fits. A third process runs the same job alone
(no strategy) on the same global batches. Every run is bounded by a timeout
and its processes are killed when it expires.

Crash recovery: one worker (a seeded choice) kills itself with SIGKILL at a
seeded step; the other must fail with :class:`~softsom.distribute.WorkerLostError`
within a bounded time, never hang. With checkpoints the restarted job resumes
from the last one and ends as the uninterrupted run; without, the error says
that a restart begins from step 0.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow

STEPS = 16
CHECKPOINT_EVERY = 3
# Seeded kill point: which worker dies, and before which step.
_KILL = np.random.default_rng(15)
KILLED_WORKER = int(_KILL.integers(2))
KILL_AT = int(_KILL.integers(2, STEPS - 1))
# Bounds: a whole job, and the survivor's time to fail after its peer died.
JOB_TIMEOUT = 240
FAIL_WITHIN = 90
# One process against two workers: float32 sums in another order.
TOLERANCE = 1e-5

JOB = r'''
import json, os, signal, sys, time

job = json.loads(sys.argv[1])
began = time.monotonic()
distributed = job.get("index") is not None
if distributed:
    cluster = {"worker": [f"127.0.0.1:{port}" for port in job["ports"]]}
    os.environ["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": job["index"]}})
import numpy as np
import tensorflow as tf

# The strategy first: it configures TensorFlow's runtime.
strategy = tf.distribute.MultiWorkerMirroredStrategy() if distributed else tf.distribute.get_strategy()
import keras  # noqa: E402

from softsom import KohonenSOM, SoftSOM  # noqa: E402
from softsom.distribute import train  # noqa: E402

MODES = ("kohonen", "backprop", "frozen")
keras.utils.set_random_seed(0)
with strategy.scope():
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, activation="tanh", name="hidden")(inputs)
    soms = [SoftSOM((3, 3), beta=2.0, embedding_update=m, decay_samples=500, name=m)(hidden) for m in MODES]
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(keras.layers.Concatenate()(soms)))
    optimizer = keras.optimizers.SGD(0.05, momentum=0.9)
rng = np.random.default_rng(0)
X = rng.normal(size=(512, 3)).astype("float32")
y = (X[:, 0] * X[:, 1] > 0).astype("int32")
BATCH = 64
first_step = []


def batches(step):
    """The global batch of a step: a seeded permutation of X every epoch."""
    if step == job.get("kill_at") and job.get("index") == job.get("kill_worker"):
        os.kill(os.getpid(), signal.SIGKILL)
    if not first_step:
        first_step.append(time.monotonic() - began)
    epoch, k = divmod(step, len(X) // BATCH)
    rows = np.random.default_rng([0, epoch]).permutation(len(X))[k * BATCH : (k + 1) * BATCH]
    return X[rows], y[rows]


loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
result = train(
    model, loss, optimizer, batches, job["steps"], strategy=strategy,
    checkpoint_dir=job.get("checkpoint_dir"), checkpoint_every=job["checkpoint_every"],
)
out = {
    "initial_step": result["initial_step"],
    "loss": result["loss"],
    "first_step_after": first_step[0] if first_step else None,
    "seconds": time.monotonic() - began,
    "weights": [w.tolist() for w in model.get_weights()],
    "embeddings": {m: model.get_layer(m).embedding.numpy().tolist() for m in MODES},
    "samples_seen": {m: int(model.get_layer(m).samples_seen.numpy()) for m in MODES},
}
if job.get("kohonen"):
    data = np.random.default_rng(1).normal(size=(1001, 5))
    for batch_size in (None, 64):
        som = KohonenSOM(
            (5, 6),
            mode="batch",
            batch_size=batch_size,
            epochs=3,
            random_state=0,
            strategy=strategy if distributed else None,
        ).fit(data)
        out[f"kohonen_{batch_size}"] = {"embedding": som.embedding_.tolist(), "seen": som.n_samples_seen_}
with open(job["out"], "w") as f:
    json.dump(out, f)
'''


def free_ports(count):
    """``count`` distinct free TCP ports on 127.0.0.1 (all held open while choosing)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Process:
    """One process of a job: its Popen, the time it ended, its stderr."""

    def __init__(self, job, folder, name):
        self.name = name
        self.out = folder / f"{name}.json"
        self.err_path = folder / f"{name}.err"
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        env.pop("TF_CONFIG", None)
        with open(self.err_path, "w") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-c", JOB, json.dumps({**job, "out": str(self.out)})],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
            )
        self.ended = None

    @property
    def stderr(self):
        return self.err_path.read_text()

    def result(self):
        assert self.popen.returncode == 0, f"{self.name} failed:\n{self.stderr[-3000:]}"
        return json.loads(self.out.read_text())


def run(jobs, folder, timeout=JOB_TIMEOUT):
    """Start the ``jobs`` (name -> job) at once; wait until all end, killing them all after ``timeout`` s."""
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    processes = {name: Process(job, folder, name) for name, job in jobs.items()}
    try:
        while any(p.ended is None for p in processes.values()):
            for p in processes.values():
                if p.ended is None and p.popen.poll() is not None:
                    p.ended = time.monotonic() - started
            if time.monotonic() - started > timeout:
                pytest.fail(
                    f"the job did not end within {timeout} s: {[p.name for p in processes.values() if p.ended is None]}"
                )
            time.sleep(0.05)
    finally:
        for p in processes.values():
            if p.popen.poll() is None:
                p.popen.kill()
            p.popen.wait(timeout=30)
    return processes


def cluster(folder, timeout=JOB_TIMEOUT, **job):
    """Two workers running ``job``; retried once on fresh ports if a worker could not bind its port."""
    for attempt in range(2):
        ports = free_ports(2)
        jobs = {f"worker{i}": dict(job, index=i, ports=ports) for i in range(2)}
        processes = run(jobs, folder / f"attempt{attempt}", timeout)
        if not any("Could not start gRPC server" in p.stderr for p in processes.values()):
            break
    return processes


def largest_difference(a, b):
    return max(float(np.abs(np.asarray(u, np.float64) - np.asarray(v, np.float64)).max()) for u, v in zip(a, b))


BASE = dict(steps=STEPS, checkpoint_every=CHECKPOINT_EVERY)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("multiworker")


@pytest.fixture(scope="module")
def uninterrupted(folder):
    """Two workers (with checkpoints) and one process alone, on the same global batches."""
    ports = free_ports(2)
    jobs = {f"worker{i}": dict(BASE, index=i, ports=ports, kohonen=True) for i in range(2)}
    jobs["alone"] = dict(BASE, kohonen=True)
    for i in range(2):
        jobs[f"worker{i}"]["checkpoint_dir"] = str(folder / "uninterrupted-checkpoints")
    processes = run(jobs, folder / "uninterrupted")
    return {name: p.result() for name, p in processes.items()}


def test_both_workers_end_with_identical_weights_and_embeddings(uninterrupted):
    first, second = uninterrupted["worker0"], uninterrupted["worker1"]
    assert largest_difference(first["weights"], second["weights"]) == 0.0
    for mode in ("kohonen", "backprop", "frozen"):
        assert largest_difference([first["embeddings"][mode]], [second["embeddings"][mode]]) == 0.0, mode
    assert first["loss"] == second["loss"]


def test_samples_seen_counts_both_workers(uninterrupted):
    for run_ in uninterrupted.values():
        assert run_["samples_seen"] == {"kohonen": STEPS * 64, "backprop": 0, "frozen": 0}


def test_two_workers_match_one_process_on_the_same_global_batches(uninterrupted):
    workers, alone = uninterrupted["worker0"], uninterrupted["alone"]
    assert largest_difference(workers["weights"], alone["weights"]) < TOLERANCE
    assert largest_difference([workers["loss"]], [alone["loss"]]) < TOLERANCE
    for mode in ("kohonen", "backprop", "frozen"):
        assert largest_difference([workers["embeddings"][mode]], [alone["embeddings"][mode]]) < TOLERANCE, mode
    # The Kohonen rule did move its map, and it moved it the same way.
    moved = largest_difference([alone["embeddings"]["kohonen"]], [alone["embeddings"]["frozen"]])
    assert moved > 0.05


@pytest.mark.parametrize("batch_size", [None, 64])
def test_kohonen_som_batch_modes_on_two_workers(uninterrupted, batch_size):
    key = f"kohonen_{batch_size}"
    first, second, alone = (uninterrupted[name][key] for name in ("worker0", "worker1", "alone"))
    assert largest_difference([first["embedding"]], [second["embedding"]]) == 0.0
    assert largest_difference([first["embedding"]], [alone["embedding"]]) < TOLERANCE
    assert first["seen"] == second["seen"] == alone["seen"] == 3 * 1001


# -- a worker killed mid-training ------------------------------------------------------------


def killed_cluster(folder, **job):
    """Two workers, one killed with SIGKILL before step KILL_AT; returns (survivor, time from kill to failure)."""
    processes = cluster(folder, **BASE, kill_at=KILL_AT, kill_worker=KILLED_WORKER, **job)
    killed = processes[f"worker{KILLED_WORKER}"]
    survivor = processes[f"worker{1 - KILLED_WORKER}"]
    assert killed.popen.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert survivor.popen.returncode not in (0, None), survivor.stderr[-3000:]
    fail_after = survivor.ended - killed.ended
    (folder / "fail_after.json").write_text(json.dumps(fail_after))  # for the record
    return survivor, fail_after


@pytest.fixture(scope="module")
def crashed_with_checkpoints(folder):
    checkpoints = folder / "crash-checkpoints"
    survivor, fail_after = killed_cluster(folder / "crash", checkpoint_dir=str(checkpoints))
    restarted = cluster(folder / "restart", **BASE, checkpoint_dir=str(checkpoints))
    return survivor, fail_after, {name: p.result() for name, p in restarted.items()}


def last_checkpoint_before_the_kill():
    return KILL_AT // CHECKPOINT_EVERY * CHECKPOINT_EVERY


def test_a_lost_worker_is_a_clear_error_within_bounded_time(crashed_with_checkpoints):
    survivor, fail_after, _ = crashed_with_checkpoints
    assert fail_after < FAIL_WITHIN
    assert "WorkerLostError" in survivor.stderr
    resume = last_checkpoint_before_the_kill()
    assert f"training step {KILL_AT} failed: a worker died or cannot be reached" in survivor.stderr
    # The message gives TensorFlow's cause (a connection reset, a failed health check), not its opening line.
    assert re.search(
        r"WorkerLostError: .*\((UnavailableError|DeadlineExceededError): [^)]*(abort|down|connection)",
        survivor.stderr,
        re.I,
    )
    assert f"training resumes from step {resume}, the last checkpoint" in survivor.stderr


def test_the_restarted_job_resumes_and_ends_as_the_uninterrupted_run(crashed_with_checkpoints, uninterrupted):
    _, _, restarted = crashed_with_checkpoints
    reference = uninterrupted["worker0"]
    for run_ in restarted.values():
        assert run_["initial_step"] == last_checkpoint_before_the_kill()
        assert len(run_["loss"]) == STEPS - run_["initial_step"]
        assert largest_difference(run_["weights"], reference["weights"]) < TOLERANCE
        for mode in ("kohonen", "backprop", "frozen"):
            assert largest_difference([run_["embeddings"][mode]], [reference["embeddings"][mode]]) < TOLERANCE
        assert run_["samples_seen"]["kohonen"] == STEPS * 64
        # The steps after the checkpoint have the uninterrupted run's losses.
        assert largest_difference([run_["loss"]], [reference["loss"][run_["initial_step"] :]]) < TOLERANCE


def test_without_checkpoints_a_lost_worker_is_a_clear_error_never_a_hang(folder):
    survivor, fail_after = killed_cluster(folder / "crash-no-checkpoints")
    assert fail_after < FAIL_WITHIN
    assert "WorkerLostError" in survivor.stderr
    assert "No checkpoint_dir was given, so restarting the job begins again from step 0" in survivor.stderr
