"""The Kafka broker's jars, resolved once from Maven Central with the machine's Maven."""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import time
from pathlib import Path

from shared.platform.runtime.errors import MissingTool, RuntimeSetupError
from shared.platform.runtime.host import exclusive

__all__ = ["EXTERNAL_HINT", "POM", "RESOLVED_MARKER", "resolve_kafka_jars"]

log = logging.getLogger(__name__)

POM = Path(__file__).with_name("kafka-pom.xml")
RESOLVED_MARKER = ".pillars-resolved"
EXTERNAL_HINT = "or set PILLARS_KAFKA_BOOTSTRAP_SERVERS to use an existing Kafka"


def resolve_kafka_jars(jars_dir: Path) -> Path:
    """Copy Kafka and its runtime dependencies into `jars_dir` with Maven, once per pom version.

    A marker holding the pom's hash is written last, so a changed pom or an interrupted copy
    is resolved again; concurrent callers wait for each other on a lock file.
    """
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if _resolved(jars_dir, digest):
        return jars_dir
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingTool(
            "mvn (Maven)",
            "install Maven (apt-get install maven), which fetches the Kafka jars once, "
            + EXTERNAL_HINT,
        )
    jars_dir.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(jars_dir.with_name(jars_dir.name + ".lock")):
        if _resolved(jars_dir, digest):
            return jars_dir
        staging = jars_dir.with_name(jars_dir.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        log.info("fetching the Kafka jars with Maven into %s (once; takes a minute)", jars_dir)
        started = time.monotonic()
        try:
            result = subprocess.run(
                [mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(POM),
                 "dependency:copy-dependencies", f"-DoutputDirectory={staging}",
                 "-DincludeScope=runtime"],
                cwd=jars_dir.parent, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=900, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise RuntimeSetupError(
                f"mvn did not fetch the Kafka jars within 15 minutes, {EXTERNAL_HINT}"
            ) from None
        if result.returncode != 0 or not any(staging.glob("kafka_*.jar")):
            output = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            raise RuntimeSetupError(
                f"mvn could not fetch the Kafka jars (exit {result.returncode}); it needs "
                f"Maven Central or a filled ~/.m2, {EXTERNAL_HINT}:\n{output}"
            )
        (staging / RESOLVED_MARKER).write_text(digest)
        shutil.rmtree(jars_dir, ignore_errors=True)
        staging.rename(jars_dir)
        log.info("Kafka jars ready in %.1f s", time.monotonic() - started)
    return jars_dir


def _resolved(jars_dir: Path, digest: str) -> bool:
    marker = jars_dir / RESOLVED_MARKER
    return marker.exists() and marker.read_text().strip() == digest
