"""The pins: one exact-pin requirements file, mirrored by environment.yml."""

import ast
import sys
from importlib import metadata
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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
        f"environment.yml and requirements.txt disagree: missing {missing}, "
        f"extra {extra}, different versions {differ}"
    )
    assert "tensorflow-cpu" in env_pins  # TensorFlow comes from pip, not conda


def test_runtime_imports_are_declared_dependencies():
    """Every third-party module the library imports is a declared dependency of softsom.

    The runner's imports (papermill, nbformat, yaml, jupyter_client) belong to the
    ``book`` extra, the browser check's (playwright, pillow) to the ``test`` extra.
    """
    declared = [Requirement(spec) for spec in metadata.requires("softsom")]
    runtime = {canonicalize_name(r.name) for r in declared if r.marker is None}
    def extra(name):
        return {canonicalize_name(r.name) for r in declared if r.marker and r.marker.evaluate({"extra": name})}

    wanted_by = {"runner": extra("book") | runtime, "browser": extra("test") | runtime}
    distributions = metadata.packages_distributions()
    for module in sorted((ROOT / "src" / "softsom").glob("*.py")):
        wanted = wanted_by.get(module.stem, runtime)
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names:
                    continue
                owners = {canonicalize_name(d) for d in distributions.get(top, [])}
                assert owners & wanted, f"{module.name} imports {top}, which no declared dependency provides"
