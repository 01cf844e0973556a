"""The pins: one exact-pin requirements file, mirrored by environment.yml."""

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.test_layout import imported

ROOT = Path(__file__).resolve().parents[1]


def pins_from(lines):
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"not an exact pin: {line}"
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{name} is pinned twice"
        pins[name] = specifiers[0].version
    return pins


def requirements_pins():
    return pins_from((ROOT / "requirements.txt").read_text().splitlines())


def test_requirements_are_exact_pins_of_the_decided_toolchain():
    pins = requirements_pins()
    assert pins["tensorflow-cpu"] == "2.21.0"
    assert pins["jupyter-book"] == "1.0.4.post1"
    for name in ("numpy", "matplotlib", "papermill", "sphinxcontrib-bibtex", "myst-nb", "minisom"):
        assert name in pins
    assert "tensorflow" not in pins and "tf-keras" not in pins


def test_environment_yml_mirrors_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict)]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip: section"
    conda = [dep for dep in env["dependencies"] if isinstance(dep, str)]
    assert any(dep.startswith("python=") for dep in conda) and "pip" in conda
    env_pins = pins_from(pip_sections[0])
    req_pins = requirements_pins()
    missing = sorted(set(req_pins) - set(env_pins))
    extra = sorted(set(env_pins) - set(req_pins))
    differ = sorted(name for name in set(req_pins) & set(env_pins) if req_pins[name] != env_pins[name])
    assert not (missing or extra or differ), (
        f"environment.yml and requirements.txt disagree: missing {missing}, extra {extra}, different versions {differ}"
    )
    assert "tensorflow-cpu" in env_pins  # TensorFlow comes from pip, not conda


def third_party_imports(path):
    """Top-level names of the non-stdlib modules a file imports (relative imports left out)."""
    return {name for name in imported(path) if name not in sys.stdlib_module_names}


def owners(module):
    return {canonicalize_name(d) for d in metadata.packages_distributions().get(module, [])}


def test_the_library_imports_only_its_declared_dependencies():
    """src/softsom imports its base requirements, TensorFlow (checked at import, installed by the user or
    an extra) and, in softsom.plotting only, Matplotlib (the ``plot`` extra)."""
    declared = [Requirement(spec) for spec in metadata.requires("softsom")]
    base = {canonicalize_name(r.name) for r in declared if r.marker is None}
    plot = {canonicalize_name(r.name) for r in declared if r.marker and r.marker.evaluate({"extra": "plot"})}
    for module in sorted((ROOT / "src" / "softsom").glob("*.py")):
        allowed = base | (plot if module.stem == "plotting" else set())
        for name in third_party_imports(module) - {"softsom", "tensorflow"}:
            assert owners(name) & allowed, (
                f"softsom/{module.name} imports {name}, which no declared dependency provides"
            )


def test_everything_else_imports_only_pinned_packages():
    """The experiments, the tools, the benchmarks and the tests import what requirements.txt pins."""
    pinned = set(requirements_pins())
    ours = {"softsom", "experiments", "tools", "benchmarks", "tests"}
    for folder in ("experiments", "tools", "benchmarks", "tests"):
        for module in sorted((ROOT / folder).rglob("*.py")):
            for name in third_party_imports(module) - ours:
                assert owners(name) & pinned, f"{module.relative_to(ROOT)} imports {name}, which no pin provides"


def test_pre_commit_runs_what_make_lint_runs():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    entries = [hook["entry"] for repo in config["repos"] for hook in repo["hooks"]]
    assert entries == [".venv/bin/ruff check --force-exclude", ".venv/bin/ruff format --check --force-exclude"]
    makefile = (ROOT / "Makefile").read_text()
    assert "ruff check ." in makefile and "ruff format --check ." in makefile
    completed = subprocess.run(
        [Path(sys.executable).parent / "pre-commit", "validate-config", ".pre-commit-config.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
