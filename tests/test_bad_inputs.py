"""Bad input to the public entry points fails with an error naming the argument, and changes nothing.

One table, ``BAD_INPUTS``: each row is a call, the exception it must raise and
a regular expression that the message must match, which names the offending
argument. A row may have a *subject*: an object made fresh for the row (a
fitted map, a built layer, a model, a book on disk) that the call works on.
The state of the subject (every attribute, weight, counter and random
generator state), every file under the row's temporary folder (files, not
folders: see :func:`files`), and the shared input arrays are compared before
and after the failing call: a call that raises must leave them exactly as
they were.

More cases live beside the features they guard (``pytest.raises`` in
test_grid.py, test_ops.py, test_kohonen.py, test_layers.py,
test_manifold_data.py, test_runner.py); this table holds the others.
"""

import copy
import functools
import re
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from softsom import Grid, KohonenSOM, SoftSOM, hard_som, soft_som, two_spirals
from softsom.datasets import spiral_curve
from softsom.distribute import train
from tests.test_runner import make_project
from tools.book import runner
from tools.book.runner import RunnerError

POINTS = np.zeros((5, 3))
EMBEDDING = np.arange(12.0).reshape(4, 3)
COORDS = Grid((2, 2)).coords
NAN_POINTS = np.array([[0.0, np.nan, 1.0]])
INF_EMBEDDING = np.where(np.eye(4, 3) == 1, np.inf, EMBEDDING)
DATA = np.random.default_rng(0).normal(size=(30, 3))
RAGGED = [[0.0, 1.0, 2.0], [0.0, 1.0]]
SHARED = {"POINTS": POINTS, "EMBEDDING": EMBEDDING, "COORDS": COORDS, "NAN_POINTS": NAN_POINTS, "DATA": DATA}
SHARED_BEFORE = {name: array.copy() for name, array in SHARED.items()}


# -- subjects: fresh objects for the rows to work on ------------------------------------


@functools.cache
def _fitted():
    return KohonenSOM((3, 3), random_state=0, decay_samples=100).fit(DATA)


def fitted_map(**settings):
    """A fresh copy of a small fitted KohonenSOM, with ``settings`` then set on it (as a user would)."""

    def make(_tmp_path):
        som = copy.deepcopy(_fitted())
        for name, value in settings.items():
            setattr(som, name, value)
        return som

    return make


def unfitted_map(**settings):
    return lambda _tmp_path: KohonenSOM((3, 3), **settings)


def kohonen_layer(_tmp_path):
    """A built "kohonen" SoftSOM that has already taken one step."""
    layer = SoftSOM((3, 3), decay_samples=100)
    layer(DATA.astype("float32"), training=True)
    return layer


def small_model(_tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(SoftSOM((2, 2), name="som")(inputs)))
    return types.SimpleNamespace(model=model, optimizer=keras.optimizers.SGD(0.1))


def book(tmp_path):
    """A one-chapter book (notebooks/a.ipynb) in ``tmp_path``."""
    return make_project(tmp_path, {"a": []})


def book_and_file(tmp_path):
    """The book and a regular file where the runner expects a folder: not writable into, even for root."""
    path = tmp_path / "a_file"
    path.write_text("")
    return types.SimpleNamespace(root=book(tmp_path), file=path)


def book_with(name, text):
    """The book with its file ``name`` replaced by ``text``."""

    def make(tmp_path):
        root = book(tmp_path)
        (root / name).write_text(text)
        return root

    return make


def run_book(root, **kwargs):
    """``runner.run`` on the book at ``root``, without building the HTML."""
    return runner.run(root=root, build_html=False, **kwargs)


# -- the state a failing call must leave alone ----------------------------------------------


