r"""Turn a published train/test split into RecBole benchmark files.

``python -m recbole_losses.prepare --dataset=health --source=/path/to/proc.zip [--data_path=dataset/]``

Two source layouts are read:

- an IR-Benchmark split (the PSL, SL@K and CW papers' data): a ``proc.zip`` or a folder holding
  ``train.tsv``, ``test.tsv`` (``user_procid<TAB>item_procid`` with a header line, 0-based
  contiguous ids), ``user_list.tsv`` and ``item_list.tsv``; or an http(s) URL of such a zip,
  fetched with a timeout. The validation set is the papers' protocol: per user, max(⌊0.1·n⌋, 1)
  of the user's n training items drawn at random with ``--seed`` (never all of them: a user keeps
  at least one training item).
- a split released with its validation set (the Talos and DrRL papers' data): a folder holding
  ``train_data.txt``, ``valid_data.txt`` and ``test.txt`` (``user item`` separated by a space, no
  header, 0-based ids; each may be gzipped as ``<name>.gz``); the released validation set is kept
  as it is (``--seed`` is unused), and a ``train.txt`` beside them must equal train_data +
  valid_data.

It writes ``<data_path>/<dataset>/<dataset>.{train,valid,test}.inter``
(``user_id:token<TAB>item_id:token``; the tokens are the released ids) and
``<dataset>.prepared.json`` (counts, seed, source); the test set is the released one, unchanged.
For the benchmark names the user, item, train and test counts are checked against the released
statistics before anything is written.

Safety: the dataset name must be a plain folder name (nothing is written outside ``--data_path``);
a (user, item) pair repeated within ``train.tsv`` or ``test.tsv`` is kept once (the count is
reported and stored), one in both is an error; the settings (seed, validation rule, a
fingerprint of the source tables) are stored in the manifest, and an existing split made with
other settings is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from .arguments import CommandParser, checked
from .commands import TRAIN, command_line
from .config_checks import check_folder
from .data.datasets import BENCHMARKS, DEFAULT_DATA_PATH, canonical_dataset_name, manifest_path, source_hint
from .losses._checks import number

SPLIT_FILES = ("train.tsv", "test.tsv", "user_list.tsv", "item_list.tsv")
RELEASED_VALID_FILES = ("train_data.txt", "valid_data.txt", "test.txt")
DEFAULT_SEED = 2024  # IR-Benchmark's run seed
VALID_RATIO = 0.1


def _fetch(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise ConnectionError(
            f"cannot download {url} ({err}); download it elsewhere and pass the local file as --source"
        ) from None


def _released_file(folder: Path, name: str) -> Path | None:
    """``folder/name`` or its gzipped copy ``folder/name.gz``, whichever exists (else None)."""
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return path
    return None


def _read_pairs(path: Path) -> np.ndarray:
    """``user item`` lines (space-separated, no header; plain or gzipped) as int64 [n, 2]."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        return np.loadtxt(io.BytesIO(raw), dtype=np.int64, ndmin=2, usecols=(0, 1))
    except ValueError as err:
        raise ValueError(f"{path} is not a table of 'user item' id pairs: {err}") from None


