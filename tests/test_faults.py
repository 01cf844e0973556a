"""Faults around the results files: failing notebooks, interrupted writes, hand edits.

tests/test_runner.py already checks that a failing notebook is reported and the
others still run, and that a hanging cell is stopped; tests/test_atomic.py the
atomic write itself. Here: what those faults leave behind in a results file.
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from experiments import results
from tests.test_runner import make_project, write_notebook
from tools.atomic import TEMPORARY_PATTERN
from tools.book import runner

COMMITTED = Path(__file__).resolve().parents[1] / "results" / "spiral.json"


def committed():
    """A fresh copy of the committed results document."""
    return json.loads(COMMITTED.read_text())


def temporary_files(folder, name="spiral.json"):
    return sorted(folder.glob(TEMPORARY_PATTERN.format(name=name)))


# -- a failing notebook ----------------------------------------------------------------


def test_failing_notebooks_leave_the_results_file_untouched(tmp_path, capsys):
    """One notebook fails while saving an invalid document, one before saving; the third still runs."""
    results_copy = tmp_path / "results" / "spiral.json"
    results_copy.parent.mkdir()
    results_copy.write_bytes(COMMITTED.read_bytes())
    root = make_project(tmp_path, {"a_invalid": [], "b_raises": [], "c_ok": []})
    load = ["from experiments import results", "document = results.load(results_path)"]
    save = "results.save(results_path, document)"
    chapters = {
        "a_invalid": [*load, "document['seeds'].append(99)", save],
        "b_raises": [*load, "raise RuntimeError('stopped before writing')", save],
        "c_ok": ["open('c_ran', 'w').write(results_path)"],
    }
    for stem, cells in chapters.items():
        write_notebook(root / "notebooks" / f"{stem}.ipynb", *cells, parameters="quick = False\nresults_path = ''")

    status = runner.main(["--root", str(root), "--no-build", "-p", f"results_path={results_copy}"])

    assert status == 1
    err = capsys.readouterr().err
    # Cells count from 1: markdown, parameters, then the cells above.
    assert (
        "notebooks/a_invalid.ipynb: cell 6: ValueError: configurations[0].runs has 10 runs, but seeds has 11"
    ) in err
    assert "notebooks/b_raises.ipynb: cell 5: RuntimeError: stopped before writing" in err
    assert "2 of 3 notebooks failed" in err
    assert (root / "notebooks" / "c_ran").read_text() == str(results_copy)
    assert results_copy.read_bytes() == COMMITTED.read_bytes()
    assert list(results_copy.parent.iterdir()) == [results_copy]


# -- interrupted writes ----------------------------------------------------------------

# Importing experiments.results takes seconds, so one server process imports it once
# and forks a writer per trial. Each trial is a line "TARGET" on its standard input;
# the writer saves the two documents alternately to TARGET, says "ready PID" after
# the first complete save, and writes until killed; the server then prints the writer's
# exit code (os.waitstatus_to_exitcode: -N for death by signal N; a KeyboardInterrupt
# exits with 130, as a shell reports Ctrl-C). A writer whose server is gone stops.
WRITER_SERVER = """
import itertools, os, signal, sys
from experiments import results

# Python leaves SIGINT ignored if it started ignored, as it does under a shell that
# runs the test suite in the background: the writers must get Ctrl-C's usual handler.
signal.signal(signal.SIGINT, signal.default_int_handler)

server = os.getpid()
documents = [results.load(path) for path in sys.argv[1:]]
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        try:
            for i in itertools.count():
                if os.getppid() != server:
                    os._exit(1)
                results.save(line.strip(), documents[i % 2])
                if i == 0:
                    print("ready", os.getpid(), flush=True)
        except KeyboardInterrupt:
            os._exit(130)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""
WRITER_TIMEOUT = 30.0  # seconds a signalled writer may take to end
TRIALS = 10  # per signal: half at a random moment, half as soon as a write is under way
EXPECTED_EXIT = {signal.SIGINT: 130, signal.SIGTERM: -signal.SIGTERM, signal.SIGKILL: -signal.SIGKILL}


