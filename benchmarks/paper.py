r"""The papers' published numbers, read from ``paper_results.csv`` (one published value a line:
its source table, dataset, model, loss, metric and value as a fraction of 1). Reports set them
beside ours; nothing here is measured."""

from __future__ import annotations

import csv
from pathlib import Path

PAPER_RESULTS = Path(__file__).resolve().with_name("paper_results.csv")
COLUMNS = ["source", "dataset", "model", "loss", "metric", "value"]


def paper_rows(path: Path = PAPER_RESULTS) -> list[dict]:
    """The file's rows (``#`` lines are comments), each value a float in (0, 1); an error names
    the line that breaks this."""
    with open(path, newline="", encoding="utf-8") as fp:
        lines = [(number, line) for number, line in enumerate(fp, 1) if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(line for _, line in lines)
    if reader.fieldnames != COLUMNS:
        raise ValueError(f"{path}: the header must be {','.join(COLUMNS)}, got {reader.fieldnames}")
    rows = []
    for (number, _), row in zip(lines[1:], reader):
        try:
            value = float(row["value"])
        except (TypeError, ValueError):
            value = None
        if value is None or not 0 < value < 1 or any(not row[c] for c in COLUMNS):
            raise ValueError(f"{path}, line {number}: expected {','.join(COLUMNS)} with a value in (0, 1), "
                             f"got {row}")
        rows.append({**row, "value": value})
    return rows


def paper_numbers(path: Path = PAPER_RESULTS) -> dict[tuple[str, str, str], dict[str, float]]:
    """(dataset, model, loss) -> {metric: value}; for the CW paper's ablation (Table III) the loss
    is the variant's label (L_SL, L_PSL, L_C, L_W, L_CW)."""
    table: dict[tuple[str, str, str], dict[str, float]] = {}
    for row in paper_rows(path):
        key = (row["dataset"], row["model"], row["loss"])
        if row["metric"] in table.setdefault(key, {}):
            raise ValueError(f"{path}: {row['metric']} of {key} is given twice")
        table[key][row["metric"]] = row["value"]
    return table


def paper_loss_order(source: str = "CW paper Table II", path: Path = PAPER_RESULTS) -> list[str]:
    """The losses of one source table in the order the table lists them."""
    return list(dict.fromkeys(row["loss"] for row in paper_rows(path) if row["source"] == source))


__all__ = ["PAPER_RESULTS", "paper_loss_order", "paper_numbers", "paper_rows"]
