"""The files one run writes in the output folder, safe beside other runs (pytest-free).

Each run owns `runs/<run id>/` in the output folder: its `records.jsonl` is appended there as
tests finish (so an interrupted or killed run keeps what it measured), its budget ledger lives
there, and its `token-report.json` is written there at the end. Then the report and the records
are published as the folder's top-level `token-report.json` and `records.jsonl`, both under one
lock, so the two top-level files always belong to the same run, whichever of two runs sharing
the folder finishes last. No run truncates, overwrites or deletes another run's files; old
finished runs' folders are pruned beyond the newest `KEEP_RUNS`.

Nothing here follows a symbolic link inside the output folder: a link where a file of ours
should be is refused with a message. A write that fails (disk full, permissions) is kept as a
problem to report; it never raises into the test session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from .outdir import atomic_write_text, ensure_output_dir

__all__ = [
    "KEEP_RUNS",
    "RECORDS_NAME",
    "REPORT_NAME",
    "RUNS_DIR",
    "OutputDirError",
    "RunFiles",
    "check_output_dir",
    "still_writing",
]

REPORT_NAME = "token-report.json"
RECORDS_NAME = "records.jsonl"
RUNS_DIR = "runs"
KEEP_RUNS = 20
_LOCK_NAME = ".lock"
_STALE_S = 7 * 24 * 3600


class OutputDirError(Exception):
    """The output folder cannot be used (it is a file, or cannot be written)."""


def check_output_dir(path: Path, option: str) -> None:
    """Refuse an output folder that cannot work, before any test runs; create nothing.

    `option` names where the folder came from (``--cost-dir``, ini ``tokencost_dir``).
    """
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise OutputDirError(
                f"{option} {path} is not a folder; name a folder (it is created if missing)"
            )
        probe = path
    else:
        probe = path.parent
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir():
            raise OutputDirError(f"{option} {path} cannot be created: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputDirError(
            f"{option} {path} cannot be written ({probe} is not writable); choose another folder"
        )


def _hold(fd: int) -> None:
    """Mark `records.jsonl` as being written (a shared lock, released when the process ends,
    even by SIGKILL): a reader tells a killed run's folder from a running one's by it."""
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except (ImportError, OSError):  # Windows, or a file system without locks: not told apart
        pass


def still_writing(records: Path) -> bool:
    """Whether a live run still holds `records` open for appending (see `_hold`); False
    where that cannot be told (no `fcntl`, no locks on the file system)."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(records, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops the probe's own lock
    return False


def _refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise OSError(
            f"{path} is a symbolic link; pytest-tokencost does not follow links in its "
            "output folder: remove it"
        )


class RunFiles:
    """Where one run's files go, and the problems met writing them."""

    def __init__(self, output_dir: Path, run_id: str, extra_reports: tuple[Path, ...] = ()):
        self.output_dir = output_dir
        self.run_id = run_id
        self.extra_reports = extra_reports
        self.run_dir = output_dir / RUNS_DIR / run_id
        self.problems: list[str] = []
        self._records_fd: int | None = None
        self._failed = False

    # -- during the run ---------------------------------------------------------------------

    def prepare_run_dir(self) -> Path:
        """Create the output folder and this run's folder in it (raises OSError)."""
        ensure_output_dir(self.output_dir)
        for folder in (self.output_dir / RUNS_DIR, self.run_dir):
            _refuse_link(folder)
            folder.mkdir(exist_ok=True)
        return self.run_dir

    def append_records(self, lines: list[str]) -> bool:
        """Append whole lines to this run's `records.jsonl`; False (and a problem) on failure.

        The file stays open until `publish` (one write per batch, no open and close per test);
        each batch goes straight to the operating system, so a killed run keeps it.
        """
        if self._failed or not lines:
            return not self._failed
        try:
            if self._records_fd is None:
                self.prepare_run_dir()
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                self._records_fd = os.open(self.run_dir / RECORDS_NAME, flags, 0o666)
                _hold(self._records_fd)
            pending = memoryview("".join(line + "\n" for line in lines).encode("utf-8"))
            while pending:
                pending = pending[os.write(self._records_fd, pending) :]
        except OSError as exc:
            self.close()
            self._failed = True
            self.problems.append(
                f"cannot append to {self.run_dir / RECORDS_NAME}: {exc.strerror or exc}; "
                "later records of this run are kept in memory and in token-report.json only"
            )
            return False
        return True

    def close(self) -> None:
        """Close `records.jsonl` (appending again reopens it)."""
        fd, self._records_fd = self._records_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- at the end -------------------------------------------------------------------------

    def publish(self, report_json: str) -> bool:
        """Write the run's report in its folder, then publish report and records on top.

        Returns False (with a problem kept) when something could not be written.
        """
        self.close()
        try:
            self.prepare_run_dir()
            records = self.run_dir / RECORDS_NAME
            _refuse_link(records)
            if not records.exists():
                records.touch()
            self._write(self.run_dir / REPORT_NAME, report_json)
            with self._lock():
                for name in (REPORT_NAME, RECORDS_NAME):
                    _refuse_link(self.output_dir / name)
                # Records first: the report names its run, and a reader seeing the new
                # report must find the same run's records beside it.
                self._copy(records, self.output_dir / RECORDS_NAME)
                self._write(self.output_dir / REPORT_NAME, report_json)
        except OSError as exc:
            self.problems.append(
                f"cannot write the token report in {self.output_dir}: {exc.strerror or exc}"
            )
            return False
        written = True
        for path in self.extra_reports:
            try:
                self._write(path, report_json)
            except OSError as exc:
                written = False
                self.problems.append(
                    f"cannot write the token report copy {path} (--cost-report json): "
                    f"{exc.strerror or exc}; the run's report is {self.output_dir / REPORT_NAME}"
                )
        self._prune()
        return written

    def _write(self, path: Path, text: str) -> None:
        _refuse_link(path)
        atomic_write_text(path, text)

    def _copy(self, source: Path, target: Path) -> None:
        staging = target.with_name(f".{target.name}.{self.run_id}.tmp")
        try:
            shutil.copyfile(source, staging)
            os.replace(staging, target)
        finally:
            staging.unlink(missing_ok=True)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """The lock under which the top-level files are published (for files published beside
        them, such as the HTML page)."""
        return self._lock()

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """An exclusive lock on the output folder while the top-level pair is replaced."""
        path = self.output_dir / _LOCK_NAME
        _refuse_link(path)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
        try:
            try:
                import fcntl
            except ImportError:  # Windows: os.replace is atomic; the pair may mix for a moment
                yield
                return
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _prune(self) -> None:
        """Remove finished runs' folders beyond the newest KEEP_RUNS (and stale unfinished)."""
        runs = self.output_dir / RUNS_DIR
        try:
            folders = sorted(
                (p for p in runs.iterdir() if p.is_dir() and not p.is_symlink()),
                key=lambda p: p.stat().st_mtime,
                reverse=True,
            )
        except OSError:
            return
        now = time.time()
        for folder in folders[KEEP_RUNS:]:
            if folder == self.run_dir:
                continue
            try:
                finished = (folder / REPORT_NAME).exists()
                stale = now - folder.stat().st_mtime > _STALE_S
            except OSError:
                continue
            if finished or stale:
                shutil.rmtree(folder, ignore_errors=True)
