"""Bad input to the public entry points fails with an error naming the argument.

One table, ``BAD_INPUTS``: each case is a call, the exception it must raise and
a regular expression that the message must match, which names the offending
argument. More cases live beside the features they guard (``pytest.raises``
in test_grid.py, test_ops.py, test_kohonen.py, test_layers.py,
test_manifold_data.py, test_runner.py); this table holds the others.
"""

import functools
import re
import subprocess
import sys

import numpy as np
import pytest

from softsom import Grid, KohonenSOM, SoftSOM, hard_som, soft_som, two_spirals
from softsom.datasets import spiral_curve
from tests.test_runner import make_project
from tools.book import runner
from tools.book.runner import RunnerError

POINTS = np.zeros((5, 3))
EMBEDDING = np.arange(12.0).reshape(4, 3)
COORDS = Grid((2, 2)).coords
NAN_POINTS = np.array([[0.0, np.nan, 1.0]])
INF_EMBEDDING = np.where(np.eye(4, 3) == 1, np.inf, EMBEDDING)


@functools.cache
def fitted_map():
    """A small KohonenSOM fitted on 3-feature data, shared by the cases that use a map."""
    return KohonenSOM((3, 3), random_state=0).fit(np.random.default_rng(0).normal(size=(30, 3)))


def book(tmp_path):
    """A one-chapter book (notebooks/a.ipynb) in ``tmp_path``."""
    return make_project(tmp_path, {"a": []})


def run_book(tmp_path, **kwargs):
    """``runner.run`` on :func:`book`, without building the HTML."""
    return runner.run(root=book(tmp_path), build_html=False, **kwargs)


def regular_file(tmp_path):
    """A regular file where the runner expects a folder: not writable into, even for root."""
    path = tmp_path / "a_file"
    path.write_text("")
    return path


def corrupt_notebook(tmp_path):
    root = book(tmp_path)
    (root / "notebooks" / "a.ipynb").write_text("{not json")
    return runner.run(root=root, build_html=False)


def unparsable_toc(tmp_path):
    root = book(tmp_path)
    (root / "_toc.yml").write_text("chapters: [unclosed\n")
    return runner.toc_notebooks(root)


def case(name, call, error, pattern, *marks):
    """One row: ``call(tmp_path)`` must raise ``error`` with a message matching ``pattern``."""
    return pytest.param(call, error, pattern, id=name, marks=marks)


