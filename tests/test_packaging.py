"""The wheel and the sdist: only the library, no second TensorFlow, and a clean install that works.

The distributions are built from the tree (``python -m build``), checked with
``twine check``, and the wheel is installed into a new virtual environment that
already holds the pinned ``tensorflow-cpu`` (from requirements.txt), as a
user's machine holds its own TensorFlow. There the README's library snippet
runs, a saved model with a SoftSOM layer loads after ``import softsom`` alone,
and ``pip check`` is clean.
"""

import os
import re
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "TF_CPP_MIN_LOG_LEVEL": "3"}
pytestmark = pytest.mark.slow

LIBRARY_MODULES = {path.stem for path in (ROOT / "src" / "softsom").glob("*.py")}
# Distributions a base install must never ask for: another TensorFlow, or the book's and tests' tooling.
NOT_IN_BASE = (
    "tensorflow",
    "tensorflow-cpu",
    "matplotlib",
    "scipy",
    "jupyter",
    "papermill",
    "sphinx",
    "ipykernel",
    "nbformat",
    "myst",
    "pytest",
    "minisom",
)


def run(*command, **kwargs):
    completed = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    assert completed.returncode == 0, f"{' '.join(map(str, command))} failed:\n{completed.stdout}\n{completed.stderr}"
    return completed.stdout


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """The sdist and the wheel built from the tree (the wheel from the sdist, as `python -m build` does)."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT)
    (sdist,), (wheel,) = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    return sdist, wheel


def readme_snippet():
    """The README's library example: the first python block under "## Using the library"."""
    section = (ROOT / "README.md").read_text().split("## Using the library", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_wheel_holds_the_library_only(dists):
    names = zipfile.ZipFile(dists[1]).namelist()
    packages = {name.split("/")[0] for name in names}
    assert packages == {"softsom", "softsom-0.1.0.dist-info"}, packages
    modules = {Path(name).stem for name in names if name.startswith("softsom/") and name.endswith(".py")}
    assert modules == LIBRARY_MODULES and {"ops", "layers", "kohonen", "grid"} <= modules


def test_the_sdist_holds_no_book_experiments_or_tools(dists):
    names = tarfile.open(dists[0]).getnames()
    top = {name.split("/")[1] for name in names if name.count("/") >= 1}
    assert {"src", "pyproject.toml", "README.md", "LICENSE"} <= top
    assert not top & {"notebooks", "experiments", "tools", "benchmarks", "book", "results"}, top


def test_base_requirements_name_no_tensorflow_and_no_book_tooling(dists):
    metadata = zipfile.ZipFile(dists[1]).read("softsom-0.1.0.dist-info/METADATA").decode()
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    base = [r for r in requires if "extra ==" not in r]
    assert sorted(re.split(r"[<>=!~ ;\[]", r)[0].lower() for r in base) == ["keras", "numpy", "scikit-learn"]
    for requirement in base:
        assert not requirement.lower().startswith(NOT_IN_BASE), requirement
    extras = {re.search(r'extra == "([^"]+)"', r).group(1) for r in requires if "extra ==" in r}
    assert extras == {"tensorflow", "tensorflow-cpu", "plot"}


def test_twine_check_passes(dists):
    assert "PASSED" in run(sys.executable, "-m", "twine", "check", "--strict", *dists)


@pytest.fixture(scope="module")
def clean_venv(dists, tmp_path_factory):
    """A new venv with the pinned tensorflow-cpu already present, then the wheel installed."""
    env = tmp_path_factory.mktemp("venv") / "env"
    run(sys.executable, "-m", "venv", env)
    python = env / "bin" / "python"
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run(*pip, "-c", ROOT / "requirements.txt", "tensorflow-cpu")
    run(*pip, "-c", ROOT / "requirements.txt", dists[1])
    return python


def installed(python):
    listing = run(python, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check")
    return {line.split("==")[0].lower().replace("_", "-") for line in listing.splitlines()}


def test_the_wheel_installs_beside_an_existing_tensorflow_without_a_second_one(clean_venv):
    names = installed(clean_venv)
    assert "softsom" in names and "tensorflow-cpu" in names
    assert "tensorflow" not in names, "installing softsom added a second TensorFlow distribution"
    # The book's toolchain stays out (scipy does come in: scikit-learn, a dependency, requires it).
    assert not names & {"matplotlib", "papermill", "jupyter-book", "sphinx"}
    run(clean_venv, "-m", "pip", "check", "--disable-pip-version-check")


def test_the_readme_snippet_runs_from_the_installed_wheel(clean_venv, tmp_path):
    script = tmp_path / "snippet.py"
    script.write_text(readme_snippet())
    # Run outside the checkout, so that only the installed wheel can be imported.
    run(clean_venv, script, cwd=tmp_path, env=ENV)
    probe = "import importlib.util, softsom; print(softsom.__file__, importlib.util.find_spec('experiments'))"
    out = run(clean_venv, "-c", probe, cwd=tmp_path, env=ENV)
    assert "site-packages" in out and out.strip().endswith("None")


def test_import_softsom_is_enough_to_load_a_saved_model(clean_venv, tmp_path):
    path = tmp_path / "model.keras"
    save = textwrap.dedent(f"""
        import keras
        from softsom import SoftSOM
        inputs = keras.Input((3,))
        outputs = keras.layers.Dense(2)(SoftSOM((4, 4), beta=2.0, embedding_update="kohonen")(inputs))
        keras.Model(inputs, outputs).save({str(path)!r})
    """)
    load = textwrap.dedent(f"""
        import keras, numpy as np
        import softsom
        model = keras.models.load_model({str(path)!r})
        layer = model.layers[1]
        assert type(layer).__name__ == "SoftSOM" and layer.embedding_update == "kohonen", layer
        print(model(np.zeros((2, 3), "float32")).shape)
    """)
    run(clean_venv, "-c", save, cwd=tmp_path, env=ENV)
    assert run(clean_venv, "-c", load, cwd=tmp_path, env=ENV).strip() == "(2, 2)"
