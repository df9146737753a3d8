"""Each fix in recbole_losses.compat, the checkpoint loader that replaces RecBole's bare torch.load,
and that recbole.quick_start (ray) is never imported."""

import subprocess
import sys

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
