"""The SoftSOM Keras layer: modes, serialization, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from softsom import KohonenSOM
from softsom.layers import SoftSOM
from softsom.ops import soft_som


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 3)).astype("float32")
    y = (X[:, 0] * X[:, 1] > 0).astype("int32")
    return X, y


def model_with(layer, n=3):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((n,))
    hidden = keras.layers.Dense(4, activation="tanh", name="hidden")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(layer(hidden))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    return model


def test_output_is_the_op(data):
    X, _ = data
    layer = SoftSOM((3, 4), beta=2.5)
    out = layer(X)
    assert out.shape == (256, 2)
    expected = soft_som(X, layer.embedding, layer.grid.coords, 2.5)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-6)
    assert layer.compute_output_shape((None, 3)) == (None, 2)


def test_kohonen_mode_moves_embedding_by_the_rule_not_the_optimizer(data):
    X, y = data
    layer = SoftSOM((4, 4), beta=2.0, decay_samples=1000, name="som")
    model = model_with(layer)
    assert layer.trainable_weights == []
    before = layer.embedding.numpy().copy()
    hidden_before = model.get_layer("hidden").kernel.numpy().copy()
    model.fit(X, y, epochs=1, batch_size=32, verbose=0)
    assert layer.samples_seen.numpy() == len(X)
    assert not np.allclose(layer.embedding.numpy(), before)
    # Gradients flowed through the SOM to the layer below.
    assert not np.allclose(model.get_layer("hidden").kernel.numpy(), hidden_before)
    # Not updated at inference.
    after = layer.embedding.numpy().copy()
    model.predict(X, verbose=0)
    model(X, training=False)
    np.testing.assert_array_equal(layer.embedding.numpy(), after)


def test_kohonen_update_matches_the_rule_by_hand():
    layer = SoftSOM(
        (3,), beta=1.0, learning_rate=(0.5, 0.5), sigma=(1.0, 1.0), decay_samples=10, embedding_initializer="zeros"
    )
    layer.build((None, 1))
    layer.embedding.assign([[0.0], [1.0], [2.0]])
    x = np.array([[0.1], [1.9]], dtype="float32")
    layer(x, training=True)
    L = np.array([0.0, 1.0, 2.0])
    h = np.exp(-np.abs(np.arange(3)[None, :] - np.array([0, 2])[:, None]))  # winners 0 and 2
    expected = L + 0.5 / 2 * (h * (x - L[None, :])).sum(axis=0)
    np.testing.assert_allclose(layer.embedding.numpy()[:, 0], expected, rtol=1e-6)


def test_kohonen_update_is_kohonen_soms_mini_batch_step(data):
    """One rule, two users: a layer step equals a KohonenSOM mini-batch of the same inputs."""
    X, _ = data
    start = np.random.default_rng(1).normal(size=(12, 3)).astype("float32")
    settings = dict(learning_rate=(0.3, 0.3), sigma=(1.5, 1.5), neighbourhood="gaussian", decay_samples=100)
    layer = SoftSOM((3, 4), embedding_initializer=keras.initializers.Constant(start), **settings)
    layer(X, training=True)
    som = KohonenSOM((3, 4), mode="batch", batch_size=len(X), init=start, random_state=0, **settings)
    som.partial_fit(X)
    np.testing.assert_allclose(layer.embedding.numpy(), som.embedding_, atol=1e-5)
    assert layer.samples_seen.numpy() == som.n_samples_seen_ == len(X)


def test_kohonen_embedding_gets_no_gradient(data):
    X, _ = data
    layer = SoftSOM((3, 3), beta=1.0)
    x = tf.constant(X)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        out = tf.reduce_sum(layer(x) ** 2)
    assert tape.gradient(out, layer.embedding) is None
    assert np.any(tape.gradient(out, x).numpy() != 0)


def test_backprop_mode_trains_the_embedding(data):
    X, y = data
    layer = SoftSOM((3, 3), beta=2.0, embedding_update="backprop", name="som")
    model = model_with(layer)
    assert [w.name for w in layer.trainable_weights] == ["embedding"]
    before = layer.embedding.numpy().copy()
    model.fit(X, y, epochs=1, batch_size=32, verbose=0)
    assert not np.allclose(layer.embedding.numpy(), before)
    assert layer.samples_seen.numpy() == 0


def test_frozen_from_kohonen_keeps_the_fitted_map(data):
    X, y = data
    som = KohonenSOM((4, 4), random_state=0).fit(X)
    layer = SoftSOM.from_kohonen(som, beta=3.0)
    np.testing.assert_array_equal(layer.embedding.numpy(), som.embedding_)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(layer(inputs)))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(X, y, epochs=1, batch_size=32, verbose=0)
    np.testing.assert_array_equal(layer.embedding.numpy(), som.embedding_)
    # Large beta: the soft output approaches the hard one.
    sharp = SoftSOM.from_kohonen(som, beta=1e4)
    np.testing.assert_allclose(sharp(X).numpy(), som.transform(X), atol=1e-3)


@pytest.mark.parametrize("mode", ["kohonen", "backprop", "frozen"])
def test_keras_round_trip(data, tmp_path, mode):
    X, y = data
    layer = SoftSOM(
        (3, 4),
        beta=1.5,
        embedding_update=mode,
        neighbourhood="gaussian",
        sigma=(2.0, 0.5),
        decay_samples=500,
        name="som",
    )
    model = model_with(layer)
    model.fit(X, y, epochs=1, batch_size=64, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    loaded_layer = loaded.get_layer("som")
    np.testing.assert_array_equal(loaded_layer.embedding.numpy(), layer.embedding.numpy())
    assert loaded_layer.samples_seen.numpy() == layer.samples_seen.numpy()
    assert loaded_layer.get_config() == layer.get_config()


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(grid_shape=(0, 3)), "shape"),
        (dict(beta=0.0), "beta"),
        (dict(beta=float("nan")), "beta"),
        (dict(beta="1"), "beta"),
        (dict(embedding_update="sgd"), "embedding_update"),
        (dict(learning_rate=(0.1, 2.0)), "learning_rate"),
        (dict(sigma=(0.0, 1.0)), "sigma"),
        (dict(neighbourhood="box"), "neighbourhood"),
        (dict(decay_samples=0), "decay_samples"),
        (dict(beta_scale="relative"), "beta_scale"),
        (dict(grid_shape=(1,), beta_scale="spacing"), "beta_scale"),
        (dict(trainable_beta="yes"), "trainable_beta"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    kwargs.setdefault("grid_shape", (3, 3))
    with pytest.raises(ValueError, match=name):
        SoftSOM(**kwargs)


def test_from_kohonen_needs_a_fitted_map():
    with pytest.raises(ValueError, match="som"):
        SoftSOM.from_kohonen(KohonenSOM((3, 3)), beta=1.0)


# -- the Kohonen update under mixed precision, bad batches and trainable=False ---------------


def kohonen_step_float64(x, embedding, coords, eta, sigma):
    """One mini-batch Kohonen step written out in float64 (exponential neighbourhood)."""
    winners = np.argmin(((x[:, None, :] - embedding[None]) ** 2).sum(axis=2), axis=1)
    h = np.exp(-np.abs(coords[winners][:, None, :] - coords[None]).sum(axis=2) / sigma)
    return eta / len(x) * (h.T @ x - h.sum(axis=0)[:, None] * embedding)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("batch_shape", [(1,), (333,), (256, 300), (100_000,)], ids=lambda s: "x".join(map(str, s)))
def test_kohonen_step_under_mixed_precision_matches_float64(policy, batch_shape):
    """The update runs in the variable dtype and counts exactly: 1e-3 of the step, for 1 to 100 000 inputs.

    (Before: 17% of the step under bfloat16 for 333 inputs and a count of
    332; under float16 a count that overflowed to -2**63 from 70 000 inputs.)
    """
    rng = np.random.default_rng(sum(batch_shape))
    x = rng.normal(size=(*batch_shape, 3)).astype("float32")
    start = rng.normal(size=(9, 3)).astype("float32")
    layer = SoftSOM(
        (3, 3),
        learning_rate=(0.1, 0.1),
        sigma=(1.0, 1.0),
        decay_samples=10,
        embedding_initializer=keras.initializers.Constant(start),
        dtype=policy,
    )
    out = layer(x, training=True)
    assert out.dtype == layer.compute_dtype and layer.embedding.dtype == "float32"
    step = np.float64(layer.embedding.numpy()) - np.float64(start)
    # The layer sees the inputs in its compute dtype: so does the reference.
    seen = np.float64(tf.cast(x, layer.compute_dtype).numpy()).reshape(-1, 3)
    expected = kohonen_step_float64(seen, np.float64(start), np.float64(layer.grid.coords), 0.1, 1.0)
    assert np.abs(step - expected).max() <= 1e-3 * np.abs(expected).max()
    assert layer.samples_seen.numpy() == np.prod(batch_shape)
    assert np.all(np.isfinite(layer.embedding.numpy()))


def step_in_a_graph(layer):
    return tf.function(lambda x: layer(x, training=True))


def test_non_finite_rows_never_reach_the_embedding():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    bad = x.copy()
    bad[[3, 17]] = np.nan
    bad[40, 1] = np.inf
    bad[41, 0] = -np.inf
    bad[50, 2] = 1e30  # finite, but its squared distances would overflow float32
    layers = [SoftSOM((3, 3), embedding_initializer="zeros", decay_samples=100) for _ in range(2)]
    for layer in layers:
        layer.build((None, 3))
        layer.embedding.assign(rng.normal(size=(9, 3)))
    layers[1].embedding.assign(layers[0].embedding)
    # In a graph, as in Model.fit (eagerly the op rejects NaN inputs before anything).
    out = step_in_a_graph(layers[0])(tf.constant(bad)).numpy()
    step_in_a_graph(layers[1])(tf.constant(np.delete(x, [3, 17, 40, 41, 50], axis=0)))
    np.testing.assert_allclose(layers[0].embedding.numpy(), layers[1].embedding.numpy(), atol=1e-6)
    assert layers[0].samples_seen.numpy() == 59
    assert layers[0].skipped_inputs.result().numpy() == 5
    # What the op gives for them: NaN in their own rows only.
    assert (
        np.isnan(out[[3, 17, 40, 41]]).all(axis=1).all()
        and np.isfinite(np.delete(out, [3, 17, 40, 41, 50], axis=0)).all()
    )


def test_a_nan_row_in_fit_leaves_the_map_finite_and_shows_in_the_logs(data):
    X, y = data
    X = X.copy()
    X[5, 0] = np.nan
    inputs = keras.Input((3,))
    layer = SoftSOM((3, 3), decay_samples=500, name="som")
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(layer(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = layer.embedding.numpy().copy()
    history = model.fit(X, y, epochs=2, batch_size=32, shuffle=False, verbose=0)
    embedding = layer.embedding.numpy()
    assert np.all(np.isfinite(embedding)) and not np.allclose(embedding, before)
    assert layer.samples_seen.numpy() == 2 * (len(X) - 1)
    assert history.history["som_skipped_inputs"] == [1, 1]  # reset every epoch, as Keras metrics are


def test_all_rows_non_finite_moves_nothing():
    layer = SoftSOM((3, 3), decay_samples=100)
    layer.build((None, 3))
    before = layer.embedding.numpy().copy()
    step_in_a_graph(layer)(tf.fill((5, 3), np.nan))
    np.testing.assert_array_equal(layer.embedding.numpy(), before)
    assert layer.samples_seen.numpy() == 0 and layer.skipped_inputs.result().numpy() == 5


def test_trainable_false_stops_the_kohonen_update(data):
    X, y = data
    layer = SoftSOM((3, 3), decay_samples=500, name="som")
    model = model_with(layer)
    layer.trainable = False
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = layer.embedding.numpy().copy()
    hidden_before = model.get_layer("hidden").kernel.numpy().copy()
    model.fit(X, y, epochs=1, batch_size=32, verbose=0)
    np.testing.assert_array_equal(layer.embedding.numpy(), before)
    assert layer.samples_seen.numpy() == 0
    assert not np.allclose(model.get_layer("hidden").kernel.numpy(), hidden_before)  # the rest still trains
    hidden = model.get_layer("hidden")(X)
    layer(hidden, training=True)
    np.testing.assert_array_equal(layer.embedding.numpy(), before)
    layer.trainable = True
    layer(hidden, training=True)
    assert layer.samples_seen.numpy() == len(X)


def test_beta_at_the_top_of_float32_gives_finite_outputs(data):
    X, _ = data
    layer = SoftSOM((3, 3), beta=3e38)
    assert np.all(np.isfinite(layer(X).numpy()))


def median_edge_length(layer):
    embedding = layer.embedding.numpy().astype(np.float64)
    edges = layer.grid.edges()
    return float(np.median(np.linalg.norm(embedding[edges[:, 0]] - embedding[edges[:, 1]], axis=1)))


def test_spacing_beta_is_beta_over_the_median_edge_length(data):
    X, _ = data
    layer = SoftSOM((4, 5), beta=3.0, beta_scale="spacing")
    layer.build((None, 3))
    spacing = median_edge_length(layer)
    np.testing.assert_allclose(layer.effective_beta().numpy(), 3.0 / spacing, rtol=1e-6)
    expected = soft_som(X, layer.embedding, layer.grid.coords, 3.0 / spacing)
    np.testing.assert_allclose(layer(X).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_spacing_beta_makes_the_output_independent_of_the_input_scale(data):
    """Inputs and map scaled together by 1000: the same output with beta_scale="spacing", not with "absolute"."""
    X, _ = data
    embedding = np.random.default_rng(1).uniform(-1.0, 1.0, size=(16, 3)).astype("float32")
    outputs = {}
    for scale_kind in ("absolute", "spacing"):
        for factor in (1.0, 1000.0):
            layer = SoftSOM((4, 4), beta=2.0, beta_scale=scale_kind, embedding_update="frozen")
            layer.build((None, 3))
            layer.embedding.assign(embedding * factor)
            outputs[scale_kind, factor] = layer(X * factor).numpy()
    np.testing.assert_allclose(outputs["spacing", 1.0], outputs["spacing", 1000.0], atol=1e-4)
    assert np.abs(outputs["absolute", 1.0] - outputs["absolute", 1000.0]).max() > 0.1


def test_a_map_of_zero_spacing_gives_a_huge_finite_beta_and_finite_outputs(data):
    X, _ = data
    layer = SoftSOM((3, 3), beta_scale="spacing", embedding_initializer="zeros")
    layer.build((None, 3))
    assert layer.effective_beta().numpy() == np.float32(1.0) / np.finfo(np.float32).tiny
    np.testing.assert_allclose(layer(X).numpy(), np.tile(layer.grid.coords.mean(axis=0), (len(X), 1)), atol=1e-6)


@pytest.mark.parametrize("mode", ["kohonen", "backprop", "frozen"])
def test_trainable_beta_is_learned_and_saved(data, tmp_path, mode):
    X, y = data
    layer = SoftSOM((3, 4), beta=1.5, embedding_update=mode, trainable_beta=True, decay_samples=500, name="som")
    model = model_with(layer)
    assert any(weight is layer.log_beta for weight in model.trainable_weights)
    np.testing.assert_allclose(layer.effective_beta().numpy(), 1.5, rtol=1e-6)
    model.fit(X, y, epochs=2, batch_size=64, verbose=0)
    assert layer.effective_beta().numpy() != pytest.approx(1.5, rel=1e-6)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.get_layer("som").log_beta.numpy(), layer.log_beta.numpy())
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert loaded.get_layer("som").get_config() == layer.get_config()


def test_the_gradient_with_respect_to_log_beta_is_the_ops(data):
    """d output / d log_beta = beta * d output / d beta, the op's own gradient."""
    X, _ = data
    layer = SoftSOM((3, 3), beta=2.0, trainable_beta=True, embedding_update="frozen")
    layer.build((None, 3))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(layer(X[:16]))
    by_layer = tape.gradient(total, layer.log_beta).numpy()
    beta = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(soft_som(X[:16], layer.embedding, layer.grid.coords, beta))
    np.testing.assert_allclose(by_layer, 2.0 * tape.gradient(total, beta).numpy(), rtol=1e-5)
