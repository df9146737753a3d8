r"""What a loss alone costs per training step: forward + backward of SL, PSL and CW on one batch of
scores ([B] positives, [B, N] negatives, [B, M] sampled positives), next to the arithmetic floor
of each (the transcendental passes over [B, N] its formula cannot avoid: SL one exp, PSL one log
and one exp, CW one log and two exps).

This separates CW's overhead from the rest of a training step: ``benchmarks/speed.py`` reports
CW's step time over SL's; the difference there is this table's "CW − SL" column, which does not
grow with the model or the dataset, so its share shrinks as the step grows.

    python benchmarks/loss_cost.py [--batch 1024] [--negs 64 256 1000] [--pos 4] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch

from recbole_losses.losses import build_loss


def best_ms(fn, repeats: int, number: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--negs", type=int, nargs="+", default=[64, 256, 1000])
    parser.add_argument("--pos", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--number", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    losses = {name: build_loss(name).to(device) for name in ("SL", "PSL", "CW")}
    print(f"device: {device} ({torch.get_num_threads()} CPU threads), torch {torch.__version__}, "
          f"B = {args.batch}, M = {args.pos}; best of {args.repeats} × {args.number} calls, ms per call\n")
    print("| N | SL | PSL | CW | CW / SL | CW − SL | floor SL (1 exp) | floor CW (1 log + 2 exp) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    generator = torch.Generator().manual_seed(0)
    for n in args.negs:
        # Scores in [0, 1]: the half-cosine range of PSL and CW (SL's cosine is in [-1, 1]).
        pos = torch.rand(args.batch, generator=generator).to(device)
        neg = torch.rand(args.batch, n, generator=generator).to(device)
        sampled = torch.rand(args.batch, args.pos, generator=generator).to(device)

        def step(loss):
            p, q, s = (t.clone().requires_grad_() for t in (pos, neg, sampled))
            loss(p, q, sampled_pos_score=s).backward()
            sync()

        def floor(exps: int, logs: int):
            x = neg + 1.5
            for _ in range(logs):
                x = torch.log(x)
            for _ in range(exps):
                x = torch.exp(x)
            sync()

        ms = {name: best_ms(lambda: step(loss), args.repeats, args.number) for name, loss in losses.items()}
        floor_sl = best_ms(lambda: floor(1, 0), args.repeats, args.number)
        floor_cw = best_ms(lambda: floor(2, 1), args.repeats, args.number)
        print(f"| {n} | {ms['SL']:.2f} | {ms['PSL']:.2f} | {ms['CW']:.2f} | {ms['CW'] / ms['SL']:.2f} | "
              f"{ms['CW'] - ms['SL']:.2f} | {floor_sl:.2f} | {floor_cw:.2f} |")


if __name__ == "__main__":
    main()
