import json
import os

import pytest

from softsom.atomic import write_json_atomically, write_text_atomically


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
