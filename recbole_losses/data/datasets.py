"""Locating a dataset before RecBole tries (and, offline, fails) to download it."""

from __future__ import annotations

import os
from pathlib import Path


def available_datasets(data_root) -> list[str]:
    """ml-100k (shipped inside RecBole) and every folder of ``data_root`` holding atomic files."""
    names = {"ml-100k"}
    root = Path(data_root)
    if root.is_dir():
        for sub in root.iterdir():
            if sub.is_dir() and any(p.suffix == ".inter" for p in sub.iterdir()):
                names.add(sub.name)
    return sorted(names)


def check_dataset(config) -> None:
    """FileNotFoundError naming the missing folder and the datasets that are there; for the
    benchmark names (health, electronic, gowalla, amazon-book), the command that prepares them."""
    from ..prepare import BENCHMARKS, prepare_command, source_hint

    name, folder = config["dataset"], config["data_path"]
    data_root = os.path.dirname(os.path.normpath(folder))
    if name in BENCHMARKS:
        suffixes = config["benchmark_filename"] or []
        missing = [f"{name}.{s}.inter" for s in suffixes if not os.path.isfile(os.path.join(folder, f"{name}.{s}.inter"))]
        if missing or not suffixes:
            raise FileNotFoundError(
                f"benchmark dataset {name!r} is not prepared in {folder} (data_path is {data_root}; "
                f"missing {', '.join(missing) or 'benchmark_filename'}). Run once: "
                f"{prepare_command(name, data_root)} ({source_hint(name)})"
            )
        check_headers(config)
        return
    if name == "ml-100k" or os.path.isdir(folder):
        check_headers(config)
        return
    raise FileNotFoundError(
        f"dataset {name!r} not found: no folder {folder} (data_path is {data_root}); "
        f"available datasets: {', '.join(available_datasets(data_root))}"
    )


FIELD_TYPES = ("token", "token_seq", "float", "float_seq")


def check_headers(config) -> None:
    """ValueError naming the file for an interaction file RecBole would misread (it fails with
    "not enough values to unpack" or an AttributeError otherwise): a header that is not
    ``name:type`` columns split by ``field_separator``, an unknown type, or no user/item column.
    A missing file is left to RecBole, which names it."""
    name, folder, sep = config["dataset"], config["data_path"], config["field_separator"] or "\t"
    for suffix in config["benchmark_filename"] or [None]:
        path = os.path.join(folder, f"{name}.inter" if suffix is None else f"{name}.{suffix}.inter")
        if not os.path.isfile(path):
            continue
        with open(path, encoding=config["encoding"] or "utf-8") as f:
            header, first_row = f.readline().rstrip("\r\n"), f.readline().strip()
        if not first_row:
            raise ValueError(f"{path} has a header but no interactions (its first data line is empty)")
        columns = header.split(sep)
        bad = [c for c in columns if c.count(":") != 1 or c.split(":")[1] not in FIELD_TYPES]
        if bad:
            raise ValueError(
                f"{path}: header {header!r} must be name:type columns separated by field_separator "
                f"{sep!r}, types one of {list(FIELD_TYPES)}; bad column(s): {bad}"
            )
        names = [c.split(":")[0] for c in columns]
        missing = [f for f in (config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]) if f not in names]
        if missing:
            raise ValueError(
                f"{path}: no {missing} column (USER_ID_FIELD/ITEM_ID_FIELD); the header has {names}"
            )
