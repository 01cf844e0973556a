import json
import os
import signal
import threading

import pytest

from tools.atomic import write_json_atomically, write_text_atomically


def test_writes_and_replaces(tmp_path):
    path = tmp_path / "results.json"
    write_json_atomically(path, {"a": 1})
    write_json_atomically(path, {"a": 2, "b": [1.5]})
    assert json.loads(path.read_text()) == {"a": 2, "b": [1.5]}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_failed_write_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    write_text_atomically(path, "old\n")

    def crash(src, dst):
        raise KeyboardInterrupt  # as if interrupted between writing and renaming

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomically(path, "new\n")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"], "temporary file left behind"


def test_unserialisable_data_writes_nothing(tmp_path):
    path = tmp_path / "results.json"
    write_json_atomically(path, [1])
    with pytest.raises(TypeError):
        write_json_atomically(path, {"x": object()})
    assert json.loads(path.read_text()) == [1]


def test_new_files_are_readable_by_others(tmp_path):
    path = tmp_path / "results.json"
    write_text_atomically(path, "x")
    assert path.stat().st_mode & 0o777 == 0o644
    path.chmod(0o640)
    write_text_atomically(path, "y")
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: signal.Signals(s).name)
def test_interrupt_during_the_write_is_delivered_after_it(tmp_path, monkeypatch, signum):
    path = tmp_path / "results.json"
    write_text_atomically(path, "old\n")
    seen_at_delivery = []

    def handler(number, frame):
        seen_at_delivery.append((path.read_text(), sorted(p.name for p in tmp_path.iterdir())))

    real_fsync = os.fsync

    def interrupted_fsync(fd):  # the signal arrives mid-write, before the rename
        signal.raise_signal(signum)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", interrupted_fsync)
    previous = signal.signal(signum, handler)
    try:
        write_text_atomically(path, "new\n")
        assert signal.getsignal(signum) is handler, "the previous handler is restored"
    finally:
        signal.signal(signum, previous)
    # Delivered once, when the new file was complete and the temporary file gone.
    assert seen_at_delivery == [("new\n", ["results.json"])]


def test_writes_from_other_threads_work_unprotected(tmp_path):
    """Only the main thread can hold signals; elsewhere the write must still go through."""
    path = tmp_path / "results.json"
    errors = []

    def write():
        try:
            write_json_atomically(path, {"from": "thread"})
        except Exception as error:  # reported to the main thread below
            errors.append(error)

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    assert errors == [] and json.loads(path.read_text()) == {"from": "thread"}
