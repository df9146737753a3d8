"""Each fix in recbole_losses.compat, the checkpoint loader that replaces RecBole's bare torch.load,
and that recbole.quick_start (ray) is never imported."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbole_losses import checkpoint, compat


def test_numpy_aliases_present_for_recbole_config():
    compat.patch_numpy_aliases()
    assert np.float_ is np.float64 and np.complex_ is np.complex128 and np.unicode_ is np.str_


def test_dok_update_sets_entries_like_scipy_before_1_13():
    compat.patch_dok_update()
    m = sp.dok_matrix((3, 4), dtype=np.float32)
    m._update({(0, 1): 1.0, (2, 3): 2.0})
    assert m.toarray().tolist() == [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 2]]


def test_recbole_lightgcn_builds_on_current_scipy(workdir):
    from recbole.data import create_dataset, data_preparation
    from recbole.model.general_recommender import LightGCN

    from recbole_losses import Config

    config = Config("LightGCN", "ml-100k")
    train, _, _ = data_preparation(config, create_dataset(config))
    model = LightGCN(config, train._dataset)
    assert model.norm_adj_matrix.shape == (model.n_users + model.n_items,) * 2


def test_checkpoint_with_pickled_config_loads(workdir):
    from recbole_losses import Config

    state = {"config": Config("MF", "ml-100k"), "state_dict": {"w": torch.ones(2)}}
    torch.save(state, "ckpt.pth", pickle_protocol=4)
    with pytest.raises(Exception):
        torch.load("ckpt.pth")  # torch >= 2.6 default (weights_only=True) refuses it
    with pytest.raises(ValueError, match="trusted=True"):
        checkpoint.load_checkpoint("ckpt.pth", map_location="cpu")  # not unpickled unless trusted
    loaded = checkpoint.load_checkpoint("ckpt.pth", map_location="cpu", trusted=True)
    assert loaded["config"]["model"] == "BPR" and torch.equal(loaded["state_dict"]["w"], torch.ones(2))


def test_recbole_quick_start_is_never_imported():
    code = (
        "import sys, recbole_losses\n"
        "from recbole_losses import run, cli, trainer, quick_start\n"
        "print('recbole.quick_start' in sys.modules, 'ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_kmeans_recovers_separated_clusters():
    from recbole_losses.functional import kmeans

    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[10.0, 0.0], [0.0, 10.0], [-10.0, -10.0]])
    truth = torch.arange(3).repeat_interleave(20)
    x = centres[truth] + 0.1 * torch.randn(60, 2, generator=generator)
    found, assignment = kmeans(x, 3, generator=generator)
    # Same partition as the truth (cluster labels may be permuted), centroids at the means.
    pairs = set(zip(truth.tolist(), assignment.tolist()))
    assert len(pairs) == 3 and len({a for _, a in pairs}) == 3
    for t, a in pairs:
        torch.testing.assert_close(found[a], x[truth == t].mean(0))
    assert kmeans(x[:2], 5)[0].shape == (2, 2)  # k capped at the number of rows


def test_ncl_uses_torch_kmeans_only_where_faiss_cannot_run_on_a_gpu(monkeypatch):
    from recbole.model.general_recommender.ncl import NCL

    assert NCL.run_kmeans is compat._ncl_run_kmeans and compat.patch_ncl_kmeans() is False  # idempotent
    recboles = lambda self, x: "faiss"  # noqa: E731  (stands for RecBole's faiss k-means)
    monkeypatch.setattr(compat, "_RECBOLE_RUN_KMEANS", [recboles])
    monkeypatch.setattr(compat, "ncl_torch_kmeans", lambda self, x: "torch")
    for faiss_gpu, used in [(True, "faiss"), (False, "torch")]:
        monkeypatch.setattr(compat, "faiss_gpu_available", lambda: faiss_gpu)
        assert NCL.run_kmeans(None, None) == used


def test_ncl_torch_kmeans_returns_what_recboles_returns():
    class Net:
        k, device = 4, torch.device("cpu")

    x = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)  # RecBole passes numpy
    centroids, assignment = compat.ncl_torch_kmeans(Net(), x)
    assert centroids.shape == (4, 8) and assignment.shape == (50,) and assignment.dtype == torch.long
    torch.testing.assert_close(centroids.norm(dim=1), torch.ones(4))


def test_recbole_trainer_amp_reads_current_names_without_warnings():
    import warnings

    import recbole.trainer.trainer as trainer_module

    compat.patch_grad_scaler()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch.cuda.amp's names would raise a FutureWarning here
        scaler = trainer_module.amp.GradScaler(enabled=False)  # what every RecBole trainer builds
        with trainer_module.amp.autocast(enabled=False):  # what NCLTrainer's epoch enters
            y = torch.ones(2) * 2
    assert not scaler.is_enabled() and y.dtype == torch.float32


def test_every_recbole_ensure_dir_creates_folders_without_a_race(tmp_path):
    """Two ranks creating one checkpoint folder at once: RecBole's check-then-create raised
    FileExistsError in the second; every module that imported it now gets os.makedirs(exist_ok)."""
    import importlib
    from concurrent.futures import ThreadPoolExecutor

    from recbole_losses import compat

    import recbole

    # Every module of RecBole that imports ensure_dir by name, found from its sources (init_logger's
    # recbole.utils.logger was once missed and two ranks raised on './log').
    package = Path(recbole.__file__).parent
    importers = {
        ".".join(("recbole",) + path.relative_to(package).with_suffix("").parts).removesuffix(".__init__")
        for path in package.rglob("*.py")
        if re.search(r"^from .* import .*\bensure_dir\b", path.read_text(), re.MULTILINE)}
    assert importers and importers <= set(compat.ENSURE_DIR_MODULES), importers - set(compat.ENSURE_DIR_MODULES)
    for name in compat.ENSURE_DIR_MODULES:
        assert importlib.import_module(name).ensure_dir is compat.ensure_dir, name
    target = tmp_path / "a" / "b"
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: compat.ensure_dir(str(target)), range(32)))
    assert target.is_dir()
    compat.ensure_dir(str(target))  # an existing folder: nothing to do, no error
    assert compat.patch_ensure_dir() is False  # idempotent
