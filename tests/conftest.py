import itertools
import os
import sys

import pytest
import torch

import recbole_losses  # noqa: F401  (applies the compatibility layer)
import recbole.trainer.trainer as _recbole_trainer  # noqa: I001  (after the compatibility layer)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def module_workdir(tmp_path_factory):
    """A temporary working directory for a whole test module (for module-scoped fixtures that
    build RecBole datasets: RecBole writes log/ and saved/ relative to the working directory)."""
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("module"))
    try:
        yield os.getcwd()
    finally:
        os.chdir(cwd)


# Every TensorBoard writer a RecBole trainer opens (one file and one flushing thread each). A test
# that builds a trainer without a Run (which closes it) leaves it open; `workdir` closes the ones
# opened during its test before the folder goes, so no thread flushes into a removed folder.
_WRITERS = []


def _recording_get_tensorboard(logger):
    writer = _get_tensorboard(logger)
    _WRITERS.append(writer)
    return writer


_get_tensorboard = _recbole_trainer.get_tensorboard
_recbole_trainer.get_tensorboard = _recording_get_tensorboard


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """RecBole writes log/, saved/ and log_tensorboard/ relative to the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [sys.argv[0]])
    opened = len(_WRITERS)
    yield tmp_path
    for writer in _WRITERS[opened:]:
        writer.close()
    del _WRITERS[opened:]


def _carries_state(cls) -> bool:
    """Whether a loss has training-time state: parameters or persistent buffers once set up."""
    loss = cls()
    loss.setup(n_users=3, n_items=100, item_counts=torch.ones(100, dtype=torch.long))  # above any default K
    return bool(loss.state_dict())


# The registered losses with training-time state (checkpointed, resumed, combined across ranks).
STATEFUL = sorted(name for name, cls in recbole_losses.LOSSES.items() if _carries_state(cls))

# Settings under which a stateful loss's training-time state moves within a few toy epochs (a
# stateful loss not listed needs none).
STATE = {
    "SL@K": {"slatk_t_beta": 1, "slatk_k": 5},
    "SogSL@K": {"sogslatk_t_beta": 1, "sogslatk_k": 5},
    "DrRL": {"drrl_margin_lr": 0.01},
    "AdvInfoNCE": {"advinfonce_adv_interval": 2, "advinfonce_adv_lr": 0.01},
}


@pytest.fixture
def toy(workdir):
    """``data_path`` of the synthetic ``toy`` dataset (recbole_losses.data.toy), written into the
    test's working directory."""
    from recbole_losses.data.toy import write_toy_dataset

    return write_toy_dataset(workdir)


@pytest.fixture(scope="session")
def popularity_ndcg10(tmp_path_factory):
    """Test NDCG@10 of the most-popular ranking on ml-100k (RecBole's ``Pop``, same seed, split
    and full-sort protocol as the end-to-end runs): the floor every trained model must beat.
    Pop learns only item frequencies (≈ 0.13 here, a random ranking ≈ 0.01); a model above it
    has learnt something personal from the training data."""
    from recbole_losses import run

    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("pop"))
    try:
        result = run("Pop", dataset="ml-100k", config_dict={"epochs": 1, "show_progress": False, "state": "WARNING"})
    finally:
        os.chdir(cwd)
    return result["test_result"]["ndcg@10"]


SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared"))


@pytest.fixture
def interrupt_at_epoch(monkeypatch):
    """``interrupt_at_epoch(n)``: from then on every loss trainer raises KeyboardInterrupt (Ctrl-C)
    when it reaches training epoch ``n``, after the resume point of epoch n - 1 is written;
    ``interrupt_at_epoch(None)`` stops interrupting."""
    from recbole_losses.trainer import Trainer

    original = Trainer._train_epoch

    def set_epoch(epoch):
        if epoch is None:
            monkeypatch.setattr(Trainer, "_train_epoch", original)
            return

        def interrupted(self, train_data, epoch_idx, *args, **kwargs):
            if epoch_idx == epoch:
                raise KeyboardInterrupt
            return original(self, train_data, epoch_idx, *args, **kwargs)

        monkeypatch.setattr(Trainer, "_train_epoch", interrupted)

    return set_epoch


@pytest.fixture(scope="session")
def postgres_server():
    """A throw-away PostgreSQL server for the session (tests/postgres.py), stopped and removed at
    the end; skipped only where the server's binaries are not installed."""
    from postgres import PostgresServer, server_binaries

    binaries = server_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in "
                    "/usr/lib/postgresql/*/bin")
    server = PostgresServer(binaries)
    try:
        yield server.start()
    finally:
        server.stop()


_DATABASES = itertools.count()


@pytest.fixture
def postgres_url(postgres_server):
    """The SQLAlchemy URL of a new, empty database on the session's PostgreSQL server."""
    return postgres_server.create_database(f"test_{next(_DATABASES)}")


@pytest.fixture(params=["C kernels", "torch kernels"])
def kernels(request, monkeypatch):
    """The two CPU implementations of the fused scoring, the row normalisation and the graph
    propagation: the package's C kernels (where a C compiler builds them) and torch's kernels (the
    only ones on other devices)."""
    from recbole_losses import native

    if request.param == "torch kernels":
        monkeypatch.setattr(native, "library", lambda: None)
    elif native.library() is None:
        pytest.skip("no C compiler builds the package's kernels here")
    return request.param
