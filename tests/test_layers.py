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
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    kwargs.setdefault("grid_shape", (3, 3))
    with pytest.raises(ValueError, match=name):
        SoftSOM(**kwargs)


def test_from_kohonen_needs_a_fitted_map():
    with pytest.raises(ValueError, match="som"):
        SoftSOM.from_kohonen(KohonenSOM((3, 3)), beta=1.0)
