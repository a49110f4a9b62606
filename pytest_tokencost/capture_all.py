"""Every capture `--cost-capture` installs, as one: httpx2, classic httpx, botocore's Bedrock
client, and the note of LLM hosts reached through clients none of them records.

Each is installed only if its package is importable (imported then, never at plugin import).
"""

from __future__ import annotations

from collections.abc import Callable

from .capture import Capture
from .capture_botocore import BotocoreCapture
from .capture_httpx import HttpxCapture
from .tracker import InMemoryTokenTracker
from .uncaptured import UncapturedHosts

__all__ = ["Captures"]


class Captures:
    """Installs, flushes and uninstalls the captures together; `target` picks the test's tracker."""

    def __init__(self, target: Callable[[], InMemoryTokenTracker | None]) -> None:
        self.httpx2 = Capture(target)
        self.httpx = HttpxCapture(target)
        self.botocore = BotocoreCapture(target)
        self.uncaptured = UncapturedHosts(target, self._captured)

    def _captured(self, client: str, provider: str) -> bool:
        """Whether a call of `client` to `provider` is recorded by a capture (so not warned)."""
        return client == "botocore" and provider == "aws" and self.botocore.installed

    def install(self) -> list[str]:
        """Install what the installed packages allow; the names of the clients captured."""
        installed = [
            name
            for name, capture in (
                ("httpx2", self.httpx2),
                ("httpx", self.httpx),
                ("botocore", self.botocore),
            )
            if capture.install()
        ]
        self.uncaptured.install()
        return installed

    def flush(self, tracker: InMemoryTokenTracker) -> None:
        """Finish (or name) `tracker`'s streams left open when its test ends."""
        self.httpx2.flush(tracker)
        self.httpx.flush(tracker)
        self.botocore.flush(tracker)

    def uninstall(self) -> None:
        """Put every wrapped method back."""
        self.uncaptured.uninstall()
        self.botocore.uninstall()
        self.httpx.uninstall()
        self.httpx2.uninstall()
