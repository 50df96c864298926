"""Atomic file and folder writes: a reader sees the old content or the new one, never half of either.

Every writer in the project (checkpoints, metrics, figures, caches, videos, datasets, zoo installs)
goes through these helpers, so a killed process never leaves a partial file that a later run would
trust. The temporary sits beside the target (same filesystem, so the final ``os.replace`` is atomic),
is flushed and fsynced before the rename, and is removed when the write fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TMP_PREFIX = ".tmp-"  # temporaries start with this, so a clean-up can find what a killed run left
# What libraries we call leave beside their target when killed mid-write: safetensors' Rust writer
# goes through the ``tempfile`` crate, whose names are ``.tmp`` + 6 random characters.
_LIBRARY_TEMPORARY = re.compile(r"^\.tmp[0-9A-Za-z]{6}$")


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some filesystems do not open directories; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed onto ``path``.

    The caller writes the file with any library (``save_file``, ``cv2.imwrite``, PyAV, ...).
    ``suffix`` keeps an extension that such a library needs (``.mp4``, ``.png``). On an exception
    the temporary is deleted and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f"{TMP_PREFIX}{target.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON (trailing newline) atomically."""
    write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def save_tensors(path: str | os.PathLike[str], tensors: dict[str, Any], metadata: dict[str, str] | None = None) -> None:
    """Save a dict of torch tensors as safetensors atomically (tensors made contiguous first)."""
    from safetensors.torch import save_file

    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)


def temporary_dir(target: str | os.PathLike[str]) -> Path:
    """A fresh empty folder beside ``target`` to build a whole tree in before :func:`replace_dir`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=f"{TMP_PREFIX}{target.name}."))


def replace_dir(tmp: str | os.PathLike[str], target: str | os.PathLike[str], overwrite: bool = True) -> None:
    """Move the finished folder ``tmp`` onto ``target`` (an existing ``target`` is replaced whole).

    The old tree is first renamed aside, then the new one renamed into place, then the old one
    removed: at every instant ``target`` is either the complete old tree or the complete new one
    (absent only between the two renames).

    Raises:
        FileExistsError: ``target`` exists and ``overwrite`` is False.
    """
    tmp, target = Path(tmp), Path(target)
    old = None
    if target.exists():
        if not overwrite:
            raise FileExistsError(f"{target} already exists")
        old = target.with_name(f"{TMP_PREFIX}old-{os.getpid()}-{target.name}")
        os.replace(target, old)
    os.replace(tmp, target)
    _fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary of ours (:data:`TMP_PREFIX`) or of a library writing for us."""
    return name.startswith(TMP_PREFIX) or bool(_LIBRARY_TEMPORARY.match(name))


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> int:
    """Delete what killed writers left in ``folder`` (see :func:`is_temporary`); returns the count.

    Only for folders no other process is writing to at the time (a run's own directory at its start).
    """
    count = 0
    for entry in Path(folder).iterdir():
        if not is_temporary(entry.name):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        count += 1
    return count


__all__ = [
    "TMP_PREFIX",
    "atomic_path",
    "is_temporary",
    "remove_stale_temporaries",
    "replace_dir",
    "save_tensors",
    "temporary_dir",
    "write_bytes",
    "write_json",
    "write_text",
]
