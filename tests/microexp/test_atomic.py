"""microexp.atomic: writes land whole or not at all, and temporaries are cleaned up."""

import json

import pytest
import torch

from microexp import atomic


def test_write_json_and_bytes_replace_whole(tmp_path):
    target = tmp_path / "sub" / "m.json"
    atomic.write_json(target, {"b": 1, "a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2], "b": 1}
    atomic.write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["m.json"]


def test_failed_write_keeps_old_content_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_save_tensors_round_trip(tmp_path):
    from safetensors.torch import load_file

    atomic.save_tensors(tmp_path / "t.safetensors", {"w": torch.arange(6).view(2, 3).t()}, {"k": "v"})
    assert torch.equal(load_file(str(tmp_path / "t.safetensors"))["w"], torch.arange(6).view(2, 3).t())


def test_replace_dir_swaps_trees_and_refuses_without_overwrite(tmp_path):
    target = tmp_path / "run"
    for content in ("one", "two"):
        tmp = atomic.temporary_dir(target)
        (tmp / "f.txt").write_text(content)
        atomic.replace_dir(tmp, target)
        assert (target / "f.txt").read_text() == content
    with pytest.raises(FileExistsError):
        atomic.replace_dir(atomic.temporary_dir(target), target, overwrite=False)
    assert atomic.remove_stale_temporaries(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
