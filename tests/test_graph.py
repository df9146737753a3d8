"""The vectorised normalised adjacency against RecBole's dict + dok_matrix construction, and its
use by the LightGCN / NGCF backbones."""

import types

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from recbole.data import create_dataset
from recbole.model.general_recommender import NGCF as RecBoleNGCF
from recbole.model.general_recommender import LightGCN as RecBoleLightGCN

from recbole_losses import Config
from recbole_losses.data.dataloader import data_preparation
from recbole_losses.models import BACKBONES, COMPOSED
from recbole_losses.models.graph import (
    FastLightGCN,
    FastNGCF,
    normalized_adjacency,
    normalized_adjacency_scipy,
    propagation_mean,
    spmm,
    symmetric_spmm,
)


def recbole_adjacency(matrix, n_users, n_items) -> torch.Tensor:
    """RecBole 1.2.1's own construction, run on a stand-in carrying only what it reads."""
    holder = types.SimpleNamespace(interaction_matrix=matrix, n_users=n_users, n_items=n_items)
    return RecBoleLightGCN.get_norm_adj_mat(holder)


@pytest.fixture(scope="module")
def ml100k_train(module_workdir):
    """(config, training-split dataset) of ml-100k under RecBole's default split."""
    config = Config("LightGCN", "ml-100k", config_dict={"show_progress": False})
    train_data, _, _ = data_preparation(config, create_dataset(config))
    return config, train_data._dataset


def test_adjacency_equals_recbole_on_ml100k(ml100k_train):
    _, dataset = ml100k_train
    matrix = dataset.inter_matrix(form="coo").astype(np.float32)
    n_users, n_items = dataset.user_num, dataset.item_num
    ref = recbole_adjacency(matrix, n_users, n_items).coalesce()
    ours = normalized_adjacency(matrix, n_users, n_items)
    assert ours.shape == ref.shape == (n_users + n_items, n_users + n_items)
    assert ours.dtype == ref.dtype == torch.float32
    assert ours.is_coalesced()
    assert torch.equal(ours.indices(), ref.indices())
    torch.testing.assert_close(ours.values(), ref.values(), rtol=1e-6, atol=0)
    # Same float64 arithmetic rounded once: in fact bit-identical.
    assert torch.equal(ours.values(), ref.values())
    csr = normalized_adjacency(matrix, n_users, n_items, layout="csr")
    assert csr.layout == torch.sparse_csr
    torch.testing.assert_close(csr.to_dense(), ref.to_dense(), rtol=1e-6, atol=0)


def dense_oracle(rows, cols, n_users, n_items) -> np.ndarray:
    """D^-1/2 A D^-1/2 from the definition, dense, float64 (RecBole's 1e-7 degree guard kept)."""
    n = n_users + n_items
    adjacency = np.zeros((n, n))
    for u, i in zip(rows, cols):
        adjacency[u, n_users + i] = adjacency[n_users + i, u] = 1.0
    degree = adjacency.sum(axis=1) + 1e-7
    return adjacency / np.sqrt(degree)[:, None] / np.sqrt(degree)[None, :]


def test_duplicates_values_and_isolated_nodes():
    # Pair (1, 2) stored three times with arbitrary values, an explicit zero, user 3 and item 0
    # without interactions: the graph is binary and isolated nodes get empty rows.
    rows = np.array([0, 1, 1, 1, 2, 0, 4, 2])
    cols = np.array([1, 2, 2, 2, 3, 3, 1, 1])
    values = np.array([1.0, 5.0, 2.0, 1.0, 0.0, 3.0, 1.0, 1.0], dtype=np.float32)
    matrix = sp.coo_matrix((values, (rows, cols)), shape=(5, 4))
    expected = dense_oracle(rows, cols, 5, 4)
    ours = normalized_adjacency_scipy(matrix, 5, 4)
    np.testing.assert_allclose(ours.toarray(), expected, rtol=1e-6, atol=0)
    ref = recbole_adjacency(matrix, 5, 4).to_dense().numpy()
    np.testing.assert_allclose(ours.toarray(), ref, rtol=1e-6, atol=0)
    assert (ours != ours.T).nnz == 0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"expected \(3, 4\)"):
        normalized_adjacency_scipy(sp.coo_matrix((3, 5)), 3, 4)


