"""A real PostgreSQL server on loopback for the integration tests (postgres-test-server.sh).

Register in tests/conftest.py with `pytest_plugins = [..., "tests.servers.postgres"]`.

- `postgres` (session): one throwaway server (initdb in a temporary folder, 127.0.0.1, a free
  port, trust auth; as root it runs as the `postgres` system user). `new_database()` gives a
  fresh empty database owned by the `mailticket` role and returns its SQLAlchemy URL;
  `admin()` is a superuser psycopg connection (autocommit) to look at locks or end sessions.
- `pg_url` (function): the URL of a fresh empty database.

Never skips: without server binaries the start script installs them as root (apt-get), else
it fails and says what to install (see tests/servers/install.sh).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

HERE = Path(__file__).resolve().parent


def _read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


class Postgres:
    """The server started in `root`; `url` is the default `mailticket` database."""

    def __init__(self, root: Path):
        self.root = root
        self.url = ""
        self.env: dict[str, str] = {}
        self._ids = itertools.count(1)

    def start(self) -> None:
        proc = subprocess.run([str(HERE / "postgres-test-server.sh"), str(self.root)],
                              capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"postgres-test-server.sh failed ({proc.returncode}):\n{proc.stderr}")
        self.url = proc.stdout.strip().splitlines()[-1]
        self.env = _read_env(self.root / "server.env")

    def stop(self, purge: bool = False) -> None:
        args = [str(HERE / "postgres-test-server-stop.sh"), str(self.root)] + (["--purge"] if purge else [])
        subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)

    @property
    def port(self) -> int:
        return int(self.env["PG_PORT"])

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        """A superuser connection (autocommit); close it when done."""
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname,
                               autocommit=True, connect_timeout=10)

    def new_database(self, prefix: str = "t") -> str:
        """A fresh empty database owned by `mailticket`; returns its postgresql+psycopg URL."""
        name = f"{prefix}{os.getpid()}_{next(self._ids)}"
        user = self.env["PG_USER"]
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{user}"')
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="session")
def postgres():
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    server = Postgres(Path(tempfile.mkdtemp(prefix="mt-postgres-", dir=base)))
    try:
        server.start()
        yield server
    finally:
        server.stop(purge=True)


@pytest.fixture
def pg_url(postgres) -> str:
    return postgres.new_database()
