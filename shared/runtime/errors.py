"""Errors raised while setting up the embedded Kafka and Postgres, and the log tails they show."""

from __future__ import annotations

from pathlib import Path

__all__ = ["MissingTool", "RuntimeSetupError", "log_tail"]


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
