"""Keras models for the spiral experiments: a pure network, SOM preprocessing, an interposed SOM.

The three architectures of S. Barnes' slides, each built as an uncompiled
functional :class:`keras.Model` (compile it with the optimizer and loss of the
experiment):

:func:`mlp`
    The baseline: Dense layers and a softmax classifier.
:func:`som_preprocessing`
    A map fitted beforehand by Kohonen's algorithm (:class:`~softsom.KohonenSOM`)
    turns each input into soft grid coordinates; a small network classifies
    those. The map is frozen: a fixed feature transform.
:func:`interposed_som`
    A :class:`~softsom.SoftSOM` layer between Dense layers. Gradients pass
    through it to the layers below; its embedding follows the Kohonen rule on
    the activations it sees (or, as an extension, backpropagation).

Layers have stable names: ``inputs``, ``hidden_1``, ``hidden_2``, ... (numbered
from the input, across the SOM), ``soft_som`` and ``classifier``.

With ``seed=None`` the initial weights come from Keras' global random
generator (``keras.utils.set_random_seed``). With an int ``seed`` every
random initializer gets a seed of its own, ``1000 * seed``,
``1000 * seed + 1``, ... in the order the layers are built, from the input
to the classifier, so that a model is reproducible without a global seed
and the models of seeds ``s`` and ``s + 1`` share no initializer seed.
Biases start at zero.
"""

from __future__ import annotations

import keras

from ._validation import check_positive_int, check_positive_number, is_int
from .grid import Grid
from .layers import EMBEDDING_UPDATES, SoftSOM

__all__ = ["mlp", "som_preprocessing", "interposed_som"]


# --- argument checks -----------------------------------------------------


def _check_units(name, units):
    """A (possibly empty) tuple of positive ints."""
    if isinstance(units, (str, bytes)) or not hasattr(units, "__iter__"):
        raise ValueError(f"{name} must be a tuple of positive ints, e.g. (16,) or (); got {units!r}")
    units = tuple(units)
    if not all(is_int(u) and u >= 1 for u in units):
        raise ValueError(f"{name} must be a tuple of positive ints, e.g. (16,) or (); got {units!r}")
    return tuple(int(u) for u in units)


def _check_classes(n_classes):
    if not is_int(n_classes) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2; got {n_classes!r}")
    return int(n_classes)


def _check_activation(activation):
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError):
        raise ValueError(f"activation must be a Keras activation name or callable; got {activation!r}") from None
    return activation


def _check_name(name):
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string; got {name!r}")
    return name


def _check_seed(seed):
    if seed is not None and (not is_int(seed) or seed < 0):
        raise ValueError(f"seed must be None or a non-negative int; got {seed!r}")
    return seed


class _Seeds:
    """Distinct initializer seeds ``1000 seed, 1000 seed + 1, ...`` (None: Keras' global RNG).

    Spread by 1000 so that the models of seeds s and s + 1 share no initializer seed.
    """

    def __init__(self, seed):
        self.seed = seed
        self.used = 0

    def glorot(self):
        if self.seed is None:
            return "glorot_uniform"
        self.used += 1
        return keras.initializers.GlorotUniform(seed=1000 * self.seed + self.used - 1)

    def uniform(self):
        if self.seed is None:
            return None
        self.used += 1
        return keras.initializers.RandomUniform(-1.0, 1.0, seed=1000 * self.seed + self.used - 1)


def _dense_stack(x, units, activation, seeds, first_index):
    for i, n in enumerate(units, start=first_index):
        x = keras.layers.Dense(n, activation=activation, kernel_initializer=seeds.glorot(), name=f"hidden_{i}")(x)
    return x


def _classifier(x, n_classes, seeds):
    return keras.layers.Dense(n_classes, activation="softmax", kernel_initializer=seeds.glorot(), name="classifier")(x)


# --- the builders --------------------------------------------------------


