"""Dataset names: RecBole's catalogue, the published benchmark splits (:data:`BENCHMARKS`, which
:mod:`recbole_losses.prepare` converts), the user's own folders; locating a dataset before RecBole
tries (and, offline, fails) to download it."""

from __future__ import annotations

import difflib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from ..commands import command_line

SHIPPED = "ml-100k"  # inside RecBole's package, no download
DOWNLOAD_PROBE_TIMEOUT = 10.0  # seconds to wait for RecBole's download server before calling it offline
DEFAULT_DATA_PATH = "dataset/"  # RecBole's own default data_path


@dataclass(frozen=True)
class Benchmark:
    folder: str  # the released split's folder name (IR-Benchmark: data_iid/<folder>/proc.zip)
    users: int  # user ids 0..users-1
    items: int  # item ids 0..items-1
    train: int  # training interactions, validation included
    test: int
    released_valid: bool = False  # released with its validation set (train_data/valid_data/test.txt)
    origin: str = "Tiny-Snow/IR-Benchmark-Dataset data_iid/{folder}/proc.zip"


TALOS_ORIGIN = ("cynthia-shengjia/WWW-2026-Talos normal_data/IID_Data_Used/Beauty/ (its train_data.txt, "
                "valid_data.txt and test.txt; gzipped copies work too)")
# Released statistics (the releasers' summary.txt; CW paper Table I; the Talos repository's
# summary.txt: item ids 0..8692, of which 8,692 occur).
BENCHMARKS = {
    "health": Benchmark("amazon2014-health", 1974, 1200, 37784, 10405),
    "electronic": Benchmark("amazon2014-electronic", 13455, 8360, 182398, 52123),
    "gowalla": Benchmark("gowalla", 29858, 40988, 810128, 217336),
    "amazon-book": Benchmark("amazon2014-book", 135109, 115172, 3180699, 861683),
    "talos-beauty": Benchmark("talos-amazon-beauty", 15603, 8693, 106082, 33472, released_valid=True,
                              origin=TALOS_ORIGIN),
}


def prepare_command(name: str, data_path: str | None = None) -> str:
    """The exact command that prepares benchmark ``name``."""
    bench = BENCHMARKS[name]
    source = f"{bench.folder}/" if bench.released_valid else f"{bench.folder}/proc.zip"
    options = {"source": f"/path/to/{source}"}
    if data_path is not None and Path(data_path) != Path(DEFAULT_DATA_PATH):
        options["data_path"] = str(data_path)
    return command_line("python -m recbole_losses.prepare", dataset=name, options=options)


def source_hint(name: str) -> str:
    """Where the split of benchmark ``name`` is published."""
    bench = BENCHMARKS[name]
    what = "the folder" if bench.released_valid else "proc.zip"
    hint = f"{what} is {bench.origin.format(folder=bench.folder)}"
    if name == "amazon-book":
        hint += (" (its content is not shipped with this package and no public copy is known to be"
                 " reachable offline: prepare it from a local copy of that proc.zip)")
    return hint


# How RecBole reads a split that recbole_losses.prepare wrote: <name>.<suffix>.inter for each
# suffix, the user and item columns. The benchmarks' dataset YAMLs say the same; a prepared dataset
# of any other name gets these settings from recbole_losses.config (prepared_settings).
PREPARED_SETTINGS = {"benchmark_filename": ["train", "valid", "test"], "load_col": {"inter": ["user_id", "item_id"]}}


def manifest_path(data_path, name: str) -> Path:
    """``<data_path>/<name>/<name>.prepared.json``, written beside a prepared split."""
    return Path(data_path) / name / f"{name}.prepared.json"


def prepared_settings(data_path, name: str) -> dict:
    """:data:`PREPARED_SETTINGS` when ``<data_path>/<name>`` holds a split that
    :mod:`recbole_losses.prepare` wrote, else {}."""
    return dict(PREPARED_SETTINGS) if manifest_path(data_path, name).is_file() else {}


def benchmark_names() -> list[str]:
    """The published splits ``prepare`` converts (health, electronic, gowalla, amazon-book, talos-beauty)."""
    return list(BENCHMARKS)


@lru_cache(maxsize=1)
def recbole_catalogue() -> dict[str, str]:
    """RecBole's downloadable datasets: name -> URL of its atomic files (RecBole's ``url.yaml``)."""
    import recbole

    path = Path(recbole.__file__).resolve().parent / "properties" / "dataset" / "url.yaml"
    with open(path, encoding="utf-8") as f:
        return dict(yaml.safe_load(f) or {})


def available_datasets(data_root) -> list[str]:
    """ml-100k (shipped inside RecBole) and every folder of ``data_root`` holding atomic files."""
    names = {SHIPPED}
    root = Path(data_root)
    if root.is_dir():
        for sub in root.iterdir():
            if sub.is_dir() and any(p.suffix == ".inter" for p in sub.iterdir()):
                names.add(sub.name)
    return sorted(names)


def canonical_dataset_name(name):
    """A benchmark name in any case (``Health``) as its registered spelling (``health``); any other
    name unchanged (folder names are case-sensitive on most file systems)."""
    if not isinstance(name, str):
        return name
    lowered = {n.lower(): n for n in benchmark_names()}
    return lowered.get(name.lower(), name)


def did_you_mean(name: str, choices) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` (difflib), else an empty string."""
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(by_lower[c]) for c in close) + "?)"


def download_error(url: str, timeout: float = DOWNLOAD_PROBE_TIMEOUT) -> str | None:
    """None if RecBole's download ``url`` answers within ``timeout`` seconds, else why not."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as err:
        return str(getattr(err, "reason", None) or err)


def check_dataset(config) -> None:
    """FileNotFoundError naming the missing folder and the datasets that are there; for the
    benchmark names (health, electronic, gowalla, amazon-book), the command that prepares them;
    for a name of RecBole's catalogue (ml-1m, yelp, ...) that is not on disk, nothing if RecBole's
    download server answers (RecBole then downloads it, as it always does), else how to put the
    files in place by hand."""
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
    if name == SHIPPED or os.path.isdir(folder):
        check_headers(config)
        return
    catalogue = recbole_catalogue()
    if name in catalogue:
        url = catalogue[name]
        reason = download_error(url)
        if reason is None:
            return
        raise FileNotFoundError(
            f"dataset {name!r} is in RecBole's catalogue but is not in {folder} and cannot be downloaded "
            f"now ({reason}). Download {url} on a machine with network access, unzip it so that "
            f"{os.path.join(folder, name + '.inter')} exists (pass --data_path=DIR for another folder than "
            f"{data_root}), then run again"
        )
    local = available_datasets(data_root)
    hint = did_you_mean(name, [*local, *BENCHMARKS, *catalogue])
    raise FileNotFoundError(
        f"dataset {name!r} not found{hint}: no folder {folder} (data_path is {data_root}); "
        f"available datasets: {', '.join(local)}; benchmarks (prepare once): {', '.join(BENCHMARKS)}; "
        f"RecBole's catalogue ({len(catalogue)} datasets, downloaded on first use), e.g. "
        "ml-1m, yelp, amazon-books; "
        f"or your own atomic files in <data_path>/{name}/{name}.inter"
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
