r"""What a loss alone costs per training step: forward + backward of every registered loss (or
``--losses``) on one batch of scores ([B] positives, [B, N] negatives, [B, M] sampled positives),
next to SL and to two arithmetic floors (the transcendental passes over [B, N] a formula cannot
avoid: SL one exp; CW one log and two exps).

This separates a loss's own cost from the rest of a training step: ``benchmarks/speed.py``
reports whole steps; the difference between two losses there is this table's difference, which
does not grow with the model or the dataset, so its share shrinks as the step grows. Losses with
per-user or per-item state are set up for ``--users`` users and ``--items`` items and get the
batch's ids, as in training (their state update is part of the step); the once-per-epoch work
some of them do (SL@K's and Talos's quantiles from the scorer) is not.

    python benchmarks/loss_cost.py [--losses all] [--batch 1024] [--negs 64 256 1000] [--pos 4] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch

from recbole_losses.losses import available_losses, build_loss


def best_ms(fn, repeats: int, number: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e3


def built(name: str, device: torch.device, users: int, items: int) -> torch.nn.Module:
    loss = build_loss(name).to(device)
    loss.setup(n_users=users, n_items=items, item_counts=torch.ones(items, device=device))
    return loss.to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--losses", default="all", help="comma-separated registered losses, or all (default)")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--negs", type=int, nargs="+", default=[64, 256, 1000])
    parser.add_argument("--pos", type=int, default=4)
    parser.add_argument("--users", type=int, default=29858, help="users of the stateful losses' state (Gowalla's)")
    parser.add_argument("--items", type=int, default=40988, help="items the candidates are drawn from (Gowalla's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--number", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    names = available_losses() if args.losses == "all" else [n.strip() for n in args.losses.split(",") if n.strip()]
    names = ["SL", *[n for n in names if n != "SL"]]
    losses = {name: built(name, device, args.users, args.items) for name in names}
    print(f"device: {device} ({torch.get_num_threads()} CPU threads), torch {torch.__version__}, "
          f"B = {args.batch}, M = {args.pos}; best of {args.repeats} × {args.number} calls, ms per call\n")
    generator = torch.Generator().manual_seed(0)
    times: dict[str, list[float]] = {name: [] for name in [*names, "floor: 1 exp", "floor: 1 log + 2 exp"]}
    for n in args.negs:
        # Scores in [0, 1]: the half-cosine range of PSL and CW (SL's cosine is in [-1, 1]).
        pos = torch.rand(args.batch, generator=generator).to(device)
        neg = torch.rand(args.batch, n, generator=generator).to(device)
        sampled = torch.rand(args.batch, args.pos, generator=generator).to(device)
        ids = {"user": torch.randint(args.users, (args.batch,), generator=generator).to(device),
               "pos_item": torch.randint(args.items, (args.batch,), generator=generator).to(device),
               "neg_item": torch.randint(args.items, (args.batch, n), generator=generator).to(device)}

        def step(loss):
            p, q, s = (t.clone().requires_grad_() for t in (pos, neg, sampled))
            loss(p, q, sampled_pos_score=s, **ids).backward()
            loss.after_step()
            sync()

        def floor(exps: int, logs: int):
            x = neg + 1.5
            for _ in range(logs):
                x = torch.log(x)
            for _ in range(exps):
                x = torch.exp(x)
            sync()

        for name, loss in losses.items():
            times[name].append(best_ms(lambda: step(loss), args.repeats, args.number))
        times["floor: 1 exp"].append(best_ms(lambda: floor(1, 0), args.repeats, args.number))
        times["floor: 1 log + 2 exp"].append(best_ms(lambda: floor(2, 1), args.repeats, args.number))
    print("| loss | " + " | ".join(f"N = {n}" for n in args.negs) + f" | ÷ SL at N = {args.negs[-1]} |")
    print("| --- | " + " | ".join("---:" for _ in args.negs) + " | ---: |")
    for name, row in times.items():
        print(f"| {name} | " + " | ".join(f"{t:.2f}" for t in row) + f" | {row[-1] / times['SL'][-1]:.2f} |")


if __name__ == "__main__":
    main()
