"""The benchmark suite (`python -m benchmarks`) and its results file (benchmarks.schema)."""

import copy
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from benchmarks.schema import bench_table, figure, load_bench, save_bench, skipped_figure, validate

ROOT = Path(__file__).resolve().parents[1]
OURS = ("ours_eager", "ours_function", "ours_jit")


def run_suite(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The quick suite's output file and printed table; run once for the module."""
    output = tmp_path_factory.mktemp("bench") / "bench.json"
    output.write_text("previous contents\n")  # replaced by the run
    result = run_suite("--quick", "--output", output)
    assert result.returncode == 0, result.stderr[-3000:]
    return output, result.stdout


def figures_by_id(data):
    return {fig["id"]: fig for fig in data["figures"]}


def test_quick_run_writes_a_valid_file(quick):
    output, stdout = quick
    data = load_bench(output)
    measured = data["provenance"]
    assert measured["mode"] == "quick"
    assert set(measured["machine"]) == {"cpu_model", "logical_cores", "total_memory_bytes", "platform"}
    assert measured["machine"]["logical_cores"] >= 1 and measured["machine"]["total_memory_bytes"] > 0
    assert set(measured["versions"]) == {"softsom", "tensorflow", "keras", "numpy", "minisom"}
    assert measured["versions"]["minisom"] == "2.3.6"
    assert "git_commit" in measured and measured["python"]
    datetime.fromisoformat(measured["date"])
    assert "| figure |" in stdout and str(output) in stdout
    assert not [p for p in output.parent.iterdir() if p.name.endswith(".tmp")]


def test_op_figures_cover_every_contender_and_target(quick):
    figures = figures_by_id(load_bench(quick[0]))
    for label in ("64x16x8", "32x64x4"):
        for name in (*OURS, "matmul_fwd", "matmul_fwd_bwd", "broadcast"):
            fig = figures[f"op/{label}/{name}/time"]
            assert fig["unit"] == "ms" and fig["repeats"] == 2 and 0 < fig["min"] <= fig["max"]
        for name in OURS:
            floor = figures[f"op/{label}/{name}/ratio_to_matmul_fwd_bwd"]
            assert floor["target"] == {"comparison": "<=", "value": 3.0, "checked_against": "matmul_fwd_bwd"}
            assert floor["met"] == (floor["median"] <= 3.0)
            assert figures[f"op/{label}/{name}/ratio_to_matmul_fwd"]["target"] is None
    # The speed-up over the broadcast has its target at one shape only.
    assert figures["op/64x16x8/ours_function/speedup_over_broadcast"]["target"]["value"] == 20.0
    assert figures["op/32x64x4/ours_function/speedup_over_broadcast"]["target"] is None


def test_memory_and_kohonen_figures(quick):
    figures = figures_by_id(load_bench(quick[0]))
    for name in ("ours_function", "matmul_fwd_bwd", "broadcast"):
        rss = figures[f"memory/256x64x16/{name}/rss_peak"]
        assert rss["unit"] == "MiB" and rss["repeats"] == 1
        assert figures[f"memory/256x64x16/{name}/allocator_peak"]["repeats"] == 2
    assert figures["memory/256x64x16/ours_function/rss_peak_per_bk"]["target"]["comparison"] == "<="
    for fig_id in (
        "kohonen/minisom/us_per_sample",
        "kohonen/online/speedup_over_minisom",
        "kohonen/online/qe_relative_difference",
        "kohonen/batch/speedup_over_minisom",
        "kohonen/batch/qe_relative_difference",
        "kohonen/batch/te_difference",
    ):
        fig = figures[fig_id]
        assert fig["skipped"] is None and fig["repeats"] == 2, fig_id


def test_bad_output_argument_is_a_value_error_and_leaves_files_alone(tmp_path):
    result = run_suite("--quick", "--output", tmp_path / "missing" / "bench.json")
    assert result.returncode != 0
    assert "ValueError" in result.stderr and "--output" in result.stderr
    result = run_suite("--quick")
    assert result.returncode != 0 and "--output is required with --quick" in result.stderr


# --- benchmarks.schema: schema, writer, readers ------------------------------------------


def document():
    return {
        "schema_version": 2,
        "provenance": {
            "mode": "quick",
            "date": "2025-01-01T00:00:00+00:00",
            "git_commit": None,
            "python": "3.11.7",
            "versions": dict.fromkeys(("softsom", "tensorflow", "keras", "numpy", "minisom"), "1"),
            "machine": {"cpu_model": "cpu", "logical_cores": 2, "total_memory_bytes": 2**30, "platform": "linux"},
            "onednn": None,
        },
        "figures": [
            figure("a/time", "A", "time of a", "ms", [3.0, 1.0, 2.0]),
            figure("a/ratio", "A", "a / b", "x", [2.0, 4.0], target=("<=", 3.0, "b")),
            skipped_figure("b/ratio", "B", "b / c", "x", "too large", target=(">=", 20.0, "c")),
        ],
    }


def test_figure_statistics_and_target():
    fig = figure("a", "s", "d", "x", [5.0, 1.0, 2.0], target=(">=", 2.0, "b"))
    assert (fig["min"], fig["median"], fig["max"], fig["repeats"], fig["met"]) == (1.0, 2.0, 5.0, 3, True)
    assert figure("a", "s", "d", "x", [1.0, 1.5], target=(">=", 2.0, "b"))["met"] is False
    with pytest.raises(ValueError, match="values"):
        figure("a", "s", "d", "x", [])
    with pytest.raises(ValueError, match="comparison"):
        figure("a", "s", "d", "x", [1.0], target=("<", 2.0, "b"))


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("schema_version",), 1, "schema_version"),
        (("provenance", "mode"), "fast", "provenance.mode"),
        (("provenance", "machine", "logical_cores"), "2", "provenance.machine.logical_cores"),
        (("provenance", "versions", "minisom"), None, "provenance.versions.minisom"),
        (("figures", 0, "median"), 10.0, "figures\\[0\\]: min <= median <= max"),
        (("figures", 1, "met"), False, "figures\\[1\\].met disagrees"),
        (("figures", 1, "target", "comparison"), "<", "figures\\[1\\].target.comparison"),
        (("figures", 2, "min"), 1.0, "figures\\[2\\] is skipped"),
        (("figures", 1, "id"), "a/time", "duplicate"),
        (("figures", 0, "max"), float("nan"), "figures\\[0\\].max is not finite"),
    ],
)
def test_validate_names_the_bad_field(path, value, message):
    data = document()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValueError, match=message):
        validate(data)


