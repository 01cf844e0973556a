"""Peer harnesses: Keras's own layer test, and TensorFlow SavedModel round trips in a fresh process.

``keras.src.testing.TestCase.run_layer_test`` is what Keras runs on its own
layers: serialisation (``get_config``/``from_config``, the revived layer's
attributes), build and symbolic calls, an eager call, a compiled training
step and a ``mixed_float16`` check (output in the compute dtype, float
weights in float32). Here for all three modes and inputs of rank 2 and 3.

``model.export()`` (a TF SavedModel for inference) and ``tf.saved_model.save``
of a model holding the layer are reloaded with ``tf.saved_model.load`` in a
new Python process, which does not import softsom, and called
there; the outputs must equal the original model's.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src import testing
from keras.src.backend import AutocastScope

from softsom import SoftSOM

MODES = ("kohonen", "backprop", "frozen")


class _Harness(testing.TestCase):
    def runTest(self):  # unittest needs a test method to make an instance
        pass


def run_layer_test(init_kwargs, input_shape, output_shape, trainable, non_trainable):
    """Keras' own layer checks on a SoftSOM built from ``init_kwargs``, with its expected weight counts."""
    harness = _Harness()
    harness.setUp()
    try:
        harness.run_layer_test(
            SoftSOM,
            init_kwargs=dict(grid_shape=(3, 4), beta=2.0, decay_samples=100, **init_kwargs),
            input_shape=input_shape,
            expected_output_shape=output_shape,
            expected_output_dtype="float32",
            expected_num_trainable_weights=trainable,
            expected_num_non_trainable_weights=non_trainable,
            expected_num_seed_generators=0,
            expected_num_losses=0,
            supports_masking=False,
            run_training_check=True,
            run_mixed_precision_check=True,
        )
    finally:
        harness.tearDown()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("input_shape, output_shape", [((4, 3), (4, 2)), ((2, 5, 3), (2, 5, 2))])
def test_keras_run_layer_test(mode, input_shape, output_shape):
    backprop = mode == "backprop"
    run_layer_test(dict(embedding_update=mode), input_shape, output_shape, 1 if backprop else 0, 1 if backprop else 2)


def test_the_embedding_is_not_autocast_under_mixed_precision():
    """Read inside the layer's autocast scope, the embedding stays float32 (as BatchNormalization's statistics)."""
    layer = SoftSOM((3, 3), dtype="mixed_bfloat16")
    layer.build((None, 3))
    with AutocastScope("bfloat16"):
        assert layer.embedding.dtype == "float32"
        assert tf.convert_to_tensor(layer.embedding).dtype == tf.float32
    assert layer(np.zeros((2, 3), "float32")).dtype == tf.bfloat16


# -- SavedModel round trips ------------------------------------------------------------------

LOAD = r"""
import json, sys
import numpy as np
import tensorflow as tf

folder = sys.argv[1]
x = np.load(f"{folder}/x.npy")
out = {}
for name in json.loads(sys.argv[2]):
    loaded = tf.saved_model.load(f"{folder}/{name}")
    if name.endswith("export"):
        y = loaded.serve(tf.constant(x))
    else:
        y = loaded.signatures["serving_default"](tf.constant(x))
        y = next(iter(y.values()))
    out[name] = float(np.abs(y.numpy() - np.load(f"{folder}/{name}.npy")).max())
modules = sorted(m for m in sys.modules if m.split(".")[0] in ("softsom", "keras"))
print(json.dumps({"differences": out, "modules": modules}))
"""


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """For every mode, a trained model holding the layer, saved by model.export and tf.saved_model.save."""
    folder = tmp_path_factory.mktemp("saved")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)).astype("float32")
    y = (X[:, 0] > 0).astype("int32")
    np.save(folder / "x.npy", X)
    names = []
    for mode in MODES:
        keras.utils.set_random_seed(0)
        inputs = keras.Input((3,))
        hidden = keras.layers.Dense(4, activation="tanh")(inputs)
        outputs = keras.layers.Dense(2)(SoftSOM((3, 3), beta=2.0, embedding_update=mode, decay_samples=100)(hidden))
        model = keras.Model(inputs, outputs)
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(X, y, batch_size=16, epochs=1, verbose=0)
        expected = model.predict(X, verbose=0)
        model.export(str(folder / f"{mode}-export"), verbose=False)
        serve = tf.function(lambda x, model=model: model(x, training=False))
        tf.saved_model.save(
            model,
            str(folder / f"{mode}-tf"),
            signatures=serve.get_concrete_function(tf.TensorSpec((None, 3), tf.float32)),
        )
        for name in (f"{mode}-export", f"{mode}-tf"):
            np.save(folder / f"{name}.npy", expected)
            names.append(name)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    run = subprocess.run(
        [sys.executable, "-c", LOAD, str(folder), json.dumps(names)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["export", "tf"])
def test_saved_model_reloads_and_runs_in_a_fresh_process(saved_models, mode, how):
    assert saved_models["differences"][f"{mode}-{how}"] < 1e-6


def test_the_fresh_process_did_not_need_softsom(saved_models):
    assert not [m for m in saved_models["modules"] if m.startswith("softsom")]


@pytest.mark.parametrize("beta_scale", ["absolute", "spacing"])
def test_keras_run_layer_test_with_a_trainable_beta(beta_scale):
    """A trainable beta is one more trainable weight, in every Keras check, for both beta scales."""
    run_layer_test(dict(beta_scale=beta_scale, trainable_beta=True), (4, 5), (4, 2), 1, 2)
