"""Training under tf.distribute.MirroredStrategy over two logical CPUs matches one device.

(Several worker processes, MultiWorkerMirroredStrategy: tests/test_multiworker.py.)

Logical devices must be configured before TensorFlow initialises, so the
distributed runs happen in a subprocess (``SCRIPT``, run by
:func:`tests.two_cpus.run_on_two_cpus`), which prints its measurements as
JSON; the tests below check them. Every run in the script is
paired with the same run on one device (no strategy).
"""

import pytest

from tests.two_cpus import run_on_two_cpus

SCRIPT = r'''
import contextlib
import json

import keras  # noqa: E402  (after the device configuration)

from softsom import KohonenSOM  # noqa: E402
from softsom.layers import SoftSOM  # noqa: E402

rng = np.random.default_rng(0)
X = rng.normal(size=(256, 3)).astype("float32")
y = (X[:, 0] * X[:, 1] > 0).astype("int32")
results = {"replicas": strategy.num_replicas_in_sync}


def largest_difference(a, b):
    return float(max(np.abs(np.float64(u) - np.float64(v)).max() for u, v in zip(a, b)))


def keras_run(mode, distribute):
    """Weights, per-epoch losses and the SOM layer after model.fit (same global batches)."""
    keras.utils.set_random_seed(0)
    with strategy.scope() if distribute else contextlib.nullcontext():
        inputs = keras.Input((3,))
        hidden = keras.layers.Dense(4, activation="tanh")(inputs)
        layer = SoftSOM((3, 3), beta=2.0, embedding_update=mode, decay_samples=500, name="som")
        outputs = keras.layers.Dense(2, activation="softmax")(layer(hidden))
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    initial = layer.embedding.numpy().copy()
    history = model.fit(X, y, batch_size=64, epochs=2, shuffle=False, verbose=0)
    return model.get_weights(), history.history["loss"], layer, initial


for mode in ("kohonen", "backprop", "frozen"):
    (one_weights, one_loss, one_layer, initial), (two_weights, two_loss, two_layer, _) = (
        keras_run(mode, distribute) for distribute in (False, True))
    copies = [c.numpy() for c in strategy.experimental_local_results(two_layer.embedding.value)]
    results[mode] = {
        "weights": largest_difference(one_weights, two_weights),
        "loss": largest_difference([one_loss], [two_loss]),
        "embedding": largest_difference([one_layer.embedding.numpy()], [two_layer.embedding.numpy()]),
        "embedding_moved": largest_difference([one_layer.embedding.numpy()], [initial]),
        "copies_differ": largest_difference(copies[:1], copies[1:]),
        "samples_seen": [int(one_layer.samples_seen.numpy()), int(two_layer.samples_seen.numpy())],
    }

# Drift: each replica sees its own, very different, shard of one global batch.
shards = [np.array([[3.0, 3.1], [2.9, 3.0]], "float32"), np.array([[-3.0, -2.9], [-3.1, -3.0]], "float32")]
start = np.linspace(-1.0, 1.0, 18, dtype="float32").reshape(9, 2)


def kohonen_layer(distribute):
    with strategy.scope() if distribute else contextlib.nullcontext():
        layer = SoftSOM((3, 3), learning_rate=(0.5, 0.5), sigma=(1.0, 1.0), decay_samples=10)
        layer.build((None, 2))
    layer.embedding.assign(start)
    return layer


mirrored = kohonen_layer(True)
inputs = strategy.experimental_distribute_values_from_function(
    lambda context: tf.constant(shards[context.replica_id_in_sync_group]))
tf.function(lambda x: strategy.run(lambda shard: mirrored(shard, training=True), args=(x,)))(inputs)
alone = {}
for name, batch in (("global", np.concatenate(shards)), ("first", shards[0]), ("second", shards[1])):
    layer = kohonen_layer(False)
    layer(batch, training=True)
    alone[name] = layer.embedding.numpy()
copies = [c.numpy() for c in strategy.experimental_local_results(mirrored.embedding.value)]
results["drift"] = {
    "vs_global": largest_difference(copies, [alone["global"]] * 2),
    "vs_first_shard": largest_difference([copies[0]], [alone["first"]]),
    "vs_second_shard": largest_difference([copies[0]], [alone["second"]]),
    "samples_seen": int(mirrored.samples_seen.numpy()),
}

# A NaN row in one replica's shard: left out there; every other row still counts.
nan_shards = [shards[0].copy(), shards[1]]
nan_shards[0][0, 0] = np.nan
guarded = kohonen_layer(True)
inputs = strategy.experimental_distribute_values_from_function(
    lambda context: tf.constant(nan_shards[context.replica_id_in_sync_group]))
tf.function(lambda x: strategy.run(lambda shard: guarded(shard, training=True), args=(x,)))(inputs)
finite_rows = kohonen_layer(False)
finite_rows(np.concatenate([nan_shards[0][1:], nan_shards[1]]), training=True)
copies = [c.numpy() for c in strategy.experimental_local_results(guarded.embedding.value)]
results["nan_row"] = {
    "vs_finite_rows": largest_difference(copies, [finite_rows.embedding.numpy()] * 2),
    "finite": bool(np.all(np.isfinite(copies))),
    "samples_seen": int(guarded.samples_seen.numpy()),
    "skipped": int(guarded.skipped_inputs.result().numpy()),
}

# KohonenSOM's batch modes: strategy given, or found from the scope fit is called in.
data = rng.normal(size=(1001, 5))
for batch_size in (None, 64):
    settings = dict(mode="batch", batch_size=batch_size, random_state=0)
    one = KohonenSOM((5, 6), **settings, epochs=3).fit(data)
    two = KohonenSOM((5, 6), strategy=strategy, **settings, epochs=3).fit(data)
    with strategy.scope():
        scoped = KohonenSOM((5, 6), **settings, epochs=3).fit(data)
    results[f"kohonen_batch_{batch_size}"] = {
        "strategy": largest_difference([one.embedding_], [two.embedding_]),
        "scope": largest_difference([one.embedding_], [scoped.embedding_]),
        "moved": largest_difference([one.embedding_], [KohonenSOM((5, 6), **settings).initialize(data).embedding_]),
        "samples_seen": [one.n_samples_seen_, two.n_samples_seen_],
    }
print("RESULTS" + json.dumps(results))
'''