def test_validate_names_missing_and_unknown_fields():
    for where, field, message in (
        ((), "figures", "^figures is missing"),
        (("provenance",), "date", "provenance.date is missing"),
    ):
        data = document()
        target = data
        for key in where:
            target = target[key]
        del target[field]
        with pytest.raises(ValueError, match=message):
            validate(data)
    data = document()
    data["figures"][0]["extra"] = 1
    with pytest.raises(ValueError, match="figures\\[0\\] has unknown fields \\['extra'\\]"):
        validate(data)


def test_save_and_load_round_trip(tmp_path):
    path = tmp_path / "bench.json"
    save_bench(path, document())
    assert load_bench(path) == json.loads(json.dumps(document()))


def test_failed_save_leaves_the_previous_file_intact(tmp_path):
    path = tmp_path / "bench.json"
    save_bench(path, document())
    before = path.read_bytes()
    broken = copy.deepcopy(document())
    broken["figures"] = []
    with pytest.raises(ValueError, match="figures must be a non-empty list"):
        save_bench(path, broken)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="missing: run `make bench`"):
        load_bench(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json is not valid JSON"):
        load_bench(tmp_path / "bad.json")
    (tmp_path / "old.json").write_text(json.dumps({**document(), "schema_version": 0}))
    with pytest.raises(ValueError, match="old.json: schema_version is 0"):
        load_bench(tmp_path / "old.json")


def test_bench_table_markdown():
    table = bench_table(document())
    assert table.startswith("**A**\n\n| figure | unit | min | median | max | target | met |")
    assert "| a / b | x | 2.000 | 3.000 | 4.000 | <= 3.000 vs b | yes |" in table
    assert "skipped: too large" in table and "**B**" in table
    assert bench_table(document(), section="B").startswith("| figure |")
    with pytest.raises(ValueError, match="section must be one of"):
        bench_table(document(), section="C")
