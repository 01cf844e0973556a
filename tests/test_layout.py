"""The layout: the library imports nothing of the rest, the experiments run without the book
toolchain, every module's ``__all__`` is its public API, and TensorFlow's absence is a clear error."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "softsom": ROOT / "src" / "softsom",
    "experiments": ROOT / "experiments",
    "tools": ROOT / "tools",
    "benchmarks": ROOT / "benchmarks",
}
BOOK_TOOLCHAIN = {
    "papermill",
    "nbformat",
    "nbclient",
    "jupyter_client",
    "jupyter_book",
    "myst_nb",
    "sphinx",
    "IPython",
    "ipykernel",
    "playwright",
}


def modules(package):
    folder = PACKAGES[package]
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).with_suffix("").parts
        yield ".".join((package, *parts)).removesuffix(".__init__"), path


def imported(path):
    """Top-level names of the absolute imports of a file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("name, path", list(modules("softsom")), ids=lambda v: str(v))
def test_the_library_imports_nothing_outside_itself(name, path):
    assert not imported(path) & {"experiments", "tools", "benchmarks", "tests"}, name


@pytest.mark.parametrize("name, path", list(modules("experiments")), ids=lambda v: str(v))
def test_the_experiments_need_no_book_toolchain(name, path):
    assert not imported(path) & (BOOK_TOOLCHAIN | {"tests"}), name


def public_definitions(path):
    """Names of the functions, classes and constants a module defines without a leading underscore."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return {n for n in names if not n.startswith("_")} - {"main", "setup"}


ALL_MODULES = [
    (name, path)
    for package in ("softsom", "experiments", "tools")
    for name, path in modules(package)
    if not path.name == "__init__.py"
]


@pytest.mark.parametrize("name, path", ALL_MODULES, ids=lambda v: str(v))
def test_all_lists_every_public_definition(name, path):
    tree = ast.parse(path.read_text())
    listed = next(
        (
            ast.literal_eval(node.value)
            for node in tree.body
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets)
        ),
        None,
    )
    assert listed is not None, f"{name} has no __all__"
    missing = public_definitions(path) - set(listed)
    assert not missing, f"{name}.__all__ misses {sorted(missing)}"
    module = importlib.import_module(name)
    assert all(hasattr(module, item) for item in listed), f"{name}.__all__ names something it does not define"


def test_the_public_names_import_from_softsom():
    import softsom

    for name in ("Grid", "KohonenSOM", "soft_som", "hard_som", "SoftSOM", "two_spirals"):
        assert name in softsom.__all__ and getattr(softsom, name) is not None


def test_without_tensorflow_import_softsom_says_what_to_install():
    # A stand-in for a machine without TensorFlow: the import of tensorflow fails.
    code = "import sys; sys.modules['tensorflow'] = None\nimport softsom"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert completed.returncode != 0
    assert "softsom needs TensorFlow >= 2.16" in completed.stderr and "pip install tensorflow" in completed.stderr


def test_import_softsom_registers_the_layer_with_keras():
    code = "import keras, softsom\nassert keras.saving.get_registered_object('softsom>SoftSOM') is softsom.SoftSOM"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True)
