"""The soft SOM as a Keras layer: a self-organizing map inside a neural network."""

from __future__ import annotations

import keras
import tensorflow as tf

from ._kohonen_tf import NEIGHBOURHOODS, sum_over_replicas, tf_decay, tf_kohonen_increment, tf_neighbourhood_sums
from ._validation import check_pair, check_positive_int, check_positive_number
from .grid import Grid
from .ops import soft_som

__all__ = ["SoftSOM"]

EMBEDDING_UPDATES = ("kohonen", "backprop", "frozen")


@keras.saving.register_keras_serializable(package="softsom")
class SoftSOM(keras.layers.Layer):
    """Maps ``[..., n]`` inputs to ``[..., m]`` soft grid coordinates with :func:`soft_som`.

    A ``keras.layers.Layer``, registered with Keras as ``"softsom>SoftSOM"``
    when ``softsom`` is imported, so that saved models load with
    ``keras.models.load_model``.

    ``Output(p) = sum_v g_v softmax_v(-beta ||p - l_v||)``: ``g_v`` are the
    coordinates of a grid of shape ``grid_shape`` (m axes), ``l_v`` the
    layer's ``embedding`` weight ``[K, n]``. Gradients always flow to the
    layer's input; what happens to the embedding depends on ``embedding_update``:

    ``"kohonen"`` (the paper's way)
        The embedding is a non-trainable weight, a constant for
        backpropagation. During training (``training=True``, as in
        ``Model.fit``) every batch updates it by the mini-batch Kohonen rule
        from the inputs the layer sees: each input's winner ``w_b`` is its
        nearest node, and ``l_v += eta(t)/B * sum_b h(d(w_b, v), sigma(t)) (x_b - l_v)``,
        the mean of the online updates of the batch. ``eta`` and ``sigma``
        decay geometrically with the number ``t`` of inputs seen, over
        ``decay_samples``. Never updated at inference.
    ``"backprop"``
        The embedding is a trainable weight, moved by the optimizer (an
        extension beyond the paper).
    ``"frozen"``
        Fixed, e.g. a map fitted beforehand: see :meth:`from_kohonen`.

    All three modes train under a :mod:`tf.distribute` strategy (``Model.fit``
    in ``strategy.scope()``). In ``"kohonen"`` mode each replica sees its shard
    of the global batch; the update's per-node sums and the input count are
    summed over the replicas (an all-reduce) before the step, so every replica
    applies the update of the whole global batch, the embedding stays the same
    on all of them, and ``samples_seen`` counts the inputs of all replicas.
    The result matches training on one device, up to the order of the float32
    additions (checked with ``MirroredStrategy`` over two logical CPUs, for
    all three modes). Across machines, ``MultiWorkerMirroredStrategy`` (one
    ``TF_CONFIG`` per worker) goes through the same all-reduce, but that has
    not been tried on several machines.

    Parameters
    ----------
    grid_shape : tuple of int
        Shape of the grid (see :class:`~softsom.Grid`).
    beta : float, default 1.0
        Inverse temperature, positive.
    embedding_update : {"kohonen", "backprop", "frozen"}, default "kohonen"
    learning_rate : (float, float), default (0.1, 0.01)
        Start and end of the Kohonen learning rate, each in (0, 1].
    sigma : (float, float) or None
        Start and end of the Kohonen radius in graph-distance units; None
        means ``(max(1, max(grid_shape) / 4), 0.5)`` as in :class:`~softsom.KohonenSOM`.
    neighbourhood : {"exponential", "gaussian"}, default "exponential"
    decay_samples : int, default 100_000
        Inputs over which the Kohonen schedules decay.
    embedding_initializer : keras initializer, default ``RandomUniform(-1, 1)``
    """

    def __init__(
        self,
        grid_shape,
        beta=1.0,
        embedding_update="kohonen",
        learning_rate=(0.1, 0.01),
        sigma=None,
        neighbourhood="exponential",
        decay_samples=100_000,
        embedding_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.grid = Grid(grid_shape)
        if embedding_update not in EMBEDDING_UPDATES:
            raise ValueError(f"embedding_update must be one of {EMBEDDING_UPDATES}; got {embedding_update!r}")
        if neighbourhood not in NEIGHBOURHOODS:
            raise ValueError(f"neighbourhood must be one of {NEIGHBOURHOODS}; got {neighbourhood!r}")
        default_sigma = (max(1.0, max(self.grid.shape) / 4), 0.5)
        self.beta = check_positive_number("beta", beta)
        self.embedding_update = embedding_update
        self.learning_rate = check_pair("learning_rate", learning_rate, upper=1.0)
        self.sigma = check_pair("sigma", default_sigma if sigma is None else sigma)
        self.neighbourhood = neighbourhood
        self.decay_samples = check_positive_int("decay_samples", decay_samples)
        self.embedding_initializer = keras.initializers.get(
            embedding_initializer or keras.initializers.RandomUniform(-1.0, 1.0)
        )

    @classmethod
    def from_kohonen(cls, som, beta, **kwargs):
        """A ``"frozen"`` layer holding the embedding of a fitted :class:`~softsom.KohonenSOM`."""
        if not hasattr(som, "embedding_"):
            raise ValueError("som must be a fitted KohonenSOM (call fit first)")
        layer = cls(som.grid_.shape, beta=beta, embedding_update="frozen", **kwargs)
        layer.build((None, som.n_features_in_))
        layer.embedding.assign(som.embedding_)
        return layer

    def build(self, input_shape):
        if len(input_shape) == 0:
            raise ValueError("SoftSOM inputs must have rank >= 1 [..., n]; got a scalar")
        n = input_shape[-1]
        if n is None:
            raise ValueError(f"SoftSOM needs a known feature dimension; got input shape {input_shape}")
        # The Kohonen rule's variables are updated in replica context, every
        # replica computing the same update from all replicas' sums: the first
        # replica's is written to every copy.
        kohonen = self.embedding_update == "kohonen"
        self.embedding = self.add_weight(
            name="embedding",
            shape=(self.grid.size, n),
            initializer=self.embedding_initializer,
            trainable=self.embedding_update == "backprop",
            aggregation="only_first_replica" if kohonen else "none",
        )
        # Inputs shown to the Kohonen rule so far: the t of its schedules.
        self.samples_seen = self.add_weight(
            name="samples_seen",
            shape=(),
            initializer="zeros",
            dtype="int64",
            trainable=False,
            aggregation="only_first_replica",
        )
        self.coords = tf.constant(self.grid.coords)

    def call(self, inputs, training=None):
        if not inputs.dtype.is_floating:
            raise ValueError(f"SoftSOM inputs must be floating point; got dtype {inputs.dtype.name}")
        embedding = self.embedding
        if self.embedding_update != "backprop":
            embedding = tf.stop_gradient(embedding)
        outputs = soft_som(inputs, embedding, tf.cast(self.coords, inputs.dtype), self.beta)
        if training and self.embedding_update == "kohonen":
            self._kohonen_update(tf.stop_gradient(inputs))
        return outputs

    def _kohonen_update(self, inputs):
        """One mini-batch Kohonen step from ``inputs``, over the inputs of all replicas."""
        x = tf.reshape(tf.cast(inputs, self.embedding.dtype), (-1, self.embedding.shape[1]))
        embedding = tf.convert_to_tensor(self.embedding)
        t = self.samples_seen
        schedule = tf.constant(self.learning_rate, tf.float64), tf.constant(self.sigma, tf.float64)
        eta = tf_decay(schedule[0], t, self.decay_samples, embedding.dtype)
        sigma = tf_decay(schedule[1], t, self.decay_samples, embedding.dtype)
        weighted, weights = tf_neighbourhood_sums(
            x, embedding, tf.cast(self.coords, embedding.dtype), sigma, self.neighbourhood == "gaussian"
        )
        # The count in the embedding's float dtype, to be all-reduced with the sums.
        count = tf.cast(tf.shape(x)[0], embedding.dtype)
        weighted, weights, count = sum_over_replicas([weighted, weights, count])
        self.embedding.assign_add(tf_kohonen_increment(embedding, weighted, weights, count, eta))
        self.samples_seen.assign_add(tf.cast(count, tf.int64))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.grid.dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            grid_shape=self.grid.shape,
            beta=self.beta,
            embedding_update=self.embedding_update,
            learning_rate=self.learning_rate,
            sigma=self.sigma,
            neighbourhood=self.neighbourhood,
            decay_samples=self.decay_samples,
            embedding_initializer=keras.initializers.serialize(self.embedding_initializer),
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["embedding_initializer"] = keras.initializers.deserialize(config["embedding_initializer"])
        return cls(**config)