def large_document(generation, seed_count=160):
    """The committed document with ``seed_count`` seeds (about 1 MB), marked with ``generation``."""
    data = committed()
    data["provenance"]["git_commit"] = f"generation {generation}"
    data["seeds"] = data["classic_seeds"] = list(range(seed_count))
    for section in ("configurations", "references", "classic"):
        for entry in data[section]:
            entry["runs"] = [dict(entry["runs"][seed % len(entry["runs"])], seed=seed) for seed in data["seeds"]]
    return data


@pytest.fixture(scope="module")
def writer_server(tmp_path_factory):
    """The fork server and the exact texts of the two documents it writes."""
    folder = tmp_path_factory.mktemp("documents")
    sources = [folder / f"{generation}.json" for generation in "ab"]
    for generation, path in zip("ab", sources):
        results.save(path, large_document(generation))
    # One thread in the server, so that forking it is safe.
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with subprocess.Popen(
        [sys.executable, "-c", WRITER_SERVER, *map(str, sources)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as server:
        yield server, {path.read_bytes() for path in sources}
        server.kill()  # also ends a writer left running by a failed test


def wait_for_a_write(folder, timeout=30.0):
    """Return once a temporary file shows that a write is under way."""
    deadline = time.monotonic() + timeout
    while not temporary_files(folder):
        assert time.monotonic() < deadline, "no write started"
        time.sleep(0.0002)


@pytest.mark.parametrize("signum", list(EXPECTED_EXIT), ids=lambda s: signal.Signals(s).name)
def test_killed_writer_leaves_a_complete_results_file(writer_server, signum, tmp_path):
    server, texts = writer_server
    rng = random.Random(int(signum))
    for trial in range(TRIALS):
        folder = tmp_path / f"trial{trial}"
        folder.mkdir()
        target = folder / "spiral.json"
        server.stdin.write(f"{target}\n")
        server.stdin.flush()
        ready, writer_pid = server.stdout.readline().split()
        assert ready == "ready"
        if trial % 2:
            wait_for_a_write(folder)
        else:
            time.sleep(rng.uniform(0.0, 0.3))
        os.kill(int(writer_pid), signum)
        # A writer that ignores the signal would hang the suite: SIGKILL it after a while,
        # which then fails the exit-code check below.
        watchdog = threading.Timer(WRITER_TIMEOUT, os.kill, (int(writer_pid), signal.SIGKILL))
        watchdog.start()
        exit_code = int(server.stdout.readline())
        watchdog.cancel()
        assert exit_code == EXPECTED_EXIT[signum], f"trial {trial}: the writer did not end as expected"
        assert target.read_bytes() in texts, f"trial {trial}: {target} is neither complete document"
        results.load(target)
        leftovers = temporary_files(folder)
        if signum == signal.SIGKILL:
            assert len(leftovers) <= 1  # documented in tools.atomic
        else:
            assert leftovers == [], f"trial {trial}: {signal.Signals(signum).name} left {leftovers}"
        assert set(folder.iterdir()) == {target, *leftovers}


def test_stale_temporary_file_does_not_break_loading_or_saving(tmp_path):
    """What a SIGKILL can leave: a half-written temporary file beside the results."""
    target = tmp_path / "spiral.json"
    target.write_bytes(COMMITTED.read_bytes())
    stale = tmp_path / TEMPORARY_PATTERN.format(name=target.name).replace("*", "k1ll3d")
    stale.write_bytes(COMMITTED.read_bytes()[:1000])
    assert results.load(target) == committed()
    changed = committed()
    changed["provenance"]["git_commit"] = "after the crash"
    results.save(target, changed)
    assert results.load(target) == changed
    # Left alone: it could belong to a write still running in another process.
    assert temporary_files(tmp_path) == [stale]


# -- results files edited by hand ------------------------------------------------------


def set_item(container, key, value):
    container[key] = value


SCHEMA_FAULTS = [  # (edit of the committed document, the message after "results file PATH: ")
    (lambda d: d.pop("seeds"), "seeds is missing"),
    (lambda d: set_item(d, "schema_version", 2), "schema_version is 2, expected 4"),
    (lambda d: d["provenance"]["versions"].pop("tensorflow"), r"provenance\.versions\.tensorflow is missing"),
    (lambda d: set_item(d, "provenance", "full"), "provenance must be a JSON object; got str"),
    (lambda d: set_item(d["provenance"], "mode", "fast"), r"provenance\.mode must be one of .*; got 'fast'"),
    (lambda d: d["seeds"].append(99), r"configurations\[0\]\.runs has 10 runs, but seeds has 11"),
    (lambda d: d["classic"][1]["runs"].pop(), r"classic\[1\]\.runs has 4 runs, but classic_seeds has 5"),
    (lambda d: d["classic_seeds"].reverse(), r"classic_seeds must be the first seeds \[0, 1, 2, 3, 4\]; got \[4, 3"),
    (lambda d: set_item(d["seeds"], 1, 0), r"seeds\[1\] repeats seeds\[0\]"),
    (lambda d: set_item(d["seeds"], 0, True), r"seeds\[0\] has the wrong type: expected an int >= 0; got True"),
    (
        lambda d: d["configurations"][0]["runs"].reverse(),
        r"configurations\[0\]\.runs\[0\]\.seed is 9, but seeds\[0\] is 0",
    ),
    (
        lambda d: d["configurations"][0]["runs"][1].pop("test_accuracy"),
        r"configurations\[0\]\.runs\[1\]\.test_accuracy is missing",
    ),
    (
        lambda d: set_item(d["configurations"][1]["runs"][0], "test_log_loss", "low"),
        r"configurations\[1\]\.runs\[0\]\.test_log_loss has the wrong type: expected a number >= 0; got 'low'",
    ),
    (
        lambda d: set_item(d["configurations"][0]["runs"][0], "test_accuracy", float("nan")),
        r"configurations\[0\]\.runs\[0\]\.test_accuracy is not finite",
    ),
    (
        lambda d: set_item(d["configurations"][2]["runs"][3], "test_accuracy", 1.5),
        r"configurations\[2\]\.runs\[3\]\.test_accuracy is out of range: expected a number in \[0, 1\]; got 1.5",
    ),
    (
        lambda d: set_item(d["configurations"][2]["runs"][0], "learned_parameters", -5),
        r"configurations\[2\]\.runs\[0\]\.learned_parameters is out of range: expected an int >= 0; got -5",
    ),
    (
        lambda d: set_item(d["classic"][0]["runs"][0], "epochs_to_100", 2.5),
        r"classic\[0\]\.runs\[0\]\.epochs_to_100 has the wrong type: expected an int >= 0 or null",
    ),
    (
        lambda d: set_item(d["configurations"][0]["runs"][0], "extra", 1),
        r"configurations\[0\]\.runs\[0\] has unknown fields \['extra'\]",
    ),
    (
        lambda d: set_item(d["configurations"][0]["runs"], 2, 0.5),
        r"configurations\[0\]\.runs\[2\] must be a JSON object; got float",
    ),
    (lambda d: set_item(d["configurations"][0], "runs", {}), r"configurations\[0\]\.runs must be a list; got dict"),
    (lambda d: d["classic"][0]["settings"].pop("description"), r"classic\[0\]\.settings\.description is missing"),
    (
        lambda d: set_item(d["configurations"][1]["settings"], "name", "pure_nn_1"),
        r"configurations\[1\]\.settings\.name 'pure_nn_1' is already used by configurations\[0\]",
    ),
    (lambda d: set_item(d, "configurations", []), "configurations must be a non-empty list"),
]


@pytest.mark.parametrize("edit, message", SCHEMA_FAULTS)
def test_hand_edited_results_file_names_the_wrong_field(tmp_path, edit, message):
    data = committed()
    edit(data)
    path = tmp_path / "spiral.json"
    path.write_text(json.dumps(data, indent=2))  # NaN is written as NaN, as an editor might
    with pytest.raises(ValueError) as error:
        results.load(path)
    assert re.fullmatch(re.escape(f"results file {path}: ") + message + ".*", str(error.value))


def test_results_file_must_hold_an_object(tmp_path):
    path = tmp_path / "spiral.json"
    path.write_text("[]")
    with pytest.raises(ValueError, match="must be a JSON object; got list"):
        results.load(path)