BAD_INPUTS = [
    # Grid(shape)
    case("Grid-shape-set", lambda _: Grid({3, 4}), ValueError, "grid shape"),
    case("Grid-shape-2d-array", lambda _: Grid(np.array([[3, 4]])), ValueError, "grid shape"),
    case("Grid-shape-integral-float", lambda _: Grid((3.0, 4)), ValueError, "grid shape"),
    case("Grid-shape-too-many-nodes", lambda _: Grid((2**40, 2**40)), ValueError, "grid shape .* nodes"),
    # KohonenSOM
    case("KohonenSOM-grid-int", lambda _: KohonenSOM(5).fit(POINTS), ValueError, "grid shape"),
    case(
        "KohonenSOM-random_state-str",
        lambda _: KohonenSOM((3, 3), random_state="abc").fit(POINTS),
        ValueError,
        "random_state",
    ),
    case("KohonenSOM.fit-X-complex", lambda _: KohonenSOM((3, 3)).fit(POINTS + 1j), ValueError, "X"),
    case("KohonenSOM.fit-X-numeric-strings", lambda _: KohonenSOM((3, 3)).fit(POINTS.astype(str)), ValueError, "X"),
    case("KohonenSOM.transform-X-rank-1", lambda _: fitted_map().transform(np.zeros(3)), ValueError, "X must be 2-D"),
    case("KohonenSOM.winner-X-NaN", lambda _: fitted_map().winner(NAN_POINTS), ValueError, "X contains NaN"),
    # soft_som / hard_som
    case("soft_som-beta-None", lambda _: soft_som(POINTS, EMBEDDING, COORDS, None), ValueError, "beta"),
    case("soft_som-points-complex", lambda _: soft_som(POINTS + 1j, EMBEDDING, COORDS, 1.0), ValueError, "points"),
    case("soft_som-points-NaN", lambda _: soft_som(NAN_POINTS, EMBEDDING, COORDS, 1.0), ValueError, "points"),
    case("soft_som-embedding-inf", lambda _: soft_som(POINTS, INF_EMBEDDING, COORDS, 1.0), ValueError, "embedding"),
    case(
        "soft_som-coords-NaN",
        lambda _: soft_som(POINTS, EMBEDDING, np.full_like(COORDS, np.nan), 1.0),
        ValueError,
        "coords",
    ),
    case("hard_som-points-NaN", lambda _: hard_som(NAN_POINTS, EMBEDDING, COORDS), ValueError, "points"),
    # SoftSOM
    case("SoftSOM-grid_shape-int", lambda _: SoftSOM(5), ValueError, "grid shape"),
    case("SoftSOM-beta-inf", lambda _: SoftSOM((3, 3), beta=float("inf")), ValueError, "beta"),
    case(
        "SoftSOM-learning_rate-one-value", lambda _: SoftSOM((3, 3), learning_rate=(0.1,)), ValueError, "learning_rate"
    ),
    case("SoftSOM-decay_samples-bool", lambda _: SoftSOM((3, 3), decay_samples=True), ValueError, "decay_samples"),
    case(
        "SoftSOM.from_kohonen-beta-negative",
        lambda _: SoftSOM.from_kohonen(fitted_map(), beta=-1.0),
        ValueError,
        "beta",
    ),
    case(
        "SoftSOM-inputs-other-n",
        lambda _: SoftSOM.from_kohonen(fitted_map(), beta=1.0)(np.zeros((2, 4))),
        ValueError,
        r"points \[\.\.\., n\] and embedding \[K, n\] must have the same n",
    ),
    case("SoftSOM-inputs-scalar", lambda _: SoftSOM((3, 3))(np.float32(1.0)), ValueError, "inputs"),
    case("SoftSOM-inputs-strings", lambda _: SoftSOM((3, 3))(np.array([["a", "b", "c"]])), ValueError, "inputs"),
    # two_spirals / spiral_curve
    case("two_spirals-n_per_class-str", lambda _: two_spirals("10"), ValueError, "n_per_class"),
    case("two_spirals-turns-str", lambda _: two_spirals(10, turns="3"), ValueError, "turns"),
    case("two_spirals-turns-ignored-by-classic", lambda _: two_spirals(None, turns=-1), ValueError, "turns"),
    case("two_spirals-noise-inf", lambda _: two_spirals(10, noise=float("inf")), ValueError, "noise"),
    case("two_spirals-seed-str", lambda _: two_spirals(10, seed="abc"), ValueError, "seed"),
    case("two_spirals-seed-negative", lambda _: two_spirals(10, seed=-1), ValueError, "seed"),
    case("two_spirals-fractions-str", lambda _: two_spirals(10, fractions=("a", "b", "c")), ValueError, "fractions"),
    case("two_spirals-fractions-NaN", lambda _: two_spirals(10, fractions=(np.nan, 0.5, 0.5)), ValueError, "fractions"),
    case("spiral_curve-turns-None", lambda _: spiral_curve(10, turns=None), ValueError, "turns"),
    # the notebook runner
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
    case("runner-parameter-no-value", lambda _: runner.parse_parameter("seed="), RunnerError, "'seed' .* has no value"),
    case(
        "runner-parameter-malformed-value",
        lambda _: runner.parse_parameter("sizes=[1, 2"),
        RunnerError,
        r"'sizes': '\[1, 2' is not a valid Python literal",
    ),
    case(
        "runner-parameter-unknown-notebook",
        lambda tmp: run_book(tmp, parameters=["nope:seed=1"]),
        RunnerError,
        "nope:seed names no notebook",
    ),
    case("runner-timeout-zero", lambda tmp: run_book(tmp, timeout=0), RunnerError, "timeout"),
    case("runner-timeout-NaN", lambda tmp: run_book(tmp, timeout=float("nan")), RunnerError, "timeout"),
    case(
        "runner-out-under-a-file",
        lambda tmp: run_book(tmp, out_root=regular_file(tmp) / "out"),
        RunnerError,
        "output folder .*a_file/out .*--out",
    ),
    case(
        "runner-out-is-a-file",
        lambda tmp: run_book(tmp, out_root=regular_file(tmp)),
        RunnerError,
        "output folder .*a_file .*--out",
    ),
    case(
        "runner-out-in-proc",
        lambda tmp: run_book(tmp, out_root="/proc/softsom-out"),
        RunnerError,
        "output folder /proc/softsom-out",
    ),
    case("runner-toc-not-yaml", unparsable_toc, RunnerError, "_toc.yml is not valid YAML"),
    case("runner-notebook-not-json", corrupt_notebook, RunnerError, "parameters of .*notebooks/a.ipynb"),
]


@pytest.mark.parametrize("call, error, pattern", BAD_INPUTS)
def test_bad_input_names_the_argument(call, error, pattern, tmp_path):
    with pytest.raises(error, match=pattern):
        call(tmp_path)


def test_runner_fails_before_running_anything(tmp_path):
    """A bad output folder is found before any notebook runs (a run takes minutes)."""
    root = make_project(tmp_path, {"a": ["open('ran', 'w')"]})
    with pytest.raises(RunnerError, match="output folder"):
        runner.run(root=root, out_root=regular_file(tmp_path) / "out", build_html=False)
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
    out = getattr(fitted_map(), method)(np.zeros((0, 3)))
    assert out.shape == shape
