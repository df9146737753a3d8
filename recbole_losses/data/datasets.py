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
        return
    if name == "ml-100k" or os.path.isdir(folder):
        return
    raise FileNotFoundError(
        f"dataset {name!r} not found: no folder {folder} (data_path is {data_root}); "
        f"available datasets: {', '.join(available_datasets(data_root))}"
    )
