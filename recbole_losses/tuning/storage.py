r"""The database a study lives in: opened with heartbeats (a killed worker's trial is found and run
again), checked before Optuna writes anything into it."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import optuna

STORAGE_ATTEMPTS = 5  # tries to open a storage another worker may be creating at the same moment
# Tables of Optuna's schema besides its models' (Alembic's migration record).
_SCHEMA_EXTRAS = frozenset({"alembic_version"})


def optuna_tables() -> frozenset[str]:
    """The tables Optuna's RDB storage creates."""
    from optuna.storages._rdb import models

    return frozenset(models.BaseModel.metadata.tables) | _SCHEMA_EXTRAS


def check_database(url: str, connect_args: dict) -> None:
    """ValueError when the database at ``url`` holds tables that are not Optuna's (another
    application's data: Optuna would add its tables beside them), or is not a database at all.
    An empty or missing database, or one holding only Optuna's tables, is fine."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, connect_args=connect_args)
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
    except Exception as err:  # SQLAlchemy and the drivers raise many kinds; name the storage
        raise ValueError(f"study storage {url} cannot be read as a database: {str(err).splitlines()[0]}") from None
    finally:
        engine.dispose()
    foreign = sorted(tables - optuna_tables())
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise ValueError(f"study storage {url} holds tables that are not Optuna's ({shown}): give a database of "
                         "its own to the study (a new SQLite file, or an empty database)")


def open_storage(url: str, heartbeat_interval: int = 60, grace_period: int = 180,
                 stale_trial_callback=None) -> optuna.storages.RDBStorage:
    """Optuna's database storage at ``url`` (a SQLite file's folder is created), with a heartbeat
    every ``heartbeat_interval`` s; a running trial silent for ``grace_period`` s is failed and
    ``stale_trial_callback(study, trial)`` called by the worker that failed it. Clear errors for a
    storage that cannot be written, or that holds another application's tables."""
    connect_args = {}
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"study storage {url}: cannot create the folder {path.parent}: "
                             f"{err.strerror or err}") from None
        target = path if path.exists() else path.parent
        if not os.access(target, os.W_OK):
            raise ValueError(f"study storage {url}: {target} is not writable")
        connect_args = {"timeout": 60}  # several workers on one SQLite file wait for its lock
    try:
        check_database(url, connect_args)
    except ModuleNotFoundError as err:
        raise ValueError(f"study storage {url} needs a database driver that is not installed: {err}") from None
    for attempt in range(STORAGE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat_interval
                return optuna.storages.RDBStorage(
                    url, engine_kwargs={"connect_args": connect_args} if connect_args else None,
                    heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                    heartbeat_stale_trial_callback=stale_trial_callback,
                )
        except Exception as err:  # SQLAlchemy/Optuna raise many kinds; say which storage failed
            if attempt + 1 == STORAGE_ATTEMPTS or "Failed to import" in str(err):
                raise ValueError(f"study storage {url} cannot be opened: {err}") from None
            # Workers starting together race to create the tables: the loser retries.
            time.sleep(1.0 + attempt)


def study_engine(study):
    """The SQLAlchemy engine of ``study``'s database storage (Optuna wraps it in a cache), or None."""
    storage = study._storage
    return getattr(getattr(storage, "_backend", storage), "engine", None)


def release_connections(study) -> None:
    """Close the idle database connections ``study`` holds (its storage's pool); the study stays
    usable and connects again when read. A study run inside a longer process (a notebook, a
    script tuning several losses) would otherwise keep them open against the server's limit."""
    engine = study_engine(study)
    if engine is not None:
        engine.dispose()


def heartbeat_ages(study) -> dict[int, float]:
    """Seconds since the last heartbeat of each running trial of ``study`` that has one, by trial
    number, measured by the database's clock (as Optuna's stale check is)."""
    import sqlalchemy

    engine = study_engine(study)
    if engine is None:
        return {}
    query = sqlalchemy.text(
        "SELECT t.number, h.heartbeat, CURRENT_TIMESTAMP FROM trial_heartbeats h JOIN trials t "
        "ON t.trial_id = h.trial_id WHERE t.study_id = :study AND t.state = 'RUNNING'")
    try:
        with engine.connect() as connection:
            rows = connection.execute(query, {"study": study._study_id}).fetchall()
    except Exception:  # another schema version: the ages are only shown, never decided on
        return {}

    def moment(value):
        from datetime import datetime

        return datetime.fromisoformat(value) if isinstance(value, str) else value

    ages = {}
    for number, beat, now in rows:
        try:
            ages[int(number)] = max(0.0, (moment(now).replace(tzinfo=None) - moment(beat).replace(tzinfo=None))
                                    .total_seconds())
        except (TypeError, ValueError):
            continue
    return ages


__all__ = ["check_database", "heartbeat_ages", "open_storage", "optuna_tables", "release_connections",
           "study_engine"]
