"""Every capture `--cost-capture` installs, as one: httpx2, classic httpx, botocore's Bedrock
client, and the note of LLM hosts reached through clients none of them records (urllib3 and
requests, `urllib.request`, aiohttp).

Each is installed when the suite imports its package (`post_import`), never at plugin import
and never for a package the suite does not use.
"""

from __future__ import annotations

from collections.abc import Callable

from ..tracker import InMemoryTokenTracker
from .capture import Capture
from .capture_botocore import BotocoreCapture
from .capture_httpx import HttpxCapture
from .post_import import ImportWatch
from .uncaptured import UncapturedHosts

__all__ = ["Captures"]


class Captures:
    """Installs, flushes and uninstalls the captures together; `target` picks the test's tracker."""

    def __init__(self, target: Callable[[], InMemoryTokenTracker | None]) -> None:
        self.httpx2 = Capture(target)
        self.httpx = HttpxCapture(target)
        self.botocore = BotocoreCapture(target)
        self.uncaptured = UncapturedHosts(target, self._captured)
        self._watch = ImportWatch()

    def _captured(self, client: str, provider: str) -> bool:
        """Whether a call of `client` to `provider` is recorded by a capture (so not warned)."""
        # A Bedrock request from a client made before capture began (at conftest import, say)
        # has no handlers: it is not recorded, and is warned about.
        return client == "botocore" and provider == "aws" and self.botocore.take_watched()

    def install(self) -> list[str]:
        """Install each capture when its module is imported (now, if it is); the names of the
        client packages installed in this environment."""
        present = [
            name
            for name, module, install in (
                ("httpx2", "httpx2", self.httpx2.install),
                ("httpx", "httpx", self.httpx.install),
                ("botocore", "botocore.session", self.botocore.install),
            )
            if self._watch.when_imported(module, install)
        ]
        for module, install in (
            ("urllib3.connectionpool", self.uncaptured.install),
            ("urllib.request", self.uncaptured.install_urllib),
            ("aiohttp.client", self.uncaptured.install_aiohttp),
        ):
            self._watch.when_imported(module, install)
        return present

    def flush(self, tracker: InMemoryTokenTracker) -> None:
        """Finish (or name) `tracker`'s streams left open when its test ends."""
        self.httpx2.flush(tracker)
        self.httpx.flush(tracker)
        self.botocore.flush(tracker)
        self.uncaptured.flush(tracker)

    def uninstall(self) -> None:
        """Put every wrapped method back."""
        self._watch.close()
        self.uncaptured.uninstall()
        self.botocore.uninstall()
        self.httpx.uninstall()
        self.httpx2.uninstall()
