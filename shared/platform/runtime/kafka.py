"""An embedded Apache Kafka broker (KRaft), run with the machine's JDK 17: a single node, or
one node of an embedded cluster (`kafka_cluster.py`)."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from shared.kit.kafka_admin import answers_metadata
from shared.kit.kafka_security import KafkaSecuritySettings
from shared.platform.acls import ADMIN
from shared.platform.runtime.errors import EmbeddedServer, MissingTool, RuntimeSetupError, log_tail
from shared.platform.runtime.host import accepts_connections, die_with_parent, free_port, port_free
from shared.platform.runtime.kafka_config import (
    KafkaPaths,
    Quorum,
    new_cluster_id,
    plaintext_listeners,
    server_properties,
)
from shared.platform.runtime.kafka_jars import EXTERNAL_HINT as _EXTERNAL_HINT
from shared.platform.runtime.kafka_jars import RESOLVED_MARKER
from shared.platform.runtime.kafka_secure import BrokerSecurity

__all__ = ["EmbeddedKafka", "KafkaPaths"]

log = logging.getLogger(__name__)

LOG4J2_CONFIG = Path(__file__).with_name("log4j2.xml")

_STOP_GRACE_S = 30.0


class EmbeddedKafka(EmbeddedServer):
    """A single-node KRaft broker (broker and controller in one JVM) on 127.0.0.1.

    The ports are chosen once and kept in `<data_dir>/ports.json`, since the controller's
    address is written into the formatted storage; restarting on the same data dir keeps
    the topics and their messages.
    """

    def __init__(
        self,
        data_dir: Path,
        jars_dir: Path,
        port: int | None = None,
        *,
        quorum: Quorum | None = None,
        security: BrokerSecurity | None = None,
        advertised: str | None = None,
    ) -> None:
        """Prepare (not start) a broker storing in `data_dir`, listening on `port` or a free
        one; with `quorum`, a node of a cluster (its ports and cluster id come from it); with
        `security`, on SASL_SSL only, with ACLs (`pillars up --secure`); with `advertised`
        (HOST:PORT), telling clients to reach it there (a proxy in front of it)."""
        if advertised is not None and security is not None:
            raise RuntimeSetupError("an advertised address is for a plaintext broker only")
        self.paths = KafkaPaths(jars_dir=jars_dir, data_dir=data_dir)
        self.security = security
        self.advertised = advertised
        self._requested_port = port
        self.quorum = quorum
        self._process: subprocess.Popen[bytes] | None = None
        self._console: IO[bytes] | None = None
        self._bootstrap: str | None = None

    @property
    def bootstrap_servers(self) -> str:
        """Return `127.0.0.1:PORT` of the started broker."""
        if self._bootstrap is None:
            raise RuntimeSetupError("the embedded Kafka is not started")
        return self._bootstrap

    @property
    def pid(self) -> int | None:
        """Return the broker JVM's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self, timeout_s: float = 90.0) -> str:
        """Format the storage if new, start the JVM, wait until it answers metadata requests.

        Returns the bootstrap servers. Call it from a thread that outlives the broker (the main
        thread): on Linux the JVM gets SIGTERM when the thread that started it ends.
        """
        started = time.monotonic()
        bootstrap = self.launch()
        self.wait_ready(started + timeout_s)
        log.info("Kafka listening on %s (started in %.1f s)", bootstrap, time.monotonic() - started)
        return bootstrap

    def launch(self) -> str:
        """Start the JVM without waiting for it (a cluster's nodes start together, since a
        controller quorum elects only once a majority runs); return its address."""
        if self._process is not None:
            if self._process.poll() is None:
                return self._address()
            self._terminate(grace_s=0)  # it died since: clean up, start afresh
        java = shutil.which("java")
        if java is None:
            raise MissingTool(
                "java (JDK 17)",
                "install a JDK 17 (apt-get install openjdk-17-jre-headless) " + _EXTERNAL_HINT,
            )
        if not (self.paths.jars_dir / RESOLVED_MARKER).exists():
            raise RuntimeSetupError(
                f"no Kafka jars in {self.paths.jars_dir}: call resolve_kafka_jars() first"
            )
        self.paths.data_dir.mkdir(parents=True, exist_ok=True)
        port, controller_port = self._ports()
        properties = self.paths.data_dir / "server.properties"
        listeners = None
        if self.security is not None:
            self.security.ensure()
            listeners = self.security.listener_properties(port, controller_port)
        elif self.advertised is not None:
            listeners = plaintext_listeners(port, controller_port, self.advertised)
        properties.touch(mode=0o600)  # a secure broker's holds its key and admin password
        properties.write_text(
            server_properties(port, controller_port, self.paths.log_dirs, self.quorum, listeners)
        )
        self._format(java, properties)
        self._console = self.paths.console_file.open("wb")
        self._process = subprocess.Popen(
            [*self._java_command(java), "kafka.Kafka", str(properties)],
            cwd=self.paths.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._console,
            stderr=subprocess.STDOUT,
            # Its own process group keeps Ctrl-C away from the JVM, so `pillars up` can stop
            # the services before the broker; the death signal covers a killed parent.
            process_group=0,
            preexec_fn=die_with_parent(),
        )
        self._bootstrap = self.advertised or f"127.0.0.1:{port}"
        return self._bootstrap

    def wait_ready(self, deadline: float) -> None:
        """Wait until the launched broker answers metadata requests (stop it on failure)."""
        try:
            self._wait_ready(self._address(), deadline)
        except BaseException:
            self._terminate(grace_s=10.0)
            self._bootstrap = None
            raise

    @property
    def _admin(self) -> KafkaSecuritySettings | None:
        return self.security.client_settings(ADMIN) if self.security else None

    def _address(self) -> str:
        assert self._bootstrap is not None, "launch() first"
        return self._bootstrap

    @property
    def running(self) -> bool:
        """Tell whether the broker's JVM is alive."""
        return self._process is not None and self._process.poll() is None

    def restart(self, timeout_s: float = 90.0) -> str:
        """Start a broker that died again, on the same data dir and ports."""
        return self.start(timeout_s)

    def stop(self) -> None:
        """Stop the broker: SIGTERM (controlled shutdown), SIGKILL after 30 s; safe to repeat."""
        self._terminate(grace_s=_STOP_GRACE_S)
        self._bootstrap = None

    def _ports(self) -> tuple[int, int]:
        if self.quorum is not None:  # the cluster chose and keeps every node's ports
            return self.quorum.ports[self.quorum.node_id]
        path = self.paths.data_dir / "ports.json"
        saved: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
        controller_port = saved.get("controller_port")
        if controller_port is None and (self.paths.log_dirs / "meta.properties").exists():
            raise RuntimeSetupError(
                f"{path} is missing, but {self.paths.log_dirs} is formatted for a controller "
                f"port it recorded: restore the file, or delete {self.paths.data_dir} to start "
                "with an empty broker"
            )
        if controller_port is not None and not port_free(controller_port):
            raise RuntimeSetupError(
                f"the Kafka controller port {controller_port} (recorded in {path}, and fixed "
                "once the storage is formatted) is in use: is another broker running on "
                f"{self.paths.data_dir}?"
            )
        port = self._requested_port or saved.get("port")
        if port is not None and port == self._requested_port and not port_free(port):
            raise RuntimeSetupError(f"Kafka port {port} is in use")
        if port is None or not port_free(port):
            port = free_port(avoid=controller_port)
        if controller_port is None:
            controller_port = free_port(avoid=port)
        path.write_text(json.dumps({"port": port, "controller_port": controller_port}))
        return port, controller_port

    def _java_command(self, java: str) -> list[str]:
        return [
            java,
            "-Xmx512m",
            # The C1 compiler only: C2's optimising compiles took a quarter of a core for the
            # broker's first minutes, competing with the services on a small machine; C1 code
            # costs the broker's request threads about a fifth more, well under what C2 took.
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
            f"-Dpillars.kafka.log={self.paths.log_file}",
            "-cp",
            str(self.paths.jars_dir / "*"),
        ]

    def _format(self, java: str, properties: Path) -> None:
        if (self.paths.log_dirs / "meta.properties").exists():
            return
        cluster_id = self.quorum.cluster_id if self.quorum else new_cluster_id()
        # A single node is its own controller quorum; a cluster's voters are in its properties.
        standalone = [] if self.quorum else ["--standalone"]
        scram = self.security.format_arguments() if self.security else []
        result = subprocess.run(
            [*self._java_command(java), "kafka.tools.StorageTool", "format", *standalone, *scram,
             "-t", cluster_id, "-c", str(properties)],
            cwd=self.paths.data_dir, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeSetupError(
                f"formatting the Kafka storage in {self.paths.log_dirs} failed "
                f"(exit {result.returncode}):\n{result.stdout}{result.stderr}"
                f"\n{log_tail(self.paths.log_file)}"
            )

    def _wait_ready(self, bootstrap: str, deadline: float) -> None:
        assert self._process is not None
        # The probe gets an event loop of its own in a worker thread, so start() works both
        # from plain code and from inside a running loop.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-probe") as pool:
            while True:
                code = self._process.poll()
                if code is not None:
                    raise RuntimeSetupError(
                        f"Kafka exited with code {code} while starting\n{self._log_tails()}"
                    )
                # Plain connects first: aiokafka logs an error for every refused connection.
                if (
                    accepts_connections(bootstrap)
                    and pool.submit(asyncio.run, answers_metadata(bootstrap, self._admin)).result()
                ):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeSetupError(
                        f"Kafka did not answer on {bootstrap} in time\n{self._log_tails()}"
                    )
                time.sleep(0.5)

    def _log_tails(self) -> str:
        console = self.paths.console_file
        tails = [log_tail(self.paths.log_file)]
        if console.exists() and console.stat().st_size:  # the JVM itself complained
            tails.insert(0, log_tail(console, 20))
        return "\n".join(tails)

    def _terminate(self, grace_s: float) -> None:
        process, self._process = self._process, None
        try:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(grace_s)
                except subprocess.TimeoutExpired:
                    log.warning("Kafka did not stop within %.0f s; killing it", grace_s)
                    process.kill()
                    process.wait()
                except BaseException:
                    process.kill()
                    process.wait()
                    raise
        finally:
            if self._console is not None:
                self._console.close()
                self._console = None
