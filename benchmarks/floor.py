r"""A physical floor for one training step of the sampled batch mode: the least time the work of a
step can take on this machine, from its measured memory bandwidth and its measured rates for the
primitive operations a step is made of.

    python benchmarks/floor.py [--users 29858] [--items 40988] [--interactions 737091]
                               [--batch 1024] [--negs 1000] [--pos 4] [--dim 64] [--layers 2]

Defaults: Gowalla as prepared (29,858 users, 40,988 items, 737,091 training interactions after
the validation draw), the papers' protocol (B = 1024, N = 1000, M = 4, d = 64), LightGCN with RecBole's 2 layers (what
its presets run). Measured first, at torch's thread count (best of 7):

- ``stream``: DRAM bandwidth, GB/s, from copying a 256 MiB float32 tensor (bytes read + written);
- ``gather``: row gathers per second, summing d-float rows of a table that fits in the last-level
  cache with ``embedding_bag`` (what scoring, the user/item gradients and graph propagation do);
- ``transcendental``: exp/log per second over a [B, N] float32 tensor, in place.

The floor of each part is its work divided by the rate of the primitive it needs, and the step's
floor their sum (parts run one after another; each at its own machine limit):

- sampling: B·N uniform integers written (8 bytes each); the draws and their membership checks
  can stay in registers and the first-level cache (the compiled sampler checks a bit set of the
  row's user, 5 KiB on Gowalla), so no read of memory is counted for them;
- candidate scores: B·K row gathers (K = 1 + N + M) forward, the same for the user gradient and
  for the item gradient (a scatter of B·K rows: at least a gather's cost);
- the loss: ``--passes`` transcendental passes over [B, N] forward and backward (CW: one log and
  two exps; SL: one exp);
- LightGCN propagation: L products with Â forward and L backward, each 2·nnz row gathers
  (Â holds both directions of every interaction), plus the mean of the L + 1 layers;
- the optimiser: dense Adam over all (U + I)·d parameters reads parameter, gradient and both
  moments and writes parameter and moments: 7 · 4 bytes per parameter at DRAM bandwidth; the
  gradient tables are written once more (4 bytes per parameter).

A floor leaves out everything a step also does (Python, autograd's bookkeeping, allocation, the
sort that groups candidates by item): it is what no implementation can beat, not a target that
one reaches.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F


def best_of(fn, repeat=7):
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure_rates(batch, negs, dim):
    big = torch.empty(64 * 2**20)  # 256 MiB
    out = torch.empty_like(big)
    big.fill_(1.0)
    stream = 2 * big.numel() * 4 / best_of(lambda: out.copy_(big)) / 1e9
    table = torch.randn(40_000, dim)  # ~10 MiB: cache-resident, like an item table
    rows = torch.randint(0, table.shape[0], (batch, negs))
    weights = torch.randn(batch, negs)
    gather = rows.numel() / best_of(lambda: F.embedding_bag(rows, table, mode="sum", per_sample_weights=weights))
    scores = torch.rand(batch, negs)
    transcendental = scores.numel() / best_of(lambda: scores.exp_().log_()) * 2
    return {"stream": stream, "gather": gather, "transcendental": transcendental}


def floors(args, rates):
    params = (args.users + args.items + 2) * args.dim  # RecBole's tables hold the padding id 0
    k = 1 + args.negs + args.pos
    bn, bk = args.batch * args.negs, args.batch * k
    gb = rates["stream"] * 1e9
    parts = {
        "sampling (B·N draws written)": 8 * bn / gb,
        "candidate scores, forward (B·K row gathers)": bk / rates["gather"],
        "loss forward + backward (transcendental passes over [B, N])": args.passes * bn / rates["transcendental"],
        "user gradient (B·K row gathers)": bk / rates["gather"],
        "item gradient (B·K row scatters)": bk / rates["gather"],
        "optimiser: dense Adam (7 × 4 B per parameter)": 7 * 4 * params / gb,
        "gradient tables written (4 B per parameter)": 4 * params / gb,
    }
    propagation = {
        f"LightGCN: {args.layers} × Â products forward + backward (2·nnz row gathers each)":
            2 * args.layers * 2 * args.interactions / rates["gather"],
        f"LightGCN: mean of {args.layers + 1} layers, forward + backward (memory passes)":
            2 * (args.layers + 2) * 4 * params / gb,
    }
    return parts, propagation


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=29_858)
    parser.add_argument("--items", type=int, default=40_988)
    parser.add_argument("--interactions", type=int, default=737_091, help="training interactions (graph edges)")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--negs", type=int, default=1000)
    parser.add_argument("--pos", type=int, default=4)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2, help="LightGCN layers (RecBole's default, used by the presets)")
    parser.add_argument("--passes", type=int, default=3, help="transcendental passes of the loss (CW 3, SL 1)")
    args = parser.parse_args(argv)
    rates = measure_rates(args.batch, args.negs, args.dim)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: DRAM {rates['stream']:.1f} GB/s, "
          f"{rates['gather'] / 1e9:.3f} G row gathers/s (d = {args.dim}), "
          f"{rates['transcendental'] / 1e9:.3f} G exp-or-log/s\n")
    parts, propagation = floors(args, rates)
    print("| part | floor ms |")
    print("| --- | ---: |")
    for name, seconds in {**parts, **propagation}.items():
        print(f"| {name} | {seconds * 1e3:.2f} |")
    mf = sum(parts.values())
    print(f"| **MF step** | **{mf * 1e3:.1f}** |")
    print(f"| **LightGCN step** | **{(mf + sum(propagation.values())) * 1e3:.1f}** |")


if __name__ == "__main__":
    main()