def frozen(value):
    """``value`` in a form that compares equal exactly when the value is unchanged."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, np.random.Generator):
        return ("generator", repr(value.bit_generator.state))
    if isinstance(value, (tf.Variable, keras.Variable)):
        return frozen(np.asarray(value.numpy()))
    if isinstance(value, keras.layers.Layer):
        return (
            "layer",
            value.built,
            repr(value.get_config()),
            [frozen(w) for w in value.weights],
            [frozen(v) for v in value.metrics_variables],
        )
    if isinstance(value, keras.optimizers.Optimizer):
        return ("optimizer", value.built, [frozen(v) for v in value.variables])
    if isinstance(value, KohonenSOM):
        return ("KohonenSOM", {name: frozen(v) for name, v in sorted(vars(value).items())})
    if isinstance(value, types.SimpleNamespace):
        return {name: frozen(v) for name, v in sorted(vars(value).items())}
    if isinstance(value, (list, tuple)):
        return tuple(frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: frozen(v) for k, v in value.items()}
    if isinstance(value, (int, float, str, bytes, bool, type(None), Grid)):
        return ("value", type(value).__name__, repr(value))
    return ("object", id(value))  # e.g. a strategy: the same object


def files(folder):
    """Every file under ``folder`` with its content.

    Folders are not compared: the notebook runner creates its (empty) output
    folder before it reads the notebooks' parameters.
    """
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def case(name, call, error, pattern, subject=None):
    """One row: ``call(subject)`` (or ``call(tmp_path)`` without a subject) must raise ``error``
    with a message matching ``pattern``, and change nothing."""
    return pytest.param(call, error, pattern, subject, id=name)


def fit(X=DATA, **kwargs):
    return lambda som: som.fit(X, **kwargs)


def partial_fit(X=DATA):
    return lambda som: som.partial_fit(X)


def train_with(**changes):
    """``softsom.distribute.train`` on the small model, with ``changes`` to its arguments."""

    def call(subject):
        arguments = dict(
            model=subject.model,
            loss=keras.losses.MeanSquaredError(reduction=None),
            optimizer=subject.optimizer,
            batches=lambda step: (DATA.astype("float32"), np.zeros((30, 2), "float32")),
            steps=2,
        )
        arguments.update(changes)
        return train(**arguments)

    return call


def traced_call(width):
    """A kohonen layer called in a tf.function whose input width is only known at run time."""

    def call(layer):
        step = tf.function(lambda x: layer(x, training=True), input_signature=[tf.TensorSpec((None, None), tf.float32)])
        return step(tf.zeros((4, width)))

    return call


BIG = DATA * 1e39  # beyond float32
HUGE = DATA * 2.0**66  # float32 numbers whose squared distances overflow float32

# Settings a user sets on a fitted map, then fit (or initialize): each must be
# rejected before the map changes.
BAD_SETTINGS = [
    ("grid", 5, "grid shape"),
    ("grid", (0, 3), "grid shape"),
    ("grid", "3x3", "grid shape"),
    ("grid", (3.0, 3), "grid shape"),
    ("mode", "sgd", "mode"),
    ("mode", None, "mode"),
    ("mode", ["batch"], "mode"),
    ("batch_size", 8, "batch_size"),
    ("batch_size", "8", "batch_size"),
    ("learning_rate", (0.0, 0.1), "learning_rate"),
    ("learning_rate", (0.5, 1.5), "learning_rate"),
    ("learning_rate", 0.5, "learning_rate"),
    ("learning_rate", (0.5, float("nan")), "learning_rate"),
    ("learning_rate", (1e-45, 0.1), "learning_rate"),
    ("learning_rate", ("0.5", 0.1), "learning_rate"),
    ("learning_rate", (True, 0.1), "learning_rate"),
    ("learning_rate", (0.5,), "learning_rate"),
    ("learning_rate", "ab", "learning_rate"),
    ("sigma", (2.0, 0.0), "sigma"),
    ("sigma", (-1.0, 1.0), "sigma"),
    ("sigma", ("a", 1.0), "sigma"),
    ("sigma", (1.0, 1e-50), "sigma"),
    ("sigma", (1e39, 1.0), "sigma"),
    ("sigma", (1.0, float("inf")), "sigma"),
    ("neighbourhood", "box", "neighbourhood"),
    ("neighbourhood", "Gaussian", "neighbourhood"),
    ("neighbourhood", None, "neighbourhood"),
    ("neighbourhood", ["gaussian"], "neighbourhood"),
    ("distance", "manhattan", "distance"),
    ("distance", None, "distance"),
    ("init", "random", "init"),
    ("init", np.zeros((4, 3)), "init"),
    ("init", np.full((9, 3), np.nan), "init"),
    ("init", np.zeros((9, 3)) + 1j, "init"),
    ("init", np.zeros((9, 3)).astype(str), "init"),
    ("init", [[0.0, 1.0, 2.0]] * 8 + [[0.0]], "init"),
    ("init", np.full((9, 3), 1e39), "init"),
    ("init", np.zeros((9, 3), bool), "init"),
    ("init", np.array([[None] * 3] * 9), "init"),
    ("decay_samples", 0, "decay_samples"),
    ("decay_samples", 2.5, "decay_samples"),
    ("decay_samples", True, "decay_samples"),
    ("decay_samples", -5, "decay_samples"),
    ("decay_samples", "100", "decay_samples"),
    ("random_state", "abc", "random_state"),
    ("random_state", -1, "random_state"),
    ("random_state", True, "random_state"),
    ("random_state", np.bool_(False), "random_state"),
    ("random_state", 1.5, "random_state"),
    ("strategy", tf.distribute.get_strategy(), "strategy"),
]


def setting_rows():
    rows = []
    for attribute, value, pattern in BAD_SETTINGS:
        label = f"{attribute}={value!r}"[:40].replace(" ", "")
        rows.append(case(f"KohonenSOM.fit-{label}", fit(), ValueError, pattern, fitted_map(**{attribute: value})))
    for attribute, value, pattern in BAD_SETTINGS[::6]:
        label = f"{attribute}={value!r}"[:40].replace(" ", "")
        rows.append(
            case(
                f"KohonenSOM.initialize-{label}",
                lambda som: som.initialize(DATA),
                ValueError,
                pattern,
                fitted_map(**{attribute: value}),
            )
        )
    rows.append(
        case("KohonenSOM.fit-batch-strategy-str", fit(), ValueError, "strategy", fitted_map(mode="batch", strategy="m"))
    )
    rows += [
        case("KohonenSOM.fit-batch_size-0", fit(), ValueError, "batch_size", fitted_map(mode="batch", batch_size=0)),
        case(
            "KohonenSOM.fit-batch-map-mexican_hat",
            fit(),
            ValueError,
            "mexican_hat",
            fitted_map(mode="batch", neighbourhood="mexican_hat"),
        ),
        # fit(X, epochs) of earlier versions: the number lands in y.
        case("KohonenSOM.fit-y-epochs", lambda som: som.fit(DATA, 3), ValueError, "epochs", fitted_map()),
        case(
            "KohonenSOM.partial_fit-y-epochs", lambda som: som.partial_fit(DATA, 2), ValueError, "epochs", fitted_map()
        ),
    ]
    rows.append(
        case(
            "KohonenSOM.fit-batch_size-bool", fit(), ValueError, "batch_size", fitted_map(mode="batch", batch_size=True)
        )
    )
    return rows


BAD_DATA = [
    ("complex", DATA + 1j, "X must be an array of real numbers"),
    ("numeric-strings", DATA.astype(str), "X must be an array of real numbers"),
    ("ragged", RAGGED, "X must be an array of real numbers"),
    ("objects", np.array([[1.0, None, 2.0]]), "X must be an array of real numbers"),
    ("bools", DATA > 0, "X must be an array of real numbers"),
    ("rank-1", DATA[0], "X must be 2-D"),
    ("rank-3", DATA[None], "X must be 2-D"),
    ("no-rows", DATA[:0], "X must hold at least one sample"),
    ("no-features", DATA[:, :0], "X must hold at least one sample"),
    ("NaN", np.where(DATA > 1.5, np.nan, DATA), "X contains NaN"),
    ("inf", np.where(DATA > 1.5, np.inf, DATA), "X contains NaN or infinity"),
    ("beyond-float32", BIG, "X values must be at most"),
    ("squares-overflow-float32", HUGE, "X values must be at most"),
    ("None", None, "X must"),
]

BAD_EPOCHS = [0, -1, 1.5, True, "2", float("nan")]


def data_rows():
    rows = [
        case(f"KohonenSOM.fit-X-{label}", fit(X), ValueError, pattern, fitted_map()) for label, X, pattern in BAD_DATA
    ]
    rows += [
        case(f"KohonenSOM.fit-epochs-{e!r}", fit(), ValueError, "epochs", fitted_map(epochs=e)) for e in BAD_EPOCHS
    ]
    for label, X, pattern in BAD_DATA:
        if label in ("NaN", "inf"):  # partial_fit leaves those rows out (tests/test_layers.py)
            continue
        rows.append(case(f"KohonenSOM.partial_fit-X-{label}", partial_fit(X), ValueError, pattern, fitted_map()))
    rows += [
        case(
            "KohonenSOM.partial_fit-X-other-n", partial_fit(DATA[:, :2]), ValueError, "X has 2 features", fitted_map()
        ),
        case(
            "KohonenSOM.partial_fit-X-all-NaN-unfitted",
            partial_fit(np.full((3, 3), np.nan)),
            ValueError,
            "X has no row without NaN",
            unfitted_map(decay_samples=10),
        ),
        case(
            "KohonenSOM.partial_fit-no-decay_samples",
            partial_fit(),
            ValueError,
            "decay_samples must be set",
            unfitted_map(),
        ),
        case(
            "KohonenSOM.partial_fit-neighbourhood-box",
            partial_fit(),
            ValueError,
            "neighbourhood",
            fitted_map(neighbourhood="box"),
        ),
        case("KohonenSOM.partial_fit-mode-sgd", partial_fit(), ValueError, "mode", fitted_map(mode="sgd")),
        case(
            "KohonenSOM.partial_fit-decay_samples-bool",
            partial_fit(),
            ValueError,
            "decay_samples",
            fitted_map(decay_samples=True),
        ),
    ]
    for method in ("winner", "transform", "quantization_error", "topographic_error"):
        rows += [
            case(
                f"KohonenSOM.{method}-X-ragged",
                lambda som, m=method: getattr(som, m)(RAGGED),
                ValueError,
                "X must",
                fitted_map(),
            ),
            case(
                f"KohonenSOM.{method}-X-strings",
                lambda som, m=method: getattr(som, m)(DATA.astype(str)),
                ValueError,
                "X must be an array of real numbers",
                fitted_map(),
            ),
            case(
                f"KohonenSOM.{method}-X-other-n",
                lambda som, m=method: getattr(som, m)(DATA[:, :2]),
                ValueError,
                "X has 2 features",
                fitted_map(),
            ),
            case(
                f"KohonenSOM.{method}-unfitted",
                lambda som, m=method: getattr(som, m)(DATA),
                ValueError,
                "not fitted",
                unfitted_map(),
            ),
        ]
    for label, t in [
        ("negative", -1000),
        ("NaN", float("nan")),
        ("str", "5"),
        ("array-negative", [1.0, -1.0]),
        ("None", None),
    ]:
        rows.append(
            case(f"KohonenSOM.schedule-t-{label}", lambda som, t=t: som.schedule(t), ValueError, r"\bt\b", fitted_map())
        )
    return rows


def layer_rows():
    float32 = DATA.astype("float32")
    rows = [
        case("SoftSOM-grid_shape-int", lambda _: SoftSOM(5), ValueError, "grid shape"),
        case("SoftSOM-grid_shape-empty", lambda _: SoftSOM(()), ValueError, "grid shape"),
        case("SoftSOM-beta-inf", lambda _: SoftSOM((3, 3), beta=float("inf")), ValueError, "beta"),
        case("SoftSOM-beta-beyond-float32", lambda _: SoftSOM((3, 3), beta=1e39), ValueError, "beta must be between"),
        case("SoftSOM-beta-below-float32", lambda _: SoftSOM((3, 3), beta=1e-45), ValueError, "beta must be between"),
        case("SoftSOM-beta-zero", lambda _: SoftSOM((3, 3), beta=0), ValueError, "beta"),
        case("SoftSOM-beta-bool", lambda _: SoftSOM((3, 3), beta=True), ValueError, "beta"),
        case("SoftSOM-beta-str", lambda _: SoftSOM((3, 3), beta="1"), ValueError, "beta"),
        case(
            "SoftSOM-embedding_update-sgd",
            lambda _: SoftSOM((3, 3), embedding_update="sgd"),
            ValueError,
            "embedding_update",
        ),
        case(
            "SoftSOM-embedding_update-None",
            lambda _: SoftSOM((3, 3), embedding_update=None),
            ValueError,
            "embedding_update",
        ),
        case(
            "SoftSOM-learning_rate-one-value",
            lambda _: SoftSOM((3, 3), learning_rate=(0.1,)),
            ValueError,
            "learning_rate",
        ),
        case(
            "SoftSOM-learning_rate-above-1",
            lambda _: SoftSOM((3, 3), learning_rate=(0.1, 2.0)),
            ValueError,
            "learning_rate",
        ),
        case(
            "SoftSOM-learning_rate-underflows-float32",
            lambda _: SoftSOM((3, 3), learning_rate=(0.1, 1e-45)),
            ValueError,
            "learning_rate",
        ),
        case("SoftSOM-sigma-zero", lambda _: SoftSOM((3, 3), sigma=(0.0, 1.0)), ValueError, "sigma"),
        case("SoftSOM-sigma-below-float32", lambda _: SoftSOM((3, 3), sigma=(1.0, 1e-50)), ValueError, "sigma"),
        case("SoftSOM-sigma-beyond-float32", lambda _: SoftSOM((3, 3), sigma=(1e39, 1.0)), ValueError, "sigma"),
        case("SoftSOM-neighbourhood-box", lambda _: SoftSOM((3, 3), neighbourhood="box"), ValueError, "neighbourhood"),
        case("SoftSOM-decay_samples-bool", lambda _: SoftSOM((3, 3), decay_samples=True), ValueError, "decay_samples"),
        case("SoftSOM-decay_samples-zero", lambda _: SoftSOM((3, 3), decay_samples=0), ValueError, "decay_samples"),
        case("SoftSOM-decay_samples-float", lambda _: SoftSOM((3, 3), decay_samples=1.5), ValueError, "decay_samples"),
        case(
            "SoftSOM-decay_samples-beyond-int64",
            lambda _: SoftSOM((3, 3), decay_samples=2**63),
            ValueError,
            "decay_samples",
        ),
        case(
            "SoftSOM-embedding_initializer-unknown",
            lambda _: SoftSOM((3, 3), embedding_initializer="nonsense"),
            ValueError,
            "embedding_initializer",
        ),
        case(
            "SoftSOM.from_kohonen-beta-negative",
            lambda som: SoftSOM.from_kohonen(som, beta=-1.0),
            ValueError,
            "beta",
            fitted_map(),
        ),
        case(
            "SoftSOM.from_kohonen-beta-beyond-float32",
            lambda som: SoftSOM.from_kohonen(som, beta=1e39),
            ValueError,
            "beta",
            fitted_map(),
        ),
        case(
            "SoftSOM.from_kohonen-som-unfitted",
            lambda som: SoftSOM.from_kohonen(som, beta=1.0),
            ValueError,
            "som must be a fitted KohonenSOM",
            unfitted_map(),
        ),
        case("SoftSOM-inputs-scalar", lambda _: SoftSOM((3, 3))(np.float32(1.0)), ValueError, "inputs"),
    ]
    # Calls on a layer that has taken a step: none may move its embedding or its count.
    calls = [
        (
            "other-n",
            lambda layer: layer(np.zeros((2, 4), "float32"), training=True),
            ValueError,
            r"inputs \[\.\.\., n\]",
        ),
        ("strings", lambda layer: layer(np.array([["a", "b", "c"]]), training=True), ValueError, "inputs"),
        ("ragged-list", lambda layer: layer(RAGGED, training=True), ValueError, "inputs"),
        ("ragged-tensor", lambda layer: layer(tf.ragged.constant(RAGGED), training=True), ValueError, "inputs"),
        (
            "sparse-tensor",
            lambda layer: layer(tf.sparse.from_dense(float32), training=True),
            ValueError,
            "inputs must be a dense tensor",
        ),
        ("ints", lambda layer: layer(np.zeros((2, 3), "int32"), training=True), ValueError, "inputs must be floating"),
        ("objects", lambda layer: layer(np.array([[1.0, None, 2.0]]), training=True), ValueError, "inputs"),
        ("bools", lambda layer: layer(np.zeros((2, 3), bool), training=True), ValueError, "inputs must be floating"),
        ("NaN-eager", lambda layer: layer(np.where(float32 > 1, np.nan, float32), training=True), ValueError, "points"),
        ("other-n-traced", traced_call(6), tf.errors.InvalidArgumentError, "must have (the same n|n = 3)"),
        ("fewer-n-traced", traced_call(1), tf.errors.InvalidArgumentError, "must have (the same n|n = 3)"),
        ("rank-1-other-n", lambda layer: layer(np.zeros(4, "float32"), training=True), ValueError, "inputs"),
        ("beyond-float32-range", lambda layer: layer(float32 * 1e30, training=True), ValueError, "points values"),
    ]
    rows += [
        case(f"SoftSOM.call-inputs-{label}", call, error, pattern, kohonen_layer)
        for label, call, error, pattern in calls
    ]
    return rows


def op_rows():
    return [
        case("soft_som-beta-None", lambda _: soft_som(POINTS, EMBEDDING, COORDS, None), ValueError, "beta"),
        case("soft_som-beta-bool", lambda _: soft_som(POINTS, EMBEDDING, COORDS, True), ValueError, "beta"),
        case("soft_som-beta-str", lambda _: soft_som(POINTS, EMBEDDING, COORDS, "1"), ValueError, "beta"),
        case("soft_som-beta-array", lambda _: soft_som(POINTS, EMBEDDING, COORDS, np.ones(2)), ValueError, "beta"),
        case("soft_som-beta-zero", lambda _: soft_som(POINTS, EMBEDDING, COORDS, 0.0), ValueError, "beta"),
        case("soft_som-beta-negative", lambda _: soft_som(POINTS, EMBEDDING, COORDS, -1.0), ValueError, "beta"),
        case("soft_som-beta-NaN", lambda _: soft_som(POINTS, EMBEDDING, COORDS, float("nan")), ValueError, "beta"),
        case(
            "soft_som-beta-beyond-float32",
            lambda _: soft_som(POINTS.astype("float32"), EMBEDDING, COORDS, 1e39),
            ValueError,
            "beta must be at most",
        ),
        case(
            "soft_som-beta-int-tensor",
            lambda _: soft_som(POINTS, EMBEDDING, COORDS, tf.constant(2)),
            ValueError,
            "beta",
        ),
        case("soft_som-points-complex", lambda _: soft_som(POINTS + 1j, EMBEDDING, COORDS, 1.0), ValueError, "points"),
        case("soft_som-points-NaN", lambda _: soft_som(NAN_POINTS, EMBEDDING, COORDS, 1.0), ValueError, "points"),
        case(
            "soft_som-points-strings",
            lambda _: soft_som(POINTS.astype(str), EMBEDDING, COORDS, 1.0),
            ValueError,
            "points",
        ),
        case("soft_som-points-ragged", lambda _: soft_som(RAGGED, EMBEDDING, COORDS, 1.0), ValueError, "points"),
        case(
            "soft_som-points-objects",
            lambda _: soft_som(np.array([[1.0, None, 2.0]]), EMBEDDING, COORDS, 1.0),
            ValueError,
            "points",
        ),
        case(
            "soft_som-points-ints",
            lambda _: soft_som(np.zeros((2, 3), int), EMBEDDING, COORDS, 1.0),
            ValueError,
            "points",
        ),
        case("soft_som-points-scalar", lambda _: soft_som(1.0, EMBEDDING, COORDS, 1.0), ValueError, "points"),
        case(
            "soft_som-points-squares-overflow-float32",
            lambda _: soft_som((DATA * 1e20).astype("float32"), EMBEDDING[:, :3], COORDS, 1.0),
            ValueError,
            "points values must be at most",
        ),
        case(
            "soft_som-embedding-beyond-float32",
            lambda _: soft_som(POINTS.astype("float32"), EMBEDDING * 1e38, COORDS, 1.0),
            ValueError,
            "embedding",
        ),
        case("soft_som-embedding-inf", lambda _: soft_som(POINTS, INF_EMBEDDING, COORDS, 1.0), ValueError, "embedding"),
        case(
            "soft_som-embedding-rank-1", lambda _: soft_som(POINTS, EMBEDDING[0], COORDS, 1.0), ValueError, "embedding"
        ),
        case(
            "soft_som-embedding-rank-3",
            lambda _: soft_som(POINTS, EMBEDDING[None], COORDS, 1.0),
            ValueError,
            "embedding",
        ),
        case(
            "soft_som-embedding-no-nodes",
            lambda _: soft_som(POINTS, EMBEDDING[:0], COORDS[:0], 1.0),
            ValueError,
            "embedding",
        ),
        case(
            "soft_som-embedding-other-n",
            lambda _: soft_som(POINTS, EMBEDDING[:, :2], COORDS, 1.0),
            ValueError,
            r"points \[\.\.\., n\] and embedding",
        ),
        case(
            "soft_som-embedding-strings",
            lambda _: soft_som(POINTS, EMBEDDING.astype(str), COORDS, 1.0),
            ValueError,
            "embedding",
        ),
        case(
            "soft_som-coords-NaN",
            lambda _: soft_som(POINTS, EMBEDDING, np.full_like(COORDS, np.nan), 1.0),
            ValueError,
            "coords",
        ),
        case("soft_som-coords-other-K", lambda _: soft_som(POINTS, EMBEDDING, COORDS[:3], 1.0), ValueError, "coords"),
        case(
            "soft_som-coords-ints", lambda _: soft_som(POINTS, EMBEDDING, COORDS.astype(int), 1.0), ValueError, "coords"
        ),
        case("hard_som-points-NaN", lambda _: hard_som(NAN_POINTS, EMBEDDING, COORDS), ValueError, "points"),
        case("hard_som-points-ragged", lambda _: hard_som(RAGGED, EMBEDDING, COORDS), ValueError, "points"),
        case(
            "hard_som-points-squares-overflow-float64",
            lambda _: hard_som(POINTS + 1e200, EMBEDDING, COORDS),
            ValueError,
            "points values must be at most",
        ),
        case(
            "hard_som-embedding-objects",
            lambda _: hard_som(POINTS, EMBEDDING.astype(object), COORDS),
            ValueError,
            "embedding",
        ),
        case("hard_som-coords-rank-1", lambda _: hard_som(POINTS, EMBEDDING, COORDS[:, 0]), ValueError, "coords"),
    ]


def other_rows():
    return [
        # Grid(shape)
        case("Grid-shape-set", lambda _: Grid({3, 4}), ValueError, "grid shape"),
        case("Grid-shape-2d-array", lambda _: Grid(np.array([[3, 4]])), ValueError, "grid shape"),
        case("Grid-shape-integral-float", lambda _: Grid((3.0, 4)), ValueError, "grid shape"),
        case("Grid-shape-too-many-nodes", lambda _: Grid((2**40, 2**40)), ValueError, "grid shape .* nodes"),
        case("Grid-shape-str", lambda _: Grid("33"), ValueError, "grid shape"),
        case("Grid-shape-negative", lambda _: Grid((3, -1)), ValueError, "grid shape"),
        case("Grid-shape-bool", lambda _: Grid((3, True)), ValueError, "grid shape"),
        case("Grid-shape-empty", lambda _: Grid(()), ValueError, "grid shape"),
        case("Grid-shape-None", lambda _: Grid(None), ValueError, "grid shape"),
        case("Grid-shape-dict", lambda _: Grid({"a": 3}), ValueError, "grid shape"),
        # two_spirals / spiral_curve
        case("two_spirals-n_per_class-str", lambda _: two_spirals("10"), ValueError, "n_per_class"),
        case("two_spirals-n_per_class-bool", lambda _: two_spirals(True), ValueError, "n_per_class"),
        case("two_spirals-turns-str", lambda _: two_spirals(10, turns="3"), ValueError, "turns"),
        case("two_spirals-turns-NaN", lambda _: two_spirals(10, turns=float("nan")), ValueError, "turns"),
        case("two_spirals-turns-ignored-by-classic", lambda _: two_spirals(None, turns=-1), ValueError, "turns"),
        case("two_spirals-noise-inf", lambda _: two_spirals(10, noise=float("inf")), ValueError, "noise"),
        case("two_spirals-noise-negative", lambda _: two_spirals(10, noise=-0.1), ValueError, "noise"),
        case("two_spirals-seed-str", lambda _: two_spirals(10, seed="abc"), ValueError, "seed"),
        case("two_spirals-seed-negative", lambda _: two_spirals(10, seed=-1), ValueError, "seed"),
        case("two_spirals-seed-bool", lambda _: two_spirals(10, seed=True), ValueError, "seed"),
        case("two_spirals-seed-numpy-bool", lambda _: two_spirals(10, seed=np.bool_(True)), ValueError, "seed"),
        case(
            "two_spirals-fractions-str", lambda _: two_spirals(10, fractions=("a", "b", "c")), ValueError, "fractions"
        ),
        case(
            "two_spirals-fractions-NaN",
            lambda _: two_spirals(10, fractions=(np.nan, 0.5, 0.5)),
            ValueError,
            "fractions",
        ),
        case("two_spirals-fractions-two", lambda _: two_spirals(10, fractions=(0.5, 0.5)), ValueError, "fractions"),
        case(
            "two_spirals-fractions-sum-2", lambda _: two_spirals(10, fractions=(1.0, 0.5, 0.5)), ValueError, "fractions"
        ),
        case("spiral_curve-turns-None", lambda _: spiral_curve(10, turns=None), ValueError, "turns"),
        case("spiral_curve-seed-bool", lambda _: spiral_curve(10, seed=False), ValueError, "seed"),
        case("spiral_curve-n-zero", lambda _: spiral_curve(0), ValueError, r"\bn\b"),
        # softsom.distribute.train, on a small model that must keep its weights
        case(
            "train-model-not-a-model", train_with(model="model"), ValueError, "model must be a keras.Model", small_model
        ),
        case("train-loss-not-callable", train_with(loss="mse"), ValueError, "loss must be a callable", small_model),
        case("train-optimizer-str", train_with(optimizer="sgd"), ValueError, "optimizer must be", small_model),
        case("train-batches-not-callable", train_with(batches=[DATA]), ValueError, "batches must be", small_model),
        case("train-steps-zero", train_with(steps=0), ValueError, "steps", small_model),
        case("train-steps-bool", train_with(steps=True), ValueError, "steps", small_model),
        case(
            "train-checkpoint_every-zero", train_with(checkpoint_every=0), ValueError, "checkpoint_every", small_model
        ),
        case("train-checkpoint_dir-int", train_with(checkpoint_dir=5), ValueError, "checkpoint_dir", small_model),
        case("train-strategy-str", train_with(strategy="mirrored"), ValueError, "strategy", small_model),
        # the notebook runner: every row with a book on disk, which must stay as it was
        case(
            "runner-parameter-no-equals",
            lambda _: runner.parse_parameter("quick"),
            RunnerError,
            "'quick' must look like name=value",
        ),
        case("runner-parameter-no-name", lambda _: runner.parse_parameter("=3"), RunnerError, "'=3'"),
        case(
            "runner-parameter-name-not-identifier",
            lambda _: runner.parse_parameter("not-an-identifier=1"),
            RunnerError,
            "'not-an-identifier' .* not a Python identifier",
        ),
        case(
            "runner-parameter-no-value",
            lambda _: runner.parse_parameter("seed="),
            RunnerError,
            "'seed' .* has no value",
        ),
        case(
            "runner-parameter-malformed-value",
            lambda _: runner.parse_parameter("sizes=[1, 2"),
            RunnerError,
            r"'sizes': '\[1, 2' is not a valid Python literal",
        ),
        case(
            "runner-parameter-unknown-notebook",
            lambda root: run_book(root, parameters=["nope:seed=1"]),
            RunnerError,
            "nope:seed names no notebook",
            book,
        ),
        case("runner-timeout-zero", lambda root: run_book(root, timeout=0), RunnerError, "timeout", book),
        case("runner-timeout-NaN", lambda root: run_book(root, timeout=float("nan")), RunnerError, "timeout", book),
        case(
            "runner-out-under-a-file",
            lambda s: run_book(s.root, out_root=s.file / "out"),
            RunnerError,
            "output folder .*a_file/out .*--out",
            book_and_file,
        ),
        case(
            "runner-out-is-a-file",
            lambda s: run_book(s.root, out_root=s.file),
            RunnerError,
            "output folder .*a_file .*--out",
            book_and_file,
        ),
        case(
            "runner-out-in-proc",
            lambda root: run_book(root, out_root="/proc/softsom-out"),
            RunnerError,
            "output folder /proc/softsom-out",
            book,
        ),
        case(
            "runner-toc-not-yaml",
            runner.toc_notebooks,
            RunnerError,
            "_toc.yml is not valid YAML",
            book_with("_toc.yml", "chapters: [unclosed\n"),
        ),
        case(
            "runner-notebook-not-json",
            run_book,
            RunnerError,
            "parameters of .*notebooks/a.ipynb",
            book_with("notebooks/a.ipynb", "{not json"),
        ),
    ]


BAD_INPUTS = other_rows() + setting_rows() + data_rows() + layer_rows() + op_rows()


def test_the_table_has_at_least_150_distinct_rows():
    names = [row.id for row in BAD_INPUTS]
    assert len(names) == len(set(names)) and len(names) >= 150, len(names)


@pytest.mark.parametrize("call, error, pattern, subject", BAD_INPUTS)
def test_bad_input_names_the_argument_and_changes_nothing(call, error, pattern, subject, tmp_path):
    target = subject(tmp_path) if subject is not None else None
    before = frozen(target), files(tmp_path)
    with pytest.raises(error, match=pattern):
        call(target if subject is not None else tmp_path)
    assert (frozen(target), files(tmp_path)) == before
    for name, array in SHARED.items():
        np.testing.assert_array_equal(array, SHARED_BEFORE[name], err_msg=name)


def test_a_failed_partial_fit_then_works_once_decay_samples_is_set():
    """The partial_fit that raised for want of decay_samples left the map unfitted; setting it is enough."""
    som = KohonenSOM((3, 3), random_state=0)
    with pytest.raises(ValueError, match="decay_samples"):
        som.partial_fit(DATA)
    assert not hasattr(som, "embedding_")
    som.decay_samples = 100
    som.partial_fit(DATA)
    assert som.n_samples_seen_ == len(DATA)


def test_a_failed_fit_keeps_the_grid_the_map_was_fitted_on():
    som = copy.deepcopy(_fitted())
    before = som.transform(DATA)
    som.grid, som.neighbourhood = (4, 4), "gaussain"
    with pytest.raises(ValueError, match="neighbourhood"):
        som.fit(DATA)
    assert som.grid_ == Grid((3, 3))
    np.testing.assert_array_equal(som.transform(DATA), before)


def test_runner_fails_before_running_anything(tmp_path):
    """A bad output folder is found before any notebook runs (a run takes minutes)."""
    root = make_project(tmp_path, {"a": ["open('ran', 'w')"]})
    with pytest.raises(RunnerError, match="output folder"):
        runner.run(root=root, out_root=root / "_toc.yml" / "out", build_html=False)
    assert not (root / "notebooks" / "ran").exists()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--only", "nonexistent"], "--only names nonexistent"),
        (["--out", "{root}/notebooks/a.ipynb/out"], "output folder .*a.ipynb/out"),
        (["-p", "seeds=(1, 2"], r"'seeds': '\(1, 2' is not a valid Python literal"),
        (["--timeout", "nan"], "timeout"),
    ],
)
def test_command_line_reports_bad_input_with_status_2(tmp_path, capsys, arguments, message):
    root = book(tmp_path)
    assert runner.main(["--root", str(root), *(a.format(root=root) for a in arguments)]) == 2
    assert re.fullmatch(f"error: .*{message}.*\n", capsys.readouterr().err)


def test_python_m_runner_exits_with_status_2_and_one_line(tmp_path):
    command = [sys.executable, "-m", "tools.book.runner", "--root", str(book(tmp_path)), "--only", "nonexistent"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 2, completed.stderr
    # The report is the last line (library start-up logs may come first), with no traceback.
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines()[-1].startswith("error: --only names nonexistent")


# -- an empty batch is valid and gives an empty result ---------------------------------
# (soft_som and hard_som: tests/test_ops.py, batch shapes (0,) and (0, 3).)


def test_soft_som_layer_maps_an_empty_batch_and_learns_nothing_from_it():
    layer = SoftSOM((3, 3), embedding_update="kohonen")
    layer.build((None, 3))
    before = layer.embedding.numpy()
    for training in (False, True):
        assert layer(np.zeros((0, 3), np.float32), training=training).shape == (0, 2)
    # The Kohonen update divides by the batch size: an empty batch must not turn the map into NaN.
    np.testing.assert_array_equal(layer.embedding.numpy(), before)
    assert layer.samples_seen.numpy() == 0


@pytest.mark.parametrize("method, shape", [("winner", (0,)), ("transform", (0, 2))])
def test_kohonen_maps_an_empty_batch(method, shape):
    out = getattr(_fitted(), method)(np.zeros((0, 3)))
    assert out.shape == shape


# -- non-finite rows: partial_fit leaves them out, visibly -----------------------------------


@pytest.mark.parametrize("mode, batch_size", [("online", None), ("batch", None), ("batch", 8)])
def test_partial_fit_leaves_out_non_finite_rows_with_a_warning(mode, batch_size):
    bad = DATA.copy()
    bad[[2, 7], 1] = np.nan
    bad[11, 0] = np.inf
    finite = np.delete(DATA, [2, 7, 11], axis=0)
    settings = dict(mode=mode, batch_size=batch_size, random_state=0, decay_samples=100)
    first = KohonenSOM((3, 3), **settings).partial_fit(finite)
    som = KohonenSOM((3, 3), **settings).partial_fit(finite)
    with pytest.warns(RuntimeWarning, match="left out 3 row"):
        som.partial_fit(bad)
    first.partial_fit(finite)
    np.testing.assert_array_equal(som.embedding_, first.embedding_)
    assert np.all(np.isfinite(som.embedding_))
    assert som.n_samples_seen_ == 2 * len(finite) and som.n_samples_skipped_ == 3


def test_partial_fit_of_only_non_finite_rows_changes_nothing_but_the_count():
    som = copy.deepcopy(_fitted())
    before = som.embedding_.copy(), som.n_samples_seen_
    with pytest.warns(RuntimeWarning, match="left out 2 row"):
        som.partial_fit(np.full((2, 3), np.nan))
    np.testing.assert_array_equal(som.embedding_, before[0])
    assert som.n_samples_seen_ == before[1] and som.n_samples_skipped_ == 2
