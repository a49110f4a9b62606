"""The output folder: created git-ignored (as `.pytest_cache` is), written to atomically."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["atomic_write_text", "ensure_output_dir"]

_GITIGNORE = "# Created by pytest-tokencost: cost data is never committed.\n*\n"
_CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by pytest-tokencost.\n"
    "# For information about cache directory tags, see: https://bford.info/cachedir/\n"
)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def ensure_output_dir(path: Path) -> Path:
    """Create `path` with its `.gitignore` and `CACHEDIR.TAG` unless it exists.

    The folder is built under a temporary name and renamed into place, so a concurrent creator
    (another xdist controller, a parallel CI job) never sees it half made.
    """
    if path.is_dir():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a report folder is not
        (staging / ".gitignore").write_text(_GITIGNORE, encoding="utf-8")
        (staging / "CACHEDIR.TAG").write_text(_CACHEDIR_TAG, encoding="utf-8")
        try:
            staging.rename(path)
        except OSError:
            if not path.is_dir():  # not a lost race with another creator
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp_name, 0o666 & ~_umask())  # as open() would have made it
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
