"""The soft SOM as a Keras layer: a self-organizing map inside a neural network."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ._kohonen_tf import NEIGHBOURHOODS, sum_over_replicas, tf_decay, tf_kohonen_increment, tf_neighbourhood_sums
from ._validation import FLOAT32, check_pair, check_positive_int, check_positive_number
from .grid import Grid
from .ops import PRECISIONS, soft_som

__all__ = ["SoftSOM"]

EMBEDDING_UPDATES = ("kohonen", "backprop", "frozen")
BETA_SCALES = ("absolute", "spacing")
# The smallest Kohonen radius: sigma**2 (the Gaussian neighbourhood's
# denominator) stays a normal float32 number.
SMALLEST_SIGMA = 1e-18


@keras.saving.register_keras_serializable(package="softsom")
class SoftSOM(keras.layers.Layer):
    """Maps ``[..., n]`` inputs to ``[..., m]`` soft grid coordinates with :func:`soft_som`.

    A ``keras.layers.Layer``, registered with Keras as ``"softsom>SoftSOM"``
    when ``softsom`` is imported, so that saved models load with
    ``keras.models.load_model``.

    ``Output(p) = sum_v g_v softmax_v(-beta ||p - l_v||)``: ``g_v`` are the
    coordinates (``grid.coords``, ``[K, m]``) of the layer's grid
    ``Grid(grid_shape, topology, periodic)``, ``l_v`` the layer's
    ``embedding`` weight ``[K, n]``. The output width m is ``grid.dim``: the
    number of axes of ``grid_shape``, plus one for every periodic axis, whose
    nodes' coordinates lie on a circle so that the soft mean has no seam (see
    :class:`~softsom.Grid`). Gradients always flow to the
    layer's input; what happens to the embedding depends on ``embedding_update``:

    ``"kohonen"`` (the slides' design, as this library reads it)
        The embedding is a non-trainable weight, a constant for
        backpropagation. During training (``training=True``, as in
        ``Model.fit``) every batch updates it by the mini-batch Kohonen rule
        from the inputs the layer sees: each input's winner ``w_b`` is its
        nearest node, ``d`` the grid's hop distance, and
        ``l_v += eta(t)/B * sum_b h(d(w_b, v), sigma(t)) (x_b - l_v)``,
        the mean of the online updates of the batch. ``eta`` and ``sigma``
        decay geometrically with the number ``t`` of inputs seen, over
        ``decay_samples``. Never updated at inference, nor while the layer's
        ``trainable`` is False (as for ``BatchNormalization``'s statistics;
        like any change of ``trainable``, it takes effect when the training
        step is traced again, e.g. after ``Model.compile``).
    ``"backprop"``
        The embedding is a trainable weight, moved by the optimizer (an
        extension beyond the slides).
    ``"frozen"``
        Fixed, e.g. a map fitted beforehand: see :meth:`from_kohonen`.

    **The Kohonen update's arithmetic.** The update runs in the embedding's
    variable dtype (float32, also under the ``mixed_float16`` and
    ``mixed_bfloat16`` policies: the embedding is created with
    ``autocast=False``, as ``BatchNormalization`` creates its statistics),
    whatever dtype the inputs arrive in: the inputs are cast to it (at least
    float32), the winners are found in it, the neighbourhood sums are
    accumulated in float64 and the step is applied in the variable dtype.
    ``samples_seen`` counts in int64, exactly. One step agrees with a float64
    evaluation of the rule on the same inputs to 1e-3 of the step for batches
    of 1 to 100 000 inputs and more (tested).

    **Non-finite inputs.** An input row (one vector of ``n`` values) holding
    NaN or infinity, or a value beyond the range :mod:`softsom.ops`
    guarantees (squared distances that would overflow: about 4.6e18 /
    sqrt(n) in float32), never reaches the embedding: the update leaves it out
    (the other rows of the batch still count), ``samples_seen`` does not
    count it, and the layer's metric ``skipped_inputs`` (a
    ``keras.metrics.Sum`` named ``"<layer name>_skipped_inputs"``, shown in
    ``Model.fit``'s logs and reset with the other metrics every epoch) adds
    it up. Its output is what :func:`soft_som` gives for it: NaN in that
    row's output (or a ``ValueError`` when the values are known when the
    layer is called eagerly).

    **Distribution.** All three modes train under a :mod:`tf.distribute`
    strategy: ``Model.fit`` in the scope of a ``MirroredStrategy`` (one
    machine), and, across machines or processes,
    ``MultiWorkerMirroredStrategy`` with a custom training loop
    (:func:`softsom.distribute.train`; under Keras 3, ``Model.fit`` fails with
    that strategy, keras-team/keras#20585). In ``"kohonen"`` mode each replica
    sees its shard of the global batch; the update's per-node sums and the
    input count are summed over all replicas of all workers (an all-reduce)
    before the step, so every replica applies the update of the whole global
    batch, the embedding stays identical on all of them, and ``samples_seen``
    counts the inputs of all replicas. The result matches training on one
    device on the same global batches, up to the order of the additions
    (tested with ``MirroredStrategy`` over two logical CPUs and with two
    ``MultiWorkerMirroredStrategy`` workers on one machine, for all three
    modes).

    Parameters
    ----------
    grid_shape : tuple of int
        Shape of the grid (see :class:`~softsom.Grid`).
    beta : float, default 1.0
        Inverse temperature: positive, and within the range of the
        computation dtype (float32 unless the layer's dtype is float64), so
        that it rounds neither to 0 nor to infinity there. It has units of
        one over distance in the layer's input space: with
        ``beta_scale="absolute"`` it is used as given, so it must change
        inversely with the scale of the inputs; with ``beta_scale="spacing"``
        it is a number of node spacings. Chapter 4's section "How to choose
        beta" of the book measures what works.
    beta_scale : {"absolute", "spacing"}, default "absolute"
        ``"spacing"``: the op is given ``beta / s``, with ``s`` the median
        length, in input space, of the grid's edges in the current embedding
        (the distance between grid neighbours' embeddings), recomputed at
        every call and held constant for backpropagation. The map's
        sharpness then stays the same when the inputs, and the map with
        them, are scaled by any factor. Needs at least two nodes. Where
        every edge has length 0 (all nodes at one point), the spacing is
        taken as the dtype's smallest normal number: the effective beta is
        huge but finite.
    trainable_beta : bool, default False
        Make beta a trainable weight, ``log_beta`` (its logarithm, so that it
        stays positive), started at ``beta`` and moved by the optimizer
        through the op's gradient with respect to beta, in any
        ``embedding_update`` mode. With ``beta_scale="spacing"`` the trained
        value is the number of node spacings.
    embedding_update : {"kohonen", "backprop", "frozen"}, default "kohonen"
    learning_rate : (float, float), default (0.1, 0.01)
        Start and end of the Kohonen learning rate, each in [1.2e-38, 1]
        (float32's smallest normal number: a smaller rate would round to 0).
    sigma : (float, float) or None
        Start and end of the Kohonen radius in graph-distance units, each in
        [1e-18, 3.4e38] (so that ``sigma**2`` fits float32); None means
        ``(max(1, max(grid_shape) / 4), 0.5)`` as in :class:`~softsom.KohonenSOM`.
    neighbourhood : {"exponential", "gaussian"}, default "exponential"
    decay_samples : int, default 100_000
        Inputs over which the Kohonen schedules decay, at most ``2**63 - 1``.
    embedding_initializer : keras initializer, default ``RandomUniform(-1, 1)``
    precision : {"fast", "highest"}, default "fast"
        The path of :func:`~softsom.soft_som` the layer calls: ``"fast"``
        computes in the layer's computation dtype (no float64, for GPUs and
        TPUs), ``"highest"`` forms the distance differences in float64 (see
        :func:`~softsom.soft_som` for the accuracy of each). Saved by
        ``get_config``.
    topology : {"rectangular", "hexagonal"}, default "rectangular"
        The grid's lattice (see :class:`~softsom.Grid`: a hexagonal grid
        needs a 2-D ``grid_shape``). Saved by ``get_config``.
    periodic : bool or tuple of bool, default False
        Which axes of the grid wrap around (True: all, a torus). Saved by
        ``get_config``.

    Raises
    ------
    ValueError
        From the constructor, naming the argument, for any argument out of
        its range. When called, for inputs that are not a dense floating-point
        tensor of rank >= 1 (ragged, sparse, string, integer or object
        inputs, or ragged nested lists), and for an input width other than the
        embedding's ``n`` when the width is known when the call is traced.
    tf.errors.InvalidArgumentError
        At run time, for an input width only known then (a ``tf.function``
        with an unknown last dimension), before anything is updated: a
        failing call changes neither the embedding nor ``samples_seen``.
        (Under XLA, ``jit_compile=True``, every shape is known when the step
        is compiled, so the ``ValueError`` applies instead.)
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
        precision="fast",
        beta_scale="absolute",
        trainable_beta=False,
        topology="rectangular",
        periodic=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.grid = Grid(grid_shape, topology=topology, periodic=periodic)
        if not isinstance(precision, str) or precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
        self.precision = precision
        if not isinstance(embedding_update, str) or embedding_update not in EMBEDDING_UPDATES:
            raise ValueError(f"embedding_update must be one of {EMBEDDING_UPDATES}; got {embedding_update!r}")
        if not isinstance(neighbourhood, str) or neighbourhood not in NEIGHBOURHOODS:
            raise ValueError(f"neighbourhood must be one of {NEIGHBOURHOODS}; got {neighbourhood!r}")
        default_sigma = (max(1.0, max(self.grid.shape) / 4), 0.5)
        self.beta = check_positive_number("beta", beta)
        # beta must survive the cast to the op's computation dtype (float32
        # unless the layer computes in float64): 1e39 would be infinity there.
        limits = np.finfo(np.float64 if self.compute_dtype == "float64" else np.float32)
        if not float(limits.tiny) <= self.beta <= float(limits.max):
            raise ValueError(
                f"beta must be between {limits.tiny:.3g} and {limits.max:.3g} to fit the layer's computation dtype "
                f"{limits.dtype}; got {beta!r}"
            )
        if not isinstance(beta_scale, str) or beta_scale not in BETA_SCALES:
            raise ValueError(f"beta_scale must be one of {BETA_SCALES}; got {beta_scale!r}")
        if beta_scale == "spacing" and self.grid.size < 2:
            raise ValueError(
                f"beta_scale='spacing' needs a grid of at least two nodes (it measures their spacing); "
                f"got grid_shape {self.grid.shape}"
            )
        self.beta_scale = beta_scale
        if not isinstance(trainable_beta, (bool, np.bool_)):
            raise ValueError(f"trainable_beta must be True or False; got {trainable_beta!r}")
        self.trainable_beta = bool(trainable_beta)
        self.embedding_update = embedding_update
        self.learning_rate = check_pair("learning_rate", learning_rate, upper=1.0, lower=float(FLOAT32.tiny))
        self.sigma = check_pair("sigma", default_sigma if sigma is None else sigma, lower=SMALLEST_SIGMA)
        self.neighbourhood = neighbourhood
        self.decay_samples = check_positive_int("decay_samples", decay_samples)
        if self.decay_samples > np.iinfo(np.int64).max:
            raise ValueError(
                f"decay_samples must be at most 2**63 - 1 (an int64, as samples_seen); got {decay_samples!r}"
            )
        try:
            self.embedding_initializer = keras.initializers.get(
                embedding_initializer or keras.initializers.RandomUniform(-1.0, 1.0)
            )
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"embedding_initializer must be a Keras initializer; got {embedding_initializer!r} ({err})"
            ) from None
        # Input rows the Kohonen rule left out because they held NaN or infinity.
        self.skipped_inputs = keras.metrics.Sum(name=f"{self.name}_skipped_inputs", dtype="int64")

    @classmethod
    def from_kohonen(cls, som, beta, **kwargs):
        """A ``"frozen"`` layer holding the embedding of a fitted :class:`~softsom.KohonenSOM`, on its grid.

        The layer's ``topology`` and ``periodic`` are those of ``som.grid_``.
        """
        if not hasattr(som, "embedding_"):
            raise ValueError("som must be a fitted KohonenSOM (call fit first)")
        grid = som.grid_
        kwargs = {"topology": grid.topology, "periodic": grid.periodic, **kwargs}
        layer = cls(grid.shape, beta=beta, embedding_update="frozen", **kwargs)
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
        # autocast=False: under a mixed-precision policy the embedding is read
        # in its variable dtype (float32), not rounded to float16/bfloat16,
        # and the Kohonen update adds to it in that dtype.
        kohonen = self.embedding_update == "kohonen"
        self.embedding = self.add_weight(
            name="embedding",
            shape=(self.grid.size, n),
            initializer=self.embedding_initializer,
            trainable=self.embedding_update == "backprop",
            aggregation="only_first_replica" if kohonen else "none",
            autocast=False,
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
        if self.trainable_beta:
            self.log_beta = self.add_weight(
                name="log_beta",
                shape=(),
                initializer=keras.initializers.Constant(float(np.log(self.beta))),
                trainable=True,
                autocast=False,
            )
        self.coords = tf.constant(self.grid.coords)
        # The lattice positions the Kohonen rule counts hops on (the coords of a plain rectangular grid).
        self._index = tf.constant(self.grid.index.astype(np.float32))
        self._edges = tf.constant(self.grid.edges(), tf.int32)

    def __call__(self, inputs, *args, **kwargs):
        # Before Keras converts the inputs: its own errors for these name no argument.
        _check_inputs(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=None):
        _check_inputs(inputs)
        if not inputs.dtype.is_floating:
            raise ValueError(f"SoftSOM inputs must be floating point; got dtype {inputs.dtype.name}")
        if inputs.shape.rank == 0:
            raise ValueError("SoftSOM inputs must have rank >= 1 [..., n]; got a scalar")
        width = self.embedding.shape[1]
        if inputs.shape[-1] is not None and inputs.shape[-1] != width:
            raise ValueError(
                f"SoftSOM inputs [..., n] must have n = {width} (the embedding's); got shape {inputs.shape}"
            )
        embedding = self.embedding
        if self.embedding_update != "backprop":
            embedding = tf.stop_gradient(embedding)
        beta = self.effective_beta()
        outputs = soft_som(inputs, embedding, tf.cast(self.coords, inputs.dtype), beta, precision=self.precision)
        if training and self.embedding_update == "kohonen" and self.trainable:
            self._kohonen_update(tf.stop_gradient(inputs))
        return outputs

    def effective_beta(self):
        """The beta the op is given now, a scalar tensor (float32, float64 for a float64 layer).

        ``beta`` (or the trained ``exp(log_beta)``), divided by the current
        node spacing when ``beta_scale="spacing"``; needs the layer built.
        """
        dtype = tf.float64 if self.compute_dtype == "float64" else tf.float32
        beta = tf.exp(tf.cast(self.log_beta, dtype)) if self.trainable_beta else tf.constant(self.beta, dtype)
        limits = np.finfo(dtype.as_numpy_dtype)
        if self.beta_scale == "absolute":
            # A trained beta stays within the dtype's range, which the op requires.
            return tf.clip_by_value(beta, limits.tiny, limits.max)
        embedding = tf.stop_gradient(tf.cast(tf.convert_to_tensor(self.embedding), dtype))
        lengths = tf.norm(tf.gather(embedding, self._edges[:, 0]) - tf.gather(embedding, self._edges[:, 1]), axis=1)
        ordered = tf.sort(lengths)
        middle = tf.shape(ordered)[0] // 2
        # The median: the mean of the two middle lengths (one and the same when the count is odd).
        spacing = (ordered[middle] + ordered[(tf.shape(ordered)[0] - 1) // 2]) / 2
        # A zero spacing gives a huge beta, not infinity; the floor keeps the gradient finite.
        return tf.clip_by_value(beta / tf.maximum(spacing, limits.tiny), limits.tiny, limits.max)

    def _kohonen_update(self, inputs):
        """One mini-batch Kohonen step from ``inputs``, over the inputs of all replicas.

        In the embedding's variable dtype (at least float32), whatever the
        inputs' dtype; rows holding NaN, infinity or values beyond the op's
        range are left out and counted in ``skipped_inputs``. Nothing is updated unless the inputs' width
        is the embedding's (checked at run time when only known then).
        """
        variable_dtype = tf.as_dtype(self.embedding.dtype)  # not autocast (autocast=False)
        dtype = tf.float64 if variable_dtype == tf.float64 else tf.float32
        width = self.embedding.shape[1]
        check = tf.debugging.assert_equal(
            tf.shape(inputs)[-1],
            width,
            message=f"SoftSOM inputs [..., n] must have n = {width}, the embedding's; nothing was updated",
        )
        with tf.control_dependencies([check]):
            x = tf.reshape(tf.cast(inputs, dtype), (-1, width))
        # Rows with NaN, infinity or values beyond the range whose squared
        # distances fit the dtype (that of soft_som): zeroed, given no weight.
        limit = float(np.sqrt(np.finfo(dtype.as_numpy_dtype).max / (16 * width)))
        finite = tf.reduce_all(tf.math.is_finite(x) & (tf.abs(x) <= limit), axis=1)
        x = tf.where(finite[:, None], x, tf.zeros_like(x))
        embedding = tf.cast(tf.convert_to_tensor(self.embedding), dtype)
        t = self.samples_seen
        schedule = tf.constant(self.learning_rate, tf.float64), tf.constant(self.sigma, tf.float64)
        eta = tf_decay(schedule[0], t, self.decay_samples, tf.float64)
        sigma = tf_decay(schedule[1], t, self.decay_samples, dtype)
        weighted, weights = tf_neighbourhood_sums(
            x,
            embedding,
            tf.cast(self._index, dtype),
            sigma,
            self.neighbourhood == "gaussian",
            finite,
            tf.float64,
            lattice=self.grid._lattice,
        )
        used = tf.reduce_sum(tf.cast(finite, tf.int64))
        skipped = tf.size(finite, out_type=tf.int64) - used
        # All-reduced: the float64 sums, and the count exactly, in int64.
        weighted, weights = sum_over_replicas([weighted, weights])
        (count,) = sum_over_replicas([used])
        increment = tf_kohonen_increment(
            tf.cast(embedding, tf.float64), weighted, weights, tf.cast(count, tf.float64), eta
        )
        self.embedding.assign_add(tf.cast(increment, variable_dtype))
        self.samples_seen.assign_add(count)
        # Each replica adds its own rows: the metric sums its replicas' values when read.
        self.skipped_inputs.update_state(skipped)

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
            precision=self.precision,
            beta_scale=self.beta_scale,
            trainable_beta=self.trainable_beta,
            topology=self.grid.topology,
            periodic=list(self.grid.periodic),
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["embedding_initializer"] = keras.initializers.deserialize(config["embedding_initializer"])
        return cls(**config)


def _check_inputs(inputs):
    """Reject inputs SoftSOM cannot read as a dense float tensor, naming ``inputs``."""
    if isinstance(inputs, (tf.RaggedTensor, tf.SparseTensor)):
        raise ValueError(f"SoftSOM inputs must be a dense tensor [..., n]; got a {type(inputs).__name__}")
    if isinstance(inputs, (list, tuple, np.ndarray)):
        try:
            array = np.asarray(inputs)
        except (TypeError, ValueError) as err:
            raise ValueError(f"SoftSOM inputs must be a dense array [..., n] of floats ({err})") from None
        if array.dtype.kind != "f":
            raise ValueError(f"SoftSOM inputs must be floating point; got dtype {array.dtype}")
