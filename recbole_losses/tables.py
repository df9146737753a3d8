r"""Result tables as files: every column in a CSV file, the columns a reader wants in a Markdown
page beside it (a title, lines before and after the table). The tuner's ``trials.csv`` /
``trials.md`` and the benchmarks' ``results.csv`` / ``results.md`` are written here. Files are
replaced whole (written beside, then renamed), so a reader or a second writer never sees half a
file."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path


def replace_file(path: Path, text: str) -> None:
    """Write ``text`` into ``path`` whole: into a temporary file beside it, then renamed over it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def format_cell(value) -> str:
    """A table cell: a float to 6 significant digits, None empty, anything else as text."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def columns_of(rows: Iterable[dict]) -> list[str]:
    """Every key of the rows, in the order they first appear."""
    return list(dict.fromkeys(key for row in rows for key in row))


def markdown_table(rows: Sequence[dict], columns: Sequence[str] | None = None,
                   cell: Callable[[object], str] = format_cell, header: Sequence[str] | None = None) -> list[str]:
    """The lines of a Markdown table of ``columns`` (default every key) of ``rows``, headed by
    ``header`` (default the column names); a cell's ``|`` and line breaks are escaped so that they
    cannot break the table."""
    columns = list(columns) if columns is not None else columns_of(rows)
    header = list(header) if header is not None else columns
    if len(header) != len(columns):
        raise ValueError(f"{len(header)} header names for {len(columns)} columns")
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        texts = (cell(row.get(column)).replace("|", "\\|").replace("\n", " ") for column in columns)
        lines.append("| " + " | ".join(texts) + " |")
    return lines


def read_csv(path: Path) -> list[dict]:
    """The rows of a CSV file with a header, as dicts of strings; [] where the file is missing."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, rows: Sequence[dict], columns: Sequence[str] | None = None) -> None:
    """``rows`` as a CSV file with a header (default columns: every key); a missing key is empty."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns) if columns is not None else columns_of(rows))
    writer.writeheader()
    writer.writerows(rows)
    replace_file(Path(path), buffer.getvalue())


def write_table(rows: Sequence[dict], csv_path: Path, md_path: Path, title: str, *,
                shown: Sequence[str] | None = None, header: Sequence[str] | None = None,
                intro: Iterable[str] = (), notes: Iterable[str] = (), cell: Callable[[object], str] = format_cell,
                page_rows: Sequence[dict] | None = None) -> None:
    """Every column of ``rows`` into ``csv_path``; into ``md_path`` a page ``# title``, the
    ``intro`` lines, the table of the ``shown`` columns (default every one; ``header``: the names
    shown for them) and the ``notes`` lines. ``page_rows``: the rows as the page shows them
    (e.g. two figures joined in one column), default ``rows``."""
    write_csv(csv_path, rows, None if rows else shown)  # no rows: the shown columns' header
    intro, notes = list(intro), list(notes)
    table = markdown_table(rows if page_rows is None else page_rows, shown, cell, header)
    lines = [f"# {title}", "", *intro, *([""] if intro else []), *table, *([""] if notes else []), *notes]
    replace_file(Path(md_path), "\n".join(lines) + "\n")


__all__ = ["columns_of", "format_cell", "markdown_table", "write_csv", "write_table"]
