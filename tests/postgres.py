"""A throw-away PostgreSQL server for tests: ``initdb`` into a fresh folder, ``pg_ctl start`` with
its Unix socket in that folder and no TCP listener (so no port can clash with another server), fsync
off; :meth:`PostgresServer.stop` stops it and removes the folder.

PostgreSQL refuses to run as root: when the tests run as root (containers, CI), the server's
commands run as the unprivileged user ``nobody``, who owns the folder. The folder is made directly
in the system's temporary directory (pytest's own temporary folders are private to the user that
runs the tests, so ``nobody`` could not enter them)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

SERVER_USER = "nobody"  # who runs the server when the tests run as root
PORT = 5432  # names the socket file only: the server listens on no TCP port


def server_binaries() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres`` (the PATH first, then Debian's
    ``/usr/lib/postgresql/<version>/bin``, newest version first), or None."""
    candidates = []
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(Path(found).resolve().parent)
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
                      if Path(p).parent.name.isdigit() else 0, reverse=True)
    candidates += [Path(p) for p in versions]
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


class PostgresServer:
    """One server in a temporary folder; :meth:`url` gives a SQLAlchemy URL of a database on it."""

    def __init__(self, binaries: Path):
        self.binaries = binaries
        self.user = pwd.getpwnam(SERVER_USER) if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="recbole-losses-pg-"))
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self.data = self.root / "data"
        self.started = False

    def _run(self, *args: str) -> str:
        kwargs = {}
        if self.user is not None:
            kwargs = dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        done = subprocess.run([str(self.binaries / args[0]), *args[1:]], cwd=self.root, capture_output=True,
                              text=True, env={**os.environ, "LC_ALL": "C", "HOME": str(self.root)}, **kwargs)
        if done.returncode != 0:
            log = self.root / "server.log"
            server_log = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            raise RuntimeError(f"{args[0]} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}\n{server_log}")
        return done.stdout

    def start(self) -> "PostgresServer":
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "--locale=C",
                  "--encoding=UTF8")
        options = (f"-p {PORT} -k {self.root} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=50")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
                  "-o", options, "start")
        self.started = True
        return self

    def create_database(self, name: str) -> str:
        """Create the database ``name`` and return its SQLAlchemy URL."""
        import psycopg2

        connection = psycopg2.connect(host=str(self.root), port=PORT, user="postgres", dbname="postgres")
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@/{database}?host={self.root}&port={PORT}"

    def stop(self) -> None:
        try:
            if self.started:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


__all__ = ["PostgresServer", "server_binaries"]