def _same_rows(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two [n, 2] tables hold the same rows, in any order."""
    if a.shape != b.shape:
        return False
    (rows_a, counts_a), (rows_b, counts_b) = (np.unique(t, axis=0, return_counts=True) for t in (a, b))
    return np.array_equal(rows_a, rows_b) and np.array_equal(counts_a, counts_b)


def read_released_valid_split(folder: Path) -> dict[str, np.ndarray]:
    """A split released with its validation set, as the tables of :func:`read_split` plus
    ``valid.txt`` (the released validation rows, also part of ``train.tsv``). The id lists are
    0..max id (the files hold no id lists)."""
    train, valid, test = (_read_pairs(_released_file(folder, name)) for name in RELEASED_VALID_FILES)
    distinct_train = np.unique(train, axis=0)
    shared = np.unique(np.concatenate([distinct_train, valid]), axis=0).shape[0] - distinct_train.shape[0]
    if shared != valid.shape[0]:
        raise ValueError(f"{valid.shape[0] - shared} rows of valid_data.txt in {folder} are repeated there or also in "
                         "train_data.txt; a validation pair must be held out of training exactly once")
    full_train = np.concatenate([train, valid])
    whole = _released_file(folder, "train.txt")
    if whole is not None and not _same_rows(_read_pairs(whole), full_train):
        raise ValueError(f"{whole} is not train_data.txt + valid_data.txt in {folder}: the folder mixes two splits")
    every = np.concatenate([full_train, test])
    n_users, n_items = (int(every[:, col].max()) + 1 if every.size else 0 for col in (0, 1))
    return {"train.tsv": full_train, "test.tsv": test, "valid.txt": valid,
            "user_list.tsv": np.arange(n_users, dtype=np.int64)[:, None],
            "item_list.tsv": np.arange(n_items, dtype=np.int64)[:, None]}


def read_split(source, timeout: float = 30.0) -> dict[str, np.ndarray]:
    """The four tables of a split as int64 arrays [n, 2] (header dropped): an IR-Benchmark split,
    or a folder released with its validation set (then also ``valid.txt``)."""
    source = str(source)
    if Path(source).is_dir() and all(_released_file(Path(source), n) for n in RELEASED_VALID_FILES):
        return read_released_valid_split(Path(source))
    if source.startswith(("http://", "https://")):
        archive = zipfile.ZipFile(io.BytesIO(_fetch(source, timeout)))
    elif Path(source).is_dir():
        archive = None
    elif Path(source).is_file():
        if not zipfile.is_zipfile(source):
            raise ValueError(f"source {source} is neither a zip archive nor a folder")
        archive = zipfile.ZipFile(source)
    else:
        raise FileNotFoundError(f"source {source} does not exist (give a proc.zip, its unzipped folder or a URL)")
    tables = {}
    for name in SPLIT_FILES:
        if archive is None:
            path = Path(source) / name
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing; a split folder holds {', '.join(SPLIT_FILES)} "
                                        f"(IR-Benchmark) or {', '.join(RELEASED_VALID_FILES)} (a split released "
                                        "with its validation set)")
            raw = path.read_bytes()
        else:
            members = [m for m in archive.namelist() if m == name or m.endswith("/" + name)]
            if len(members) != 1:
                raise FileNotFoundError(f"{source} holds {len(members)} files named {name}; expected exactly 1")
            raw = archive.read(members[0])
        # user_list/item_list: keep the procid column only (original ids are arbitrary strings).
        columns = (1,) if name.endswith("_list.tsv") else (0, 1)
        try:
            table = np.loadtxt(io.BytesIO(raw), dtype=np.int64, delimiter="\t", skiprows=1, ndmin=2,
                               usecols=columns)
        except ValueError as err:
            raise ValueError(f"{name} in {source} is not a tab-separated table of procids with a header: {err}") from None
        tables[name] = table
    return tables


def validation_mask(users: np.ndarray, seed: int, ratio: float = VALID_RATIO) -> np.ndarray:
    """Bool mask over training rows: per user, max(⌊ratio·n⌋, 1) rows drawn at random (at most n−1)."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(users.shape[0]), users))  # by user, random within a user
    sorted_users = users[order]
    counts = np.bincount(users)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(users.shape[0]) - starts[sorted_users]
    quota = np.minimum(np.maximum(np.floor(ratio * counts).astype(np.int64), 1), counts - 1)
    mask = np.zeros(users.shape[0], dtype=bool)
    mask[order] = rank < quota[sorted_users]
    return mask


def split_counts(tables: dict[str, np.ndarray]) -> dict[str, int]:
    train, test = tables["train.tsv"], tables["test.tsv"]
    return {
        "users": int(tables["user_list.tsv"].shape[0]),
        "items": int(tables["item_list.tsv"].shape[0]),
        "train": int(train.shape[0]),
        "test": int(test.shape[0]),
    }


def check_split(tables: dict[str, np.ndarray], name: str | None) -> dict[str, int]:
    """Ids in range, train ∩ test = ∅, and (for the benchmark names) the released counts."""
    counts = split_counts(tables)
    for part, n in (("user_list.tsv", counts["users"]), ("item_list.tsv", counts["items"])):
        if not np.array_equal(np.sort(tables[part][:, 0]), np.arange(n)):
            raise ValueError(f"{part}: procids are not 0..{n - 1}")
    for part in ("train.tsv", "test.tsv"):
        t = tables[part]
        if t.size and (t[:, 0].min() < 0 or t[:, 0].max() >= counts["users"] or t[:, 1].min() < 0
                       or t[:, 1].max() >= counts["items"]):
            raise ValueError(f"{part}: ids outside user_list/item_list ({counts['users']} users, {counts['items']} items)")
    key = lambda t: t[:, 0] * counts["items"] + t[:, 1]  # noqa: E731
    overlap = np.intersect1d(key(tables["train.tsv"]), key(tables["test.tsv"])).size
    if overlap:
        raise ValueError(f"{overlap} (user, item) pairs occur in both train.tsv and test.tsv")
    if name in BENCHMARKS:
        expected = {k: getattr(BENCHMARKS[name], k) for k in counts}
        if counts != expected:
            raise ValueError(f"the source does not hold the {name} split: counts {counts}, expected {expected}")
    return counts


def _write_inter(path: Path, pairs: np.ndarray) -> None:
    """Written to a temporary file beside ``path``, then renamed over it (never half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("user_id:token\titem_id:token\n")
        np.savetxt(f, pairs, fmt="%d", delimiter="\t")
    os.replace(tmp, path)


def output_folder(name: str, data_path) -> Path:
    """``<data_path>/<name>``; ValueError unless ``name`` is a plain folder name, so that nothing
    is ever written outside ``data_path``."""
    seps = {"/", "\\", os.sep, os.altsep or "/"}
    if not name or name in (".", "..") or "\0" in name or any(sep in name for sep in seps):
        raise ValueError(f"--dataset {name!r} must be a plain folder name (no '/', '\\' or '..'): "
                         f"the files go to <data_path>/<dataset>/")
    check_folder("--data_path", data_path)
    out = Path(data_path) / name
    if out.resolve().parent != Path(data_path).resolve():
        raise ValueError(f"--dataset {name!r} would write outside --data_path {data_path}")
    return out


def drop_repeated_pairs(table: np.ndarray) -> tuple[np.ndarray, int]:
    """``table`` [n, 2] with each (user, item) row kept once, at its first place; and how many
    rows were dropped."""
    _, first = np.unique(table, axis=0, return_index=True)
    kept = table[np.sort(first)]
    return kept, int(table.shape[0] - kept.shape[0])


def split_settings(tables: dict[str, np.ndarray], seed: int) -> dict:
    """What determines the written split: the seed and the validation rule (or the released
    validation set), and a SHA-256 of the source tables (the same split moved to another path has
    the same fingerprint)."""
    digest = hashlib.sha256()
    for name in (*SPLIT_FILES, "valid.txt"):
        if name in tables:
            digest.update(np.ascontiguousarray(tables[name], dtype=np.int64).tobytes())
    if "valid.txt" in tables:
        return {"valid": "released", "source_sha256": digest.hexdigest()}
    return {"seed": seed, "valid_ratio": VALID_RATIO, "source_sha256": digest.hexdigest()}


def released_valid_mask(train: np.ndarray, valid: np.ndarray, n_items: int) -> np.ndarray:
    """Bool mask over training rows: the rows of the released validation set (disjoint from the
    rest of the training rows, checked by :func:`read_released_valid_split`)."""
    key = lambda t: t[:, 0] * n_items + t[:, 1]  # noqa: E731
    return np.isin(key(train), key(valid))


def check_replaceable(out: Path, name: str, settings: dict) -> None:
    """ValueError when ``out`` already holds files of a split made with other settings (or of
    unknown origin): they are replaced only with ``overwrite``."""
    targets = [out / f"{name}.{suffix}.inter" for suffix in ("train", "valid", "test")]
    record = out / f"{name}.prepared.json"
    if not any(p.exists() for p in [*targets, record]):
        return
    try:
        previous = json.loads(record.read_text(encoding="utf-8")).get("settings")
    except (OSError, ValueError, AttributeError):
        previous = None
    if previous == settings:
        return
    if previous is None:
        why = f"no {record.name} with its settings beside them"
    else:
        why = ", ".join(f"{k} {previous.get(k)!r} there, {v!r} now" for k, v in settings.items() if previous.get(k) != v)
    raise ValueError(f"{out} already holds a split of {name!r} made with other settings ({why}); "
                     f"rerun with the same settings to keep it, or add --overwrite to replace it")


def run_command(name: str, data_path) -> str:
    """The command that trains on a dataset prepared into ``data_path``."""
    elsewhere = Path(data_path) != Path(DEFAULT_DATA_PATH)
    return command_line(TRAIN, "MF", "PSL", name, {"data_path": str(data_path)} if elsewhere else {})


def prepare(name: str, source, data_path: str = DEFAULT_DATA_PATH, seed: int = DEFAULT_SEED,
            timeout: float = 30.0, overwrite: bool = False) -> dict:
    """Write ``<data_path>/<name>/<name>.{train,valid,test}.inter``; return the manifest. A benchmark
    name in any case (``Health``) is that benchmark, its counts checked. ``overwrite``: replace a
    split made with other settings (refused otherwise)."""
    name = canonical_dataset_name(name)
    out = output_folder(name, data_path)
    tables = read_split(source, timeout)
    bench = BENCHMARKS.get(name)
    if bench is not None and bench.released_valid != ("valid.txt" in tables):
        layout = ", ".join(RELEASED_VALID_FILES) if bench.released_valid else "proc.zip (or its folder)"
        raise ValueError(f"{name} is prepared from {layout}: {source_hint(name)}")
    repeated = {}
    for part in ("train.tsv", "test.tsv"):
        tables[part], repeated[part] = drop_repeated_pairs(tables[part])
    counts = check_split(tables, name)
    settings = split_settings(tables, seed)
    if not overwrite:
        check_replaceable(out, name, settings)
    train = tables["train.tsv"]
    if "valid.txt" in tables:
        in_valid = released_valid_mask(train, tables["valid.txt"], counts["items"])
        valid_rule = "released (valid_data.txt)"
    else:
        in_valid = validation_mask(train[:, 0], seed)
        valid_rule = "per user max(floor(0.1*n), 1) of n training items, at most n-1"
    parts = {"train": train[~in_valid], "valid": train[in_valid], "test": tables["test.tsv"]}
    out.mkdir(parents=True, exist_ok=True)
    for suffix, pairs in parts.items():
        _write_inter(out / f"{name}.{suffix}.inter", pairs)
    manifest = {
        "dataset": name,
        "source": str(source),
        "seed": seed,
        "valid_rule": valid_rule,
        "settings": settings,
        "repeated_pairs_dropped": repeated,
        **counts,
        "interactions": counts["train"] + counts["test"],
        "train_after_valid": int(parts["train"].shape[0]),
        "valid": int(parts["valid"].shape[0]),
    }
    manifest_path(data_path, name).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv=None, prog: str = "python -m recbole_losses.prepare") -> int:
    parser = CommandParser(
        prog=prog,
        description="Convert a published train/test split into RecBole benchmark files (train/valid/test).",
    )
    parser.add_argument("--dataset", required=True,
                        help=f"dataset name; {', '.join(BENCHMARKS)} have their counts checked")
    parser.add_argument("--source", required=True,
                        help="proc.zip, its unzipped folder, or an http(s) URL of it; or a folder of "
                             "train_data.txt, valid_data.txt, test.txt (a split released with its validation set)")
    parser.add_argument("--data_path", default=DEFAULT_DATA_PATH,
                        help="RecBole's data_path: files go to <data_path>/<dataset>/ (default dataset/)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help="seed of the validation draw (default 2024; unused with a released validation set)")
    parser.add_argument("--timeout", type=checked(number(0, closed="neither"), float), default=30.0,
                        help="seconds to wait for a URL (default 30)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing split of this dataset made with other settings (refused otherwise)")
    args = parser.parse_args(argv)
    try:
        manifest = prepare(args.dataset, args.source, args.data_path, args.seed, args.timeout, args.overwrite)
    except (ValueError, FileNotFoundError, ConnectionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.data_path) / manifest["dataset"]
    print(f"wrote {out}/{manifest['dataset']}.{{train,valid,test}}.inter: {manifest['users']} users, "
          f"{manifest['items']} items, train {manifest['train_after_valid']}, valid {manifest['valid']}, "
          f"test {manifest['test']} ("
          + ("the released validation set" if manifest["settings"].get("valid") == "released"
             else f"seed {manifest['seed']}") + ")")
    repeated = {part: n for part, n in manifest["repeated_pairs_dropped"].items() if n}
    if repeated:
        print("dropped repeated (user, item) rows: " + ", ".join(f"{n} in {part}" for part, n in repeated.items()))
    print(f"train on it: {run_command(manifest['dataset'], args.data_path)}  (any --model/--loss; "
          "the split's train, valid and test files are found by the dataset name)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