def mlp(n_inputs, hidden_units=(16, 16), n_classes=2, activation="tanh", name="pure_nn", seed=None):
    """A plain network: Dense layers, then a softmax classifier.

    Parameters
    ----------
    n_inputs : int
        Number of input features, >= 1.
    hidden_units : tuple of int, default (16, 16)
        Width of each hidden layer (``hidden_1``, ``hidden_2``, ...); may be empty.
    n_classes : int, default 2
        Number of classes, >= 2 (the ``classifier`` layer's width).
    activation : str or callable, default "tanh"
        Activation of the hidden layers.
    name : str, default "pure_nn"
        The model's name.
    seed : int or None, default None
        A non-negative int seeds the Glorot-uniform kernel initializers, one
        seed per layer: ``1000 * seed`` for ``hidden_1``, ``1000 * seed + 1``
        for the next, and so on up to the ``classifier``. None: Keras'
        global random generator.

    Returns
    -------
    keras.Model
        Not compiled. Input ``[batch, n_inputs]``, output ``[batch, n_classes]``
        class probabilities.

    Raises
    ------
    ValueError
        Naming the argument that is not valid.
    """
    n_inputs = check_positive_int("n_inputs", n_inputs)
    hidden_units = _check_units("hidden_units", hidden_units)
    n_classes = _check_classes(n_classes)
    activation = _check_activation(activation)
    name = _check_name(name)
    seeds = _Seeds(_check_seed(seed))
    inputs = keras.Input((n_inputs,), name="inputs")
    x = _dense_stack(inputs, hidden_units, activation, seeds, first_index=1)
    return keras.Model(inputs, _classifier(x, n_classes, seeds), name=name)


def _rescaled(x, grid, rescale):
    """Grid coordinates (all >= 0) run up to their extent; optionally bring them to [0, 1] for tanh layers.

    The extent is the largest coordinate, ``max(grid shape) - 1`` for a
    rectangular grid without periodic axes.
    """
    if not rescale:
        return x
    extent = float(grid.coords.max())
    return keras.layers.Rescaling(1.0 / (extent if extent > 0 else 1.0), name="rescale")(x)


def som_preprocessing(
    som, beta, hidden_units=(16,), n_classes=2, activation="tanh", name="som_preprocessing", seed=None, rescale=False
):
    """A fitted Kohonen map as a frozen soft SOM, followed by a small network.

    ``inputs -> soft_som -> hidden_1 ... -> classifier``: the ``soft_som``
    layer is ``SoftSOM.from_kohonen(som, beta)``, whose embedding is a copy
    of ``som.embedding_`` that training never changes.

    Parameters
    ----------
    som : :class:`~softsom.KohonenSOM`
        A fitted map; its number of features is the model's input width and
        its grid's dimension ``m`` the width of the ``soft_som`` output.
    beta : float
        Inverse temperature of the soft SOM, positive and finite.
    hidden_units : tuple of int, default (16,)
        Widths of the hidden layers after the SOM; may be empty.
    n_classes : int, default 2
        Number of classes, >= 2.
    activation : str or callable, default "tanh"
        Activation of the hidden layers.
    name : str, default "som_preprocessing"
        The model's name.
    seed : int or None, default None
        Seeds the kernel initializers of the Dense layers after the SOM, one
        seed per layer from ``1000 * seed`` on, as in :func:`mlp`. The SOM's
        embedding is the fitted map's: no seed is used for it.
    rescale : bool, default False
        Divide the SOM's output by its largest grid coordinate (``max(grid
        shape) - 1`` on a rectangular grid without periodic axes; a ``rescale``
        layer), so that the next tanh layer sees values in [0, 1].

    Returns
    -------
    keras.Model
        Not compiled. Input ``[batch, n]``, output ``[batch, n_classes]``.

    Raises
    ------
    ValueError
        Naming the argument that is not valid (``som`` when it is not fitted).
    """
    if not hasattr(som, "embedding_") or not hasattr(som, "grid_"):
        raise ValueError(f"som must be a fitted KohonenSOM (call fit first); got {som!r}")
    check_positive_number("beta", beta)
    hidden_units = _check_units("hidden_units", hidden_units)
    n_classes = _check_classes(n_classes)
    activation = _check_activation(activation)
    name = _check_name(name)
    seeds = _Seeds(_check_seed(seed))
    inputs = keras.Input((som.n_features_in_,), name="inputs")
    x = SoftSOM.from_kohonen(som, beta, name="soft_som")(inputs)
    x = _dense_stack(_rescaled(x, som.grid_, rescale), hidden_units, activation, seeds, first_index=1)
    return keras.Model(inputs, _classifier(x, n_classes, seeds), name=name)


