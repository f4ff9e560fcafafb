"""Errors raised while setting up the embedded Kafka and Postgres, and the log tails they show."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["EmbeddedServer", "MissingTool", "RuntimeSetupError", "log_tail"]


class EmbeddedServer:
    """A server process this package starts and stops; usable as a `with` block."""

    def start(self, timeout_s: float = 60.0) -> str:
        """Start the server and return where it listens."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server; safe to repeat."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """Tell whether the server's process is alive."""
        raise NotImplementedError

    def restart(self, timeout_s: float = 90.0) -> str:
        """Start the server again after it died, on the same data and port."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        """Start the server (if not started) for the `with` block."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()


class RuntimeSetupError(Exception):
    """The embedded infrastructure could not be prepared, started or stopped."""


class MissingTool(RuntimeSetupError):  # noqa: N818 - the name the CLI and docs use
    """A program the embedded infrastructure needs is not installed."""

    def __init__(self, tool: str, hint: str) -> None:
        """Name the missing `tool` and say, in `hint`, how to install or avoid it."""
        super().__init__(f"{tool} is not on PATH: {hint}")
        self.tool = tool


def log_tail(path: Path, lines: int = 40) -> str:
    """Return the last `lines` lines of a log file, or a note that it is missing or empty."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    tail = text.splitlines()[-lines:]
    if not tail:
        return f"({path} is empty)"
    return f"last lines of {path}:\n" + "\n".join(tail)
