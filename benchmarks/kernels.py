r"""The package's C kernels against the torch kernels they replace on CPU, one operation at a time:
the fused candidate scoring (scores, user gradient, item gradient, and the counting sort the C
path runs once per step), the row normalisation of cosine scores, and LightGCN's CSR product.

Candidates are uniform over a Gowalla-sized catalogue (B = 1024 rows of K = 1 + N + M ids, d = 64);
the graph is the training split given by ``--data_path`` and ``--dataset`` (a RecBole atomic
``.train.inter`` or ``.inter`` file), or a random one of Gowalla's size. Best of ``--repeats``
rounds of ``--number`` calls each, milliseconds, at the process's torch thread count.

    python benchmarks/kernels.py [--data_path DATA --dataset gowalla] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

if __package__ in (None, ""):  # python benchmarks/kernels.py: the repository root, for benchmarks.*
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loss_cost import best_ms  # noqa: E402
from recbole_losses import native, scoring  # noqa: E402
from recbole_losses.models import graph  # noqa: E402


def training_graph(data_path: str | None, dataset: str, users: int, items: int, interactions: int):
    """The symmetric-normalised adjacency of the training split, or of random pairs of that size."""
    if data_path:
        folder = Path(data_path) / dataset
        path = next(p for p in (folder / f"{dataset}.train.inter", folder / f"{dataset}.inter") if p.exists())
        pairs = np.loadtxt(path, dtype=np.int64, skiprows=1, usecols=(0, 1))
        u, i = pairs[:, 0], pairs[:, 1]
        users, items = int(u.max()) + 1, int(i.max()) + 1
    else:
        rng = np.random.default_rng(0)
        u, i = rng.integers(0, users, interactions), rng.integers(0, items, interactions)
    matrix = sp.coo_matrix((np.ones(len(u)), (u, i)), shape=(users, items))
    return graph.normalized_adjacency(matrix, users, items, layout="csr")


def rows(args) -> list[tuple[str, float, float]]:
    g = torch.Generator().manual_seed(0)
    k = 1 + args.negs + args.pos
    user = torch.randn(args.batch, args.dim, generator=g)
    table = torch.randn(args.items, args.dim, generator=g)
    items = torch.randint(0, args.items, (args.batch, k), generator=g)
    weights = torch.randn(args.batch, k, generator=g)
    grouping = native.group_by_item(items, args.items)
    y, norms = native.normalize_rows(table, 1e-12)
    adjacency = training_graph(args.data_path, args.dataset, args.users, args.items, args.interactions)
    crow, col, values = adjacency.crow_indices(), adjacency.col_indices(), adjacency.values()
    dense = torch.randn(adjacency.shape[0], args.dim, generator=g)
    total = torch.zeros_like(dense)

    def torch_normalize_backward():
        projection = (weights_table * y).sum(-1, keepdim=True)
        return (weights_table - y * projection) / norms.unsqueeze(1).clamp_min(1e-12)

    weights_table = torch.randn(args.items, args.dim, generator=g)
    timed = lambda fn: best_ms(fn, args.repeats, args.number)  # noqa: E731
    return [
        ("candidates grouped by item (counting sort; C path only)", timed(lambda: native.group_by_item(items, args.items)), float("nan")),
        ("candidate scores", timed(lambda: native.sampled_dot(user, table, items, grouping)),
         timed(lambda: scoring._sampled_dot(user, table, items))),
        ("user gradient", timed(lambda: native.user_gradient(weights, table, items)),
         timed(lambda: F.embedding_bag(items, table, mode="sum", per_sample_weights=weights))),
        ("item gradient (torch: with its sort)", timed(lambda: native.item_gradient(weights, user, grouping, args.items)),
         timed(lambda: scoring._item_gradient(user, args.items, items, weights))),
        ("row normalisation, forward", timed(lambda: native.normalize_rows(table, 1e-12)),
         timed(lambda: table / torch.linalg.vector_norm(table, dim=-1, keepdim=True).clamp_min(1e-12))),
        ("row normalisation, backward", timed(lambda: native.normalize_rows_backward(weights_table, y, norms, 1e-12)),
         timed(torch_normalize_backward)),
        (f"CSR product ({values.numel():,} entries)", timed(lambda: native.csr_matmul(crow, col, values, dense)),
         timed(lambda: F.embedding_bag(col, dense, crow[:-1], mode="sum", per_sample_weights=values))),
        ("CSR product + running layer sum", timed(lambda: native.csr_matmul(crow, col, values, dense, total)),
         timed(lambda: total.add_(F.embedding_bag(col, dense, crow[:-1], mode="sum", per_sample_weights=values)))),
    ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--negs", type=int, default=1000)
    parser.add_argument("--pos", type=int, default=4)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--users", type=int, default=29_858)
    parser.add_argument("--items", type=int, default=40_989)
    parser.add_argument("--interactions", type=int, default=810_128)
    parser.add_argument("--data_path", default=None, help="where the prepared datasets are (RecBole's data_path)")
    parser.add_argument("--dataset", default="gowalla")
    parser.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--number", type=int, default=5)
    args = parser.parse_args(argv)
    if native.library() is None:
        raise SystemExit("the package's C kernels are not built here (no C compiler, or RECBOLE_LOSSES_NATIVE=0)")
    print(f"torch {torch.__version__}; B = {args.batch}, K = {1 + args.negs + args.pos}, I = {args.items:,}, "
          f"d = {args.dim}; best of {args.repeats} × {args.number} calls, ms\n")
    print("| operation | threads | C kernel | torch | torch / C |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, ours, theirs in rows(args):
            ratio = "—" if theirs != theirs else f"{theirs / ours:.2f}"
            theirs_text = "—" if theirs != theirs else f"{theirs:.2f}"
            print(f"| {name} | {threads} | {ours:.2f} | {theirs_text} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
