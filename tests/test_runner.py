"""The papermill runner on small throwaway projects."""

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tools.book import runner
from tools.book.runner import RunnerError, parse_parameter


def write_notebook(path, *sources, parameters="quick = False"):
    nb = new_notebook(metadata={"kernelspec": {"name": "softsom", "display_name": "softsom", "language": "python"}})
    nb.cells.append(new_markdown_cell("# A chapter"))
    if parameters is not None:
        nb.cells.append(new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells.extend(new_code_cell(source) for source in sources)
    nbformat.write(nb, path)


def make_project(tmp_path, notebooks):
    """A book folder with a _toc.yml listing ``notebooks`` ({stem: cell sources})."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    chapters = "".join(f"  - file: notebooks/{stem}\n" for stem in notebooks)
    (tmp_path / "_toc.yml").write_text(f"format: jb-book\nroot: book/intro\nchapters:\n{chapters}")
    for stem, sources in notebooks.items():
        write_notebook(tmp_path / "notebooks" / f"{stem}.ipynb", *sources)
    return tmp_path


def test_failure_is_reported_and_the_rest_still_run(tmp_path, capsys):
    root = make_project(
        tmp_path,
        {
            "a_fails": ["x = 1", "1 / 0", "open('not_reached', 'w')"],
            "b_ok": ["open('b_ran', 'w').write(str(quick))"],
        },
    )
    before = {p.name: p.read_bytes() for p in (root / "notebooks").iterdir()}
    status = runner.run(root=root, quick=True, build_html=False)
    err = capsys.readouterr().err
    assert status == 1
    # Cells count from 1 in the source notebook: markdown, parameters, x = 1, 1 / 0.
    assert "notebooks/a_fails.ipynb: cell 4: ZeroDivisionError: division by zero" in err
    assert "1 of 2 notebooks failed" in err
    # b ran after the failure, in its own folder, with the injected quick=True.
    assert (root / "notebooks" / "b_ran").read_text() == "True"
    assert not (root / "notebooks" / "not_reached").exists()
    # notebooks/ holds only what the notebooks themselves wrote; the sources are untouched.
    after = {p.name: p.read_bytes() for p in (root / "notebooks").iterdir() if p.suffix == ".ipynb"}
    assert after == before
    executed = root / "_build" / "executed" / "notebooks"
    assert (executed / "a_fails.ipynb").is_file() and (executed / "b_ok.ipynb").is_file()
    timings = json.loads((root / "_build" / "executed" / "timings.json").read_text())
    assert [(t["notebook"], t["error"] is None, t["mode"]) for t in timings] == [
        ("notebooks/a_fails.ipynb", False, "quick"),
        ("notebooks/b_ok.ipynb", True, "quick"),
    ]


def test_hanging_cell_is_stopped_by_the_timeout(tmp_path, capsys):
    root = make_project(tmp_path, {"slow": ["import time", "time.sleep(120)"]})
    assert runner.run(root=root, quick=True, build_html=False, timeout=3) == 1
    err = capsys.readouterr().err
    assert "notebooks/slow.ipynb: cell 4:" in err
    assert "timed out" in err.lower() or "timeout" in err.lower()


def test_parameters_reach_only_their_notebook(tmp_path):
    root = make_project(tmp_path, {"a": [], "b": []})
    for stem in ("a", "b"):
        write_notebook(
            root / "notebooks" / f"{stem}.ipynb",
            f"open('{stem}.out', 'w').write(repr((quick, size)))",
            parameters="quick = False\nsize = 1",
        )
    assert runner.run(root=root, parameters=["size=2", "b:size=[3, 4]"], build_html=False) == 0
    assert (root / "notebooks" / "a.out").read_text() == "(False, 2)"
    assert (root / "notebooks" / "b.out").read_text() == "(False, [3, 4])"


def test_executed_page_hides_the_injected_parameters(tmp_path):
    root = make_project(tmp_path, {"a": ["quick"]})
    assert runner.run(root=root, quick=True, build_html=False) == 0
    nb = nbformat.read(root / "_build" / "executed" / "notebooks" / "a.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata.tags
    assert nb.cells[-1].outputs[0]["data"]["text/plain"] == "True"


def test_unknown_parameter_is_an_error_before_anything_runs(tmp_path):
    root = make_project(tmp_path, {"a": ["open('ran', 'w')"]})
    with pytest.raises(RunnerError, match="unknown parameter 'seeds'.*declares quick"):
        runner.run(root=root, parameters=["seeds=3"], build_html=False)
    assert not (root / "notebooks" / "ran").exists()


def test_notebook_without_quick_parameter_is_an_error(tmp_path):
    root = make_project(tmp_path, {"a": []})
    write_notebook(root / "notebooks" / "a.ipynb", "1", parameters="seed = 0")
    with pytest.raises(RunnerError, match="no `quick`"):
        runner.run(root=root, build_html=False)


def test_toc_entry_without_a_file_is_an_error(tmp_path):
    root = make_project(tmp_path, {"a": []})
    (root / "notebooks" / "a.ipynb").unlink()
    with pytest.raises(RunnerError, match="notebooks/a"):
        runner.toc_notebooks(root)


def test_missing_toc_is_an_error(tmp_path):
    with pytest.raises(RunnerError, match="_toc.yml"):
        runner.toc_notebooks(tmp_path)


def test_only_must_name_a_chapter(tmp_path):
    root = make_project(tmp_path, {"a": []})
    with pytest.raises(RunnerError, match="--only names nope"):
        runner.run(root=root, only=["nope"], build_html=False)


def test_command_line_reports_errors_with_status_2(tmp_path, capsys):
    root = make_project(tmp_path, {"a": []})
    assert runner.main(["--root", str(root), "-p", "missing_equals"]) == 2
    assert "name=value" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, expected",
    [
        ("quick=True", (None, "quick", True)),
        ("seed=3", (None, "seed", 3)),
        ("beta=0.5", (None, "beta", 0.5)),
        ("sizes=[1, 2]", (None, "sizes", [1, 2])),
        ("name=plain text", (None, "name", "plain text")),
        ("03_spirals:seeds=10", ("03_spirals", "seeds", 10)),
        # Bare strings that do not start like a literal: paths, relative ones too.
        ("results_path=../results/spiral.json", (None, "results_path", "../results/spiral.json")),
        ("results_path=/tmp/spiral.json", (None, "results_path", "/tmp/spiral.json")),
        ("name=''", (None, "name", "")),
    ],
)
def test_parse_parameter(text, expected):
    assert parse_parameter(text) == expected


def test_timing_table_lists_every_notebook():
    runs = [
        runner.NotebookRun("notebooks/a.ipynb", 1.25, mode="quick"),
        runner.NotebookRun("notebooks/b.ipynb", 2.0, "cell 2: boom"),
    ]
    table = runner.timing_table(runs)
    assert "notebooks/a.ipynb  quick" in table and "full" in table and "FAILED" in table and "3.2" in table