@pytest.fixture(scope="module")
def measured():
    return run_on_two_cpus(SCRIPT, timeout=300)


def test_two_replicas(measured):
    assert measured["replicas"] == 2


@pytest.mark.parametrize("mode", ["kohonen", "backprop", "frozen"])
def test_keras_fit_matches_one_device(measured, mode):
    run = measured[mode]
    assert run["weights"] < 1e-5, run
    assert run["loss"] < 1e-5, run
    assert run["copies_differ"] == 0.0, run


def test_kohonen_mode_embedding_and_count_match_one_device(measured):
    run = measured["kohonen"]
    assert run["embedding_moved"] > 1e-2, run  # the rule did move it
    assert run["embedding"] < 1e-6, run
    assert run["samples_seen"] == [2 * 256, 2 * 256], run


def test_other_modes_leave_the_count_alone(measured):
    assert measured["backprop"]["samples_seen"] == [0, 0]
    assert measured["frozen"]["samples_seen"] == [0, 0]
    assert measured["frozen"]["embedding_moved"] == 0.0


def test_kohonen_update_combines_the_replicas_shards(measured):
    """Shards near (3, 3) and (-3, -3): the update is that of both, on both replicas."""
    drift = measured["drift"]
    assert drift["vs_global"] < 1e-6, drift
    # Either shard alone would move the map quite differently.
    assert drift["vs_first_shard"] > 0.1 and drift["vs_second_shard"] > 0.1, drift
    assert drift["samples_seen"] == 4


def test_a_nan_row_on_one_replica_is_left_out_of_the_global_update(measured):
    run = measured["nan_row"]
    assert run["finite"] and run["vs_finite_rows"] < 1e-6, run
    assert run["samples_seen"] == 3 and run["skipped"] == 1, run


@pytest.mark.parametrize("batch_size", [None, 64])
def test_kohonen_som_batch_modes_match_one_device(measured, batch_size):
    run = measured[f"kohonen_batch_{batch_size}"]
    assert run["moved"] > 0.1, run
    assert run["strategy"] < 1e-5, run
    assert run["scope"] < 1e-5, run
    assert run["samples_seen"] == [3 * 1001, 3 * 1001], run
