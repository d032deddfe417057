"""A throw-away PostgreSQL server for tests: Debian's ``postgresql`` (``make postgres``
installs it), ``initdb`` in a temp folder, listening on 127.0.0.1 at a free port, trust
authentication, stopped and deleted afterwards."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.test_ui import free_port


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(
        f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    assert found, f"PostgreSQL's {name} not found: run `make postgres` (apt-get install postgresql)"
    return found


class Postgres:
    """``with Postgres() as pg: pg.uri`` is ``postgresql://postgres@127.0.0.1:PORT/recbench``.

    ``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` user
    (created by the Debian package) in a folder it owns; /tmp/pytest-of-root is closed to it.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="recbench-pg-"))
        self.uri = f"postgresql://postgres@127.0.0.1:{self.port}/recbench"

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{' '.join(args)}: {done.stdout}{done.stderr}"

    def __enter__(self) -> Postgres:
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        data, sock = self.dir / "data", self.dir
        self._run(_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self._run(_bin("pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-c listen_addresses=127.0.0.1 -p {self.port} -k {sock} -c fsync=off "
                  f"-c max_connections=200", "start")
        self._run(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "recbench")
        return self

    def sql(self, statement: str) -> None:
        """Run one SQL statement on the ``recbench`` database."""
        self._run(_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "-d", "recbench", "-v", "ON_ERROR_STOP=1", "-c", statement)

    def __exit__(self, *exc) -> None:
        try:
            self._run(_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
