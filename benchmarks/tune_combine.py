r"""Join several ``tune_study.py`` outputs (e.g. one folder per learning-rate slice and backbone) into
one table: per (backbone, variant) the trial with the best validation NDCG@20 over all the
folders, its test figures and the paper's.

    python benchmarks/tune_combine.py benchmarks/results/tuned-health/{MF,MF-lr0.1,LightGCN,LightGCN-lr0.1} \
        --out benchmarks/results/tuned-health

Each folder must hold the ``results.csv`` that ``tune_study.py`` (or its ``--report-only``) wrote.
Selection is on validation only: the folder whose best trial has the highest validation NDCG@20
gives the row; its test figures are that trial's, computed once. The paper column is the CW
paper's Table II for the variant's loss (every CW reading is compared with CW's row).
Writes ``<out>/results.md`` and ``<out>/results.csv``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # python benchmarks/tune_combine.py: the repository root, for benchmarks.*
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.paper import paper_numbers  # noqa: E402
from recbole_losses.tables import read_csv, write_table  # noqa: E402


def read_folder(folder: Path) -> list[dict]:
    """The rows of one tune_study ``results.csv``, each with the folder's name."""
    path = folder / "results.csv"
    if not path.is_file():
        raise SystemExit(f"{path} not found: run tune_study.py (or its --report-only) for {folder} first")
    rows = [{**row, "folder": folder.name} for row in read_csv(path)]
    if rows and "selected settings" not in rows[0]:
        raise SystemExit(f"{path} predates the model, dataset and selected-settings columns: rerun "
                         f"tune_study.py --report-only for {folder}")
    return rows


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def combine(rows: list[dict]) -> list[dict]:
    """Per (dataset, model, variant): the best validation over the folders, and the trials summed."""
    paper = paper_numbers()
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["model"], row["variant"]), []).append(row)
    table = []
    for (dataset, model, variant), group in groups.items():
        scored = [r for r in group if _number(r["best valid ndcg@20"]) is not None]
        if not scored:
            continue
        best = max(scored, key=lambda r: _number(r["best valid ndcg@20"]))
        trials = [int(_number(r["complete"]) or 0) for r in group]
        ref = paper.get((dataset, model, best["loss"]), {})
        out = {"dataset": dataset, "backbone": model, "variant": variant,
               "trials": f"{sum(trials)} ({' + '.join(map(str, trials))})" if len(trials) > 1 else str(sum(trials)),
               "best valid ndcg@20": _number(best["best valid ndcg@20"]),
               "test recall@20": _number(best["test recall@20"]), "test ndcg@20": _number(best["test ndcg@20"]),
               "paper recall@20": ref.get("recall@20"), "paper ndcg@20": ref.get("ndcg@20"),
               "selected in": best["folder"], "selected settings": best["selected settings"]}
        table.append(out)
    return table


def _delta(ours, theirs) -> str:
    return "—" if ours is None or not theirs else f"{100 * (ours / theirs - 1):+.1f}%"


def _fmt(value) -> str:
    return "—" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))


def shown_row(row: dict) -> dict:
    """A combined row as results.md shows it: the paper's two figures and our differences in one
    column each."""
    known = row["paper ndcg@20"] is not None
    return {
        **row,
        "paper R@20 / N@20": f"{_fmt(row['paper recall@20'])} / {_fmt(row['paper ndcg@20'])}" if known else "—",
        "Δ": (f"{_delta(row['test recall@20'], row['paper recall@20'])} / "
              f"{_delta(row['test ndcg@20'], row['paper ndcg@20'])}") if known else "—",
        "selected settings": f"`{row['selected settings']}`",
    }


SHOWN = {"backbone": "backbone", "variant": "variant", "trials": "trials", "best valid ndcg@20": "best valid NDCG@20",
         "test recall@20": "test Recall@20", "test ndcg@20": "test NDCG@20", "paper R@20 / N@20": "paper R@20 / N@20",
         "Δ": "Δ", "selected in": "selected in", "selected settings": "selected settings"}


def write(out: Path, table: list[dict], folders: list[Path]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_table(table, out / "results.csv", out / "results.md",
                "Tuned on validation: the best trial of each variant over " + ", ".join(f.name for f in folders),
                intro=["Selection on validation NDCG@20 only; the test figures are the selected trial's, computed "
                       "once. Paper: CW paper Table II (every CW reading against CW's row)."],
                shown=list(SHOWN), header=list(SHOWN.values()), cell=_fmt, page_rows=[shown_row(r) for r in table])
    print(f"[tune_combine] wrote {out / 'results.md'}, {out / 'results.csv'}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="tune_study.py output folders")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    rows = [row for folder in args.folders for row in read_folder(folder)]
    table = combine(rows)
    if not table:
        raise SystemExit("no study in these folders has a validation result yet")
    write(args.out, table, args.folders)
    return 0


if __name__ == "__main__":
    sys.exit(main())
