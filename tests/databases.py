"""Which database the store and service tests run on: SQLite by default, PostgreSQL on request.

`CLASSPULSE_TEST_DB=postgresql` runs them on a throw-away PostgreSQL cluster started here
(Debian's server binaries; `initdb` and the server run as the `postgres` user through
`runuser`, since PostgreSQL refuses to run as root), listening on a unix socket only, one
fresh database per test. `make test` runs the store and service suites once more that way.
Outside CI a machine without PostgreSQL skips; under CI (CI=true) it fails loudly.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

_cluster: PostgresCluster | None = None


def wanted() -> str:
    return os.environ.get("CLASSPULSE_TEST_DB", "sqlite").lower()


class PostgresCluster:
    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            raise FileNotFoundError("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin)")
        self.bin = Path(found[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="classpulse-pg-"))
        self.data, self.socket = self.root / "data", self.root / "socket"
        self.socket.mkdir()
        shutil.chown(self.root, "postgres")
        shutil.chown(self.socket, "postgres")
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                          "--no-sync", "-E", "UTF8")
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.root / "log"),
                          "-o", f"-k {self.socket} -c listen_addresses='' -c fsync=off -c max_connections=200",
                          "start")

    def _as_postgres(self, *cmd: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, cwd="/")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket}"

    def new_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host=str(self.socket), user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / "pg_ctl"), "-D", str(self.data),
                        "-m", "immediate", "stop"], capture_output=True, cwd="/", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def cluster() -> PostgresCluster:
    global _cluster
    if _cluster is None:
        try:
            _cluster = PostgresCluster()
        except (FileNotFoundError, subprocess.CalledProcessError, KeyError, LookupError) as exc:
            detail = exc.stderr.decode(errors="replace") if isinstance(exc, subprocess.CalledProcessError) else exc
            if os.environ.get("CI"):
                raise RuntimeError(f"PostgreSQL is needed under CI and could not start: {detail}") from exc
            pytest.skip(f"PostgreSQL not available here: {detail}")
        atexit.register(_cluster.stop)
    return _cluster


_made: dict[tuple[str, str], str] = {}


def database_url(tmp_path: Path, name: str = "cp") -> str:
    """A fresh, empty database for one test, on the database this run tests; the same URL again for
    the same test folder and name (a service restarted within a test finds its data)."""
    if wanted() == "postgresql":
        key = (str(tmp_path), name)
        if key not in _made:
            _made[key] = cluster().new_database()
        return _made[key]
    return f"sqlite:///{tmp_path}/{name}.db"