def interposed_som(
    n_inputs,
    grid_shape,
    beta,
    hidden_units_before=(16,),
    hidden_units_after=(16,),
    n_classes=2,
    embedding_update="kohonen",
    decay_samples=100_000,
    activation="tanh",
    name="interposed_som",
    seed=None,
    rescale=False,
    **som_options,
):
    """A soft SOM between Dense layers, trained end to end.

    ``inputs -> hidden_1 ... -> soft_som -> ... -> classifier``: the SOM
    maps the activations of the last layer before it (``tanh`` activations
    lie in ``[-1, 1]``, where its embedding starts) to soft grid
    coordinates, which the layers after it classify.

    Parameters
    ----------
    n_inputs : int
        Number of input features, >= 1.
    grid_shape : tuple of int
        Shape of the SOM's grid; its number of axes is the SOM's output width
        (plus one per periodic axis, with ``periodic`` in ``som_options``).
    beta : float
        Inverse temperature, positive and finite.
    hidden_units_before, hidden_units_after : tuple of int, default (16,)
        Widths of the Dense layers before and after the SOM; either may be
        empty. They are numbered on from the input: ``hidden_1`` is the
        first before the SOM.
    n_classes : int, default 2
        Number of classes, >= 2.
    embedding_update : {"kohonen", "backprop", "frozen"}, default "kohonen"
        How the SOM's embedding learns (see :class:`~softsom.SoftSOM`):
        the Kohonen rule on the activations it is shown (the slides' design), the
        optimizer, or not at all.
    decay_samples : int, default 100_000
        Inputs over which the Kohonen learning rate and radius decay.
    activation : str or callable, default "tanh"
        Activation of the hidden layers.
    name : str, default "interposed_som"
        The model's name.
    seed : int or None, default None
        Seeds the initializers, one seed each from ``1000 * seed`` on, in the
        order the layers are built: the kernels of the layers before the SOM,
        the SOM's ``RandomUniform(-1, 1)`` initial embedding (unless
        ``embedding_initializer`` is given), the kernels of the layers after
        it, and the classifier's. None: Keras' global random generator.
    rescale : bool, default False
        Divide the SOM's output by its largest grid coordinate (``max(grid_shape)
        - 1`` on a rectangular grid without periodic axes; a ``rescale``
        layer), so that the next tanh layer sees values in [0, 1].
    **som_options
        Further :class:`~softsom.SoftSOM` arguments: ``learning_rate``,
        ``sigma``, ``neighbourhood``, ``embedding_initializer``,
        ``precision``, ``beta_scale``, ``trainable_beta``, ``topology``,
        ``periodic`` (the grid's lattice and wrap-around axes: see
        :class:`~softsom.Grid`).

    Returns
    -------
    keras.Model
        Not compiled. Input ``[batch, n_inputs]``, output ``[batch, n_classes]``.

    Raises
    ------
    ValueError
        Naming the argument that is not valid.
    """
    n_inputs = check_positive_int("n_inputs", n_inputs)
    try:
        Grid(grid_shape)
    except ValueError as err:
        raise ValueError(f"grid_shape: {err}") from None
    # Its errors name topology or periodic.
    grid = Grid(grid_shape, som_options.get("topology", "rectangular"), som_options.get("periodic", False))
    check_positive_number("beta", beta)
    before = _check_units("hidden_units_before", hidden_units_before)
    after = _check_units("hidden_units_after", hidden_units_after)
    n_classes = _check_classes(n_classes)
    if embedding_update not in EMBEDDING_UPDATES:
        raise ValueError(f"embedding_update must be one of {EMBEDDING_UPDATES}; got {embedding_update!r}")
    decay_samples = check_positive_int("decay_samples", decay_samples)
    activation = _check_activation(activation)
    allowed = {
        "learning_rate",
        "sigma",
        "neighbourhood",
        "embedding_initializer",
        "precision",
        "beta_scale",
        "trainable_beta",
        "topology",
        "periodic",
    }
    unknown = sorted(set(som_options) - allowed)
    if unknown:
        raise ValueError(f"som_options: unknown SoftSOM argument(s) {unknown}; allowed: {sorted(allowed)}")
    name = _check_name(name)
    seeds = _Seeds(_check_seed(seed))
    inputs = keras.Input((n_inputs,), name="inputs")
    x = _dense_stack(inputs, before, activation, seeds, first_index=1)
    if "embedding_initializer" not in som_options:
        som_options["embedding_initializer"] = seeds.uniform()
    x = SoftSOM(
        grid_shape,
        beta=beta,
        embedding_update=embedding_update,
        decay_samples=decay_samples,
        name="soft_som",
        **som_options,
    )(x)
    x = _dense_stack(_rescaled(x, grid, rescale), after, activation, seeds, first_index=len(before) + 1)
    return keras.Model(inputs, _classifier(x, n_classes, seeds), name=name)
