"""The git commit, branch and dirty flag of a run, for its history row (pytest-free).

Read with `git` itself (two short subprocess calls with a timeout), only inside a work tree;
anything that goes wrong (no git, not a work tree, a repository without commits, a slow
filesystem) gives `None` for what could not be read, never an error.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import NamedTuple

__all__ = ["GitInfo", "read_git"]

#: CI systems check out a commit, not a branch: their variables name the branch instead.
_BRANCH_VARIABLES = ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "BRANCH_NAME")


class GitInfo(NamedTuple):
    """What git says about the work tree a run ran in; `None` where it could not say."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None


def _git(args: list[str], cwd: Path, timeout: float) -> str | None:
    # GIT_OPTIONAL_LOCKS=0: `git status` must not take the index lock another git command
    # (the user's, an IDE's) may be holding.
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return done.stdout if done.returncode == 0 else None


def read_git(cwd: Path, timeout: float = 2.0) -> GitInfo:
    """Commit, branch and dirty flag of the work tree at `cwd` (all `None` outside one)."""
    args = ["rev-parse", "--is-inside-work-tree", "HEAD", "--abbrev-ref", "HEAD"]
    heads = _git(args, cwd, timeout)
    if heads is None:
        return GitInfo()
    lines = heads.split()
    if len(lines) != 3 or lines[0] != "true":
        return GitInfo()
    commit, branch = lines[1], lines[2]
    if branch == "HEAD":  # detached: a CI checkout names its branch in the environment
        branch = next((os.environ[v] for v in _BRANCH_VARIABLES if os.environ.get(v)), "")
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd, timeout)
    return GitInfo(commit, branch or None, None if status is None else bool(status.strip()))
