"""Build time of the normalised user-item adjacency on Gowalla's training split: the vectorised
builder of ``recbole_losses.models.graph`` against RecBole 1.2.1's dict + dok_matrix construction
(``LightGCN.get_norm_adj_mat``, run through the compat shim on a stand-in object that carries only
``interaction_matrix``, ``n_users`` and ``n_items``).

    python benchmarks/adjacency.py --data /path/to/gowalla/proc.zip [--repeat 3]

Reads ``train.tsv`` (``user_procid<TAB>item_procid``, 0-based ids) straight from the zip (or its
unzipped folder) with :func:`recbole_losses.prepare.read_split`; nothing is copied into the
repository. Prints a markdown table (best of ``--repeat`` runs), checks that
both builders give the same matrix, then times LightGCN's propagation on it (RecBole's COO
product against our CSR ``symmetric_spmm``).
"""

from __future__ import annotations

import argparse
import time
import types
import warnings

import numpy as np
import scipy.sparse as sp
import torch

import recbole_losses  # noqa: F401  (applies the compat shim RecBole's builder needs on SciPy >= 1.13)
from recbole.model.general_recommender import LightGCN as RecBoleLightGCN
from recbole_losses.models.graph import normalized_adjacency, symmetric_spmm
from recbole_losses.prepare import read_split


def load_train(path: str) -> tuple[sp.coo_matrix, int, int]:
    train = read_split(path)["train.tsv"]
    users, items = train[:, 0], train[:, 1]
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    ones = np.ones(len(train), dtype=np.float32)
    return sp.coo_matrix((ones, (users, items)), shape=(n_users, n_items)), n_users, n_items


def best_time(build, repeat: int) -> tuple[float, torch.Tensor]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = build()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="Gowalla proc.zip (IR-Benchmark release) or its folder")
    parser.add_argument("--repeat", type=int, default=3, help="runs per builder; the best is reported")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=r"torch\.sparse\.SparseTensor")  # RecBole's constructor

    matrix, n_users, n_items = load_train(args.data)
    holder = types.SimpleNamespace(interaction_matrix=matrix, n_users=n_users, n_items=n_items)
    builders = {
        "recbole_losses (vectorised, COO)": lambda: normalized_adjacency(matrix, n_users, n_items),
        "recbole_losses (vectorised, CSR)": lambda: normalized_adjacency(matrix, n_users, n_items, layout="csr"),
        "RecBole 1.2.1 (dict + dok_matrix)": lambda: RecBoleLightGCN.get_norm_adj_mat(holder),
    }
    results = {name: best_time(build, args.repeat) for name, build in builders.items()}

    ours = results["recbole_losses (vectorised, COO)"][1]
    ref = results["RecBole 1.2.1 (dict + dok_matrix)"][1].coalesce()
    same_indices = torch.equal(ours.indices(), ref.indices())
    max_diff = (ours.values() - ref.values()).abs().max().item() if same_indices else float("nan")

    print(f"Gowalla train split: {n_users} users, {n_items} items, {matrix.nnz} interactions, "
          f"adjacency {n_users + n_items}^2 with {ours.values().numel()} entries; "
          f"torch threads {torch.get_num_threads()}, best of {args.repeat}\n")
    baseline = results["RecBole 1.2.1 (dict + dok_matrix)"][0]
    print("| builder | build time (s) | speed-up vs RecBole |")
    print("| --- | ---: | ---: |")
    for name, (seconds, _) in results.items():
        print(f"| {name} | {seconds:.3f} | {baseline / seconds:.1f}x |")
    print(f"\nsame matrix as RecBole: indices equal {same_indices}, max |value difference| {max_diff:.3g}")
    propagation_table(results["recbole_losses (vectorised, CSR)"][1], ours, args.repeat)


def propagation_table(csr: torch.Tensor, coo: torch.Tensor, repeat: int, n_layers: int = 3, dim: int = 64) -> None:
    """Three LightGCN layers, forward and backward, on this graph: RecBole's COO
    ``torch.sparse.mm`` (autograd's backward) against CSR with ``symmetric_spmm``."""
    embeddings = torch.nn.Parameter(torch.randn(csr.shape[0], dim) * 0.1)

    def step(product):
        layers = [embeddings]
        for _ in range(n_layers):
            layers.append(product(layers[-1]))
        torch.stack(layers, dim=1).mean(dim=1).square().sum().backward()

    products = {
        "RecBole: COO, torch.sparse.mm": lambda x: torch.sparse.mm(coo, x),
        "recbole_losses: CSR, symmetric_spmm": lambda x: symmetric_spmm(csr, x),
    }
    print(f"\n{n_layers}-layer propagation of a [{csr.shape[0]}, {dim}] table, forward + backward, best of {repeat}\n")
    print("| propagation | seconds | speed-up |")
    print("| --- | ---: | ---: |")
    times = {name: best_time(lambda: step(product), repeat)[0] for name, product in products.items()}
    baseline = times["RecBole: COO, torch.sparse.mm"]
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.3f} | {baseline / seconds:.1f}x |")


if __name__ == "__main__":
    main()
