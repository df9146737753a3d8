"""Train one backbone with two (or more) losses on the same split and compare their test metrics.

    python examples/compare_losses.py                      # MF with PSL and CW on ml-100k, 20 epochs
    python examples/compare_losses.py --losses SL PSL CW --model LightGCN --epochs 50

Each run selects its best epoch on validation NDCG@20 and reports that epoch's test metrics; the
seed, the split and every other setting are shared, so the rows differ by the loss alone.
"""

from __future__ import annotations

import argparse

import recbole_losses
from recbole_losses.cli import known_warnings_filtered


def compare(model: str, losses: list[str], dataset: str, settings: dict) -> dict[str, dict]:
    """loss -> {"valid": best validation metrics, "test": test metrics at that epoch}."""
    rows = {}
    for loss in losses:
        result = recbole_losses.run(model=model, loss=loss, dataset=dataset, config_dict=settings)
        rows[result["loss"]] = {"valid": dict(result["best_valid_result"]), "test": dict(result["test_result"])}
    return rows


def table(rows: dict[str, dict]) -> str:
    metrics = list(next(iter(rows.values()))["test"])
    lines = ["| loss | valid ndcg@20 | " + " | ".join(f"test {m}" for m in metrics) + " |",
             "|---|---|" + "---|" * len(metrics)]
    for loss, row in rows.items():
        lines.append(f"| {loss} | {row['valid']['ndcg@20']:.4f} | "
                     + " | ".join(f"{row['test'][m]:.4f}" for m in metrics) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="MF", help="backbone (default MF)")
    parser.add_argument("--losses", nargs="+", default=["PSL", "CW"], help="losses to compare (default PSL CW)")
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--neg-num", type=int, default=1000, help="sampled negatives per row (default 1000)")
    args = parser.parse_args(argv)
    settings = {"epochs": args.epochs, "neg_num": args.neg_num, "show_progress": False, "state": "WARNING"}
    with known_warnings_filtered():  # RecBole's harmless pandas/torch deprecation warnings
        rows = compare(args.model, args.losses, args.dataset, settings)
    print(table(rows))


if __name__ == "__main__":
    main()
