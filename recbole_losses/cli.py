"""Command line: ``run_recbole_losses.py --model=M --loss=L --dataset=D [--config_files="a b"]
[--key=value ...]``. Any ``--key=value`` is a RecBole config override at command-line priority."""

from __future__ import annotations

import argparse
import sys

from .quick_start import run


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="run_recbole_losses.py",
        description="Train a RecBole model with a recbole-losses ranking loss and test it.",
        epilog="Extra --key=value arguments override any RecBole/recbole-losses config key, e.g. "
        "--preset=paper (the published tuned settings of the dataset x model x loss) or --data_path=DIR. "
        "Benchmark datasets (health, electronic, gowalla, amazon-book) are prepared once with "
        "python -m recbole_losses.prepare --dataset=NAME --source=PATH/TO/proc.zip.",
    )
    parser.add_argument("--model", "-m", default="MF", help="backbone (MF, LightGCN, NGCF) or any RecBole model")
    parser.add_argument("--loss", "-l", default=None, help="BPR, SL, PSL, CW; omit for the stock RecBole model")
    parser.add_argument("--dataset", "-d", default="ml-100k", help="dataset name (default ml-100k)")
    parser.add_argument("--config_files", default=None, help="space-separated YAML files")
    return parser.parse_known_args(argv)


def main(argv=None) -> int:
    args, overrides = parse_args(sys.argv[1:] if argv is None else argv)
    files = args.config_files.split() if args.config_files else None
    try:
        result = run(args.model, args.loss, args.dataset, config_file_list=files, cmd_args=overrides)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if result is None:  # multi-machine run: global rank 0 (offset 0) reports
        print("done; the metrics are reported by the machine running global rank 0 (offset 0)")
        return 0
    for label, key in (("best valid", "best_valid_result"), ("test", "test_result")):
        if result[key] is None:  # eval_step=0, epochs=0 or an empty validation split
            print(f"{label:<10} ({args.model}, loss={args.loss}, {args.dataset}): none (no validation ran)")
            continue
        metrics = {name: float(value) for name, value in result[key].items()}
        print(f"{label:<10} ({args.model}, loss={args.loss}, {args.dataset}): {metrics}")
    return 0
