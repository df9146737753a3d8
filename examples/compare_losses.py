"""Train one backbone with two (or more) losses on the same split and compare their test metrics.

    python examples/compare_losses.py                      # MF with PSL and CW on ml-100k, 20 epochs
    python examples/compare_losses.py --losses SL PSL CW --model LightGCN --epochs 50
    python examples/compare_losses.py --dataset health --data_path /data/recbole   # a prepared benchmark

(installed from a wheel: ``python -m recbole_losses.examples.compare_losses ...``)

Each run selects its best epoch on validation NDCG@20 and reports that epoch's test metrics; the
seed, the split and every other setting are shared, so the rows differ by the loss alone.
"""

from __future__ import annotations

import os
import sys

import recbole_losses
from recbole_losses.cli import CommandParser, checked
from recbole_losses.losses import canonical_loss_name
from recbole_losses.losses._checks import integer


def compare(model: str, losses: list[str], dataset: str, settings: dict) -> dict[str, dict]:
    """loss -> {"valid": best validation metrics, "test": test metrics at that epoch}."""
    rows = {}
    for loss in losses:
        # One Run per loss: its Config built once, its files and writers closed when the block ends.
        with recbole_losses.Run(model, loss, dataset, config_dict=settings) as run:
            _, valid = run.fit()
            rows[run.config["loss"]] = {"valid": valid, "test": run.test()}
    return rows


def table(rows: dict[str, dict]) -> str:
    metrics = list(next(iter(rows.values()))["test"])
    lines = ["| loss | valid ndcg@20 | " + " | ".join(f"test {m}" for m in metrics) + " |",
             "|---|---|" + "---|" * len(metrics)]
    for loss, row in rows.items():
        lines.append(f"| {loss} | {row['valid']['ndcg@20']:.4f} | "
                     + " | ".join(f"{row['test'][m]:.4f}" for m in metrics) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = CommandParser(prog=os.path.basename(__file__), description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="MF", help="backbone (default MF)")
    parser.add_argument("--losses", nargs="+", default=["PSL", "CW"], help="losses to compare (default PSL CW)")
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--data_path", default=None,
                        help="folder holding <dataset>/ (RecBole's data_path; default: RecBole's)")
    parser.add_argument("--epochs", type=checked(integer(1)), default=20, help="training epochs (default 20)")
    parser.add_argument("--neg-num", type=checked(integer(1)), default=1000,
                        help="sampled negatives per row (default 1000)")
    args = parser.parse_args(argv)
    settings = {"epochs": args.epochs, "neg_num": args.neg_num, "show_progress": False, "state": "WARNING",
                "topk": [10, 20], "valid_metric": "NDCG@20"}
    if args.data_path is not None:
        settings["data_path"] = args.data_path
    try:
        losses = [canonical_loss_name(loss) for loss in args.losses]  # every name checked before any run
        rows = compare(args.model, losses, args.dataset, settings)
    except (ValueError, FileNotFoundError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