@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_symmetric_spmm_gradient_matches_autograd(layout, device):
    matrix = sp.random(30, 40, density=0.15, random_state=1, format="coo")
    adjacency = normalized_adjacency(matrix, 30, 40, layout=layout).to(device)
    reference = normalized_adjacency(matrix, 30, 40).to(device)  # COO through torch's own autograd
    x = torch.randn(70, 8, dtype=torch.float32, device=device, requires_grad=True)
    weights = torch.randn(70, 8, device=device)
    ours = symmetric_spmm(adjacency, symmetric_spmm(adjacency, x))
    ref = torch.sparse.mm(reference, torch.sparse.mm(reference, x))
    torch.testing.assert_close(ours, ref)
    (grad_ours,) = torch.autograd.grad((ours * weights).sum(), x)
    (grad_ref,) = torch.autograd.grad((ref * weights).sum(), x)
    torch.testing.assert_close(grad_ours, grad_ref)


def test_backbones_use_the_vectorised_builder():
    assert BACKBONES["LightGCN"].recbole_class is FastLightGCN
    assert BACKBONES["NGCF"].recbole_class is FastNGCF
    assert issubclass(FastLightGCN, RecBoleLightGCN) and issubclass(FastNGCF, RecBoleNGCF)
    # NGCF replaces only the adjacency builder; LightGCN its propagation too (checked below).
    assert set(vars(FastLightGCN)) - {"__module__", "__doc__", "__qualname__"} == {"get_norm_adj_mat", "layers", "forward"}
    assert set(vars(FastNGCF)) - {"__module__", "__doc__", "__qualname__"} == {"get_norm_adj_mat"}


def test_lightgcn_propagation_equals_recboles_values_and_gradients(ml100k_train, kernels):
    _, dataset = ml100k_train
    config = Config("LightGCN", "ml-100k", config_dict={"loss": "SL", "show_progress": False})
    net = COMPOSED["LightGCN"](config, dataset).net
    weights = (net.user_embedding.weight, net.item_embedding.weight)

    def values_and_grads(forward):
        user, item = forward()
        (user.square().sum() + item.pow(3).sum()).backward()
        grads = [w.grad.clone() for w in weights]
        for w in weights:
            w.grad = None
        return user.detach(), item.detach(), *grads

    ours = values_and_grads(net.forward)
    net.norm_adj_matrix = net.norm_adj_matrix.to_sparse_coo()  # RecBole's COO torch.sparse.mm
    reference = values_and_grads(lambda: RecBoleLightGCN.forward(net))
    for a, b in zip(ours, reference):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["LightGCN", "NGCF"])
def test_composed_graph_backbones_build_recbole_equal_adjacency(ml100k_train, name, monkeypatch):
    _, dataset = ml100k_train

    def refuse(self):
        raise AssertionError("RecBole's dict + dok_matrix builder was called")

    monkeypatch.setattr(RecBoleLightGCN, "get_norm_adj_mat", refuse)
    monkeypatch.setattr(RecBoleNGCF, "get_norm_adj_mat", refuse)
    config = Config(name, "ml-100k", config_dict={"loss": "SL", "show_progress": False})
    composed = COMPOSED[name](config, dataset)
    monkeypatch.undo()
    assert type(composed.net) is BACKBONES[name].recbole_class
    matrix = dataset.inter_matrix(form="coo").astype(np.float32)
    ref = recbole_adjacency(matrix, dataset.user_num, dataset.item_num).coalesce()
    built = composed.net.norm_adj_matrix  # CSR for LightGCN (symmetric_spmm), COO for NGCF
    built = (built.to_sparse_coo() if built.layout == torch.sparse_csr else built).coalesce()
    assert torch.equal(built.indices(), ref.indices())
    torch.testing.assert_close(built.values(), ref.values(), rtol=1e-6, atol=0)


def test_csr_spmm_passes_gradcheck_with_empty_rows(kernels):
    """The CSR product (C kernel or embedding bag; rows 0 and 4 have no entries) against a dense
    product, and its gradient (Âᵀ = Â) by float64 gradcheck; LightGCN's mean of 0–3 propagated
    layers against its definition, and its gradient."""
    dense = torch.tensor([[0, 0, 0, 0, 0], [0, 0, 2.0, 0, 0.5], [0, 2.0, 0, 1.0, 0],
                          [0, 0, 1.0, 0, 0], [0, 0.5, 0, 0, 0]], dtype=torch.float64)
    dense[4, 1] = dense[1, 4] = 0.5
    adjacency = dense.to_sparse_csr()
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(spmm(adjacency, x), dense @ x)
    assert torch.autograd.gradcheck(lambda v: symmetric_spmm(adjacency, v), (x,))
    for n_layers in range(4):
        powers = [x]
        for _ in range(n_layers):
            powers.append(dense @ powers[-1])
        torch.testing.assert_close(propagation_mean(adjacency, x, n_layers), sum(powers) / (n_layers + 1))
        assert torch.autograd.gradcheck(lambda v, n=n_layers: propagation_mean(adjacency, v, n), (x,))
