"""The throw-away PostgreSQL server of the tests (tests/postgres.py) and the ``postgres`` extra
that brings its driver."""

import configparser
import os
import pwd
import re
from pathlib import Path

import pytest
import sqlalchemy

from postgres import SERVER_USER, PostgresServer, server_binaries

REPO = Path(__file__).resolve().parent.parent


def test_the_server_runs_unprivileged_and_is_removed_when_stopped():
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found")
    server = PostgresServer(binaries).start()
    try:
        engine = sqlalchemy.create_engine(server.create_database("lifecycle"))
        with engine.connect() as connection:
            assert connection.execute(sqlalchemy.text("SHOW fsync")).scalar() == "off"
            assert connection.execute(sqlalchemy.text("SHOW listen_addresses")).scalar() == ""
            assert connection.execute(sqlalchemy.text("SELECT current_database()")).scalar() == "lifecycle"
        engine.dispose()
        pid = int((server.data / "postmaster.pid").read_text().split()[0])
        # PostgreSQL refuses to run as root: tests run as root start it as an unprivileged user.
        expected = pwd.getpwnam(SERVER_USER).pw_uid if os.geteuid() == 0 else os.geteuid()
        assert os.stat(f"/proc/{pid}").st_uid == expected
    finally:
        server.stop()
    assert not server.root.exists()


def _requirements(text: str) -> list[str]:
    return [re.split(r"[\s<>=!~;\[]", line.strip(), maxsplit=1)[0].lower()
            for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_every_requirement_and_extra_is_pinned_in_the_constraints():
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg", encoding="utf-8")
    extras = {name: _requirements(value) for name, value in setup["options.extras_require"].items()}
    assert extras["postgres"] == ["psycopg2-binary"]
    assert "psycopg2-binary" in extras["test"]  # the README's test install runs the PostgreSQL tests
    pinned = {line.split("==")[0].strip().lower() for line in (REPO / "constraints.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    required = set(_requirements(setup["options"]["install_requires"])) | {r for rs in extras.values() for r in rs}
    assert not required - pinned, f"not pinned in constraints.txt: {sorted(required - pinned)}"
