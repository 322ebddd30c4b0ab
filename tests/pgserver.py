"""A PostgreSQL server of a test's own, in a temporary folder on a free port, to stop and start.

Outage tests stop the database under running workers; they must never touch the machine's
shared server, so they make one with ``initdb`` and run it with ``pg_ctl``. PostgreSQL refuses
to run as root: as root, the server runs as the ``postgres`` system user (``runuser``).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def available() -> bool:
    return (
        _bin("initdb") is not None and _bin("pg_ctl") is not None and (os.geteuid() != 0 or _run_as() != [])
    )


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return []
    return [runuser, "-u", "postgres", "--"] if runuser else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayPostgres:
    """``start()``, ``stop()``, ``url``; ``close()`` removes everything."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="aggregator-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.prefix = _run_as()
        if self.prefix:
            shutil.chown(self.root, "postgres", "postgres")
        self._call(
            [_bin("initdb") or "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"],
        )
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _call(self, args: list[str]) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        log = self.root / "server.log"
        self._call(
            [_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-l", str(log), "-w", "-t", "60", "start"]
        )

    def stop(self, mode: str = "fast") -> None:
        self._call([_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def close(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        except subprocess.SubprocessError:
            pass
        for _ in range(20):
            try:
                shutil.rmtree(self.root)
                return
            except OSError:
                time.sleep(0.2)
