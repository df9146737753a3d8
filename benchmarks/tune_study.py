r"""Tune several loss variants on one dataset and backbone under the same trial budget, and table
the outcome.

    python benchmarks/tune_study.py --dataset=health --model=MF --data_path=DATA --n_trials=30
        [--variants "CW: loss=CW" "CW-hcl: loss=CW cw_weighting=hcl" "PSL: loss=PSL" ...]
        [--preset=paper] [--out=DIR] [--workers=K] [--pruner=median|none]
        [--sampler=tpe|random|grid] [--sampler_seed=S] [--timeout=SECONDS] [--set key=value ...]
        [--report-only]

A variant is ``NAME: loss=LOSS [key=value ...]``: a loss and fixed config overrides; ``params=FILE``
replaces the loss's shipped search space, ``pruner=none`` / ``warmup_epochs=E`` set the tuner's
pruning for that variant (e.g. ``"CW-unpruned: loss=CW pruner=none"`` beside ``"CW: loss=CW"``
measures what pruning saves: compare the summed trial wall time and the selected trial).
Default variants: CW, PSL, SL@K, DrRL, CCL. Each variant is one tuner study
(``python -m recbole_losses.tune``, the exact command recorded), run or resumed in
``<out>/<variant>/`` with its own SQLite storage; ``--workers=K`` runs K worker processes on
the study at once. With ``--preset=paper`` a variant starts from the paper preset where one exists
for the dataset x model x loss (the dataset's protocol, e.g. Health's 200 epochs with validation
every 5 and early stopping, applies either way). The searched keys always come from the space.

Writes ``<out>/results.md`` and ``results.csv`` (per variant: trials complete/pruned/failed, best
validation NDCG@20, test Recall@20 / NDCG@20 of the selected trial, chosen settings, the search
space's size, the summed trial wall time, the command) and ``results.png`` (a bar chart).
Selection is on validation only; the test figures are the selected trial's, computed once.
Each worker's progress lines go to ``<out>/<variant>/worker-<k>.log``. Several tune_study processes
may share one ``--out`` with different ``--variants`` (every study has its own storage): each
report keeps the rows the folder's table already holds for other variants of the same dataset and
model and rewrites only its own, so the table always lists every variant run there; a
``--report-only`` run naming all the variants refreshes them all.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # this checkout's recbole_losses, as the tuner processes it starts

from recbole_losses.commands import command_line  # noqa: E402
from recbole_losses.tables import read_csv, write_table  # noqa: E402

# Variant keys that are tuner options, not config overrides.
TOOL_KEYS = ("loss", "params", "pruner", "warmup_epochs")
DEFAULT_VARIANTS = ["CW: loss=CW", "PSL: loss=PSL", "SL@K: loss=SL@K", "DrRL: loss=DrRL", "CCL: loss=CCL"]


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """``"CW-hcl: loss=CW cw_weighting=hcl"`` -> ``("CW-hcl", {"loss": "CW", "cw_weighting": "hcl"})``."""
    if ":" not in text:
        raise ValueError(f"variant {text!r} is not 'NAME: loss=LOSS [key=value ...]'")
    name, rest = text.split(":", 1)
    name = name.strip()
    settings = {}
    for item in re.split(r"[\s,]+", rest.strip()):
        if not item:
            continue
        if "=" not in item:
            raise ValueError(f"variant {name}: {item!r} is not key=value")
        key, value = item.split("=", 1)
        settings[key.strip()] = value.strip()
    if not name or "loss" not in settings:
        raise ValueError(f"variant {text!r} needs a name and loss=LOSS")
    return name, settings


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.replace("@", "at"))


def searched_space(params_file: str | None, loss: str, out: str) -> tuple[list[str], str]:
    """The searched keys and the number of grid points (``continuous`` with a continuous range); a
    relative ``params_file`` is read from ``out``, where the tuner runs."""
    from recbole_losses.tuning.space import space_size
    from recbole_losses.tuning.space import default_params_file, read_params_file

    params = read_params_file(Path(out) / params_file if params_file else default_params_file(loss))
    size = space_size(params)
    return list(params), "continuous" if size is None else str(size)


def study_args(args, name: str, variant: dict[str, str]) -> tuple[list[str], Path]:
    """The tuner's command-line arguments for one variant (run inside ``args.out``, where RecBole
    writes its log/ folder), and its output folder."""
    from recbole_losses.config import preset_file

    folder = Path(args.out) / safe_name(name)
    loss = variant["loss"]
    cmd = [f"--model={args.model}", f"--loss={loss}", f"--dataset={args.dataset}", f"--n_trials={args.n_trials}",
           f"--study_name={args.dataset}-{args.model}-{safe_name(name)}", f"--output_dir={safe_name(name)}",
           f"--pruner={variant.get('pruner', args.pruner)}"]
    if args.sampler != "tpe":
        cmd.append(f"--sampler={args.sampler}")
    if args.sampler_seed is not None:
        cmd.append(f"--sampler_seed={args.sampler_seed}")
    if args.timeout is not None:
        cmd.append(f"--timeout={args.timeout:g}")
    warmup = variant.get("warmup_epochs", args.warmup_epochs)
    if warmup is not None:
        cmd.append(f"--warmup_epochs={warmup}")
    if "params" in variant:
        cmd.append(f"--params_file={variant['params']}")
    if args.preset:
        try:
            preset_file(args.preset, args.dataset, args.model, loss)
            cmd.append(f"--preset={args.preset}")
        except ValueError:
            pass  # no preset for this loss: the dataset's own YAML gives the protocol
    if args.data_path:
        cmd.append(f"--data_path={args.data_path}")
    for item in args.set:
        cmd.append(f"--{item}")
    cmd += [f"--{k}={v}" for k, v in variant.items() if k not in TOOL_KEYS]
    return cmd, folder


def format_command(args, cmd: list[str]) -> str:
    """The command as reported: ``--data_path=DATA`` stands for the machine's data folder."""
    shown = ["--data_path=DATA" if c.startswith("--data_path=") else c for c in cmd]
    return f"cd {shlex.quote(args.out)} && " + command_line("python -m recbole_losses.tune", options=shown)


def run_variant(args, name: str, variant: dict[str, str]) -> tuple[str, float]:
    """Run (or resume) one variant's study with ``args.workers`` processes; the command and the
    seconds this invocation took."""
    cmd, folder = study_args(args, name, variant)
    folder.mkdir(parents=True, exist_ok=True)
    command = format_command(args, cmd)
    print(f"[tune_study] {name}: {command} (DATA = {args.data_path})", flush=True)
    start = time.time()
    procs = []
    for worker in range(args.workers):
        log = open(folder / f"worker-{worker}.log", "a")
        procs.append((subprocess.Popen([sys.executable, "-m", "recbole_losses.tune", *cmd], cwd=args.out,
                                       stdout=log, stderr=subprocess.STDOUT,
                                       env={**os.environ, "PYTHONPATH": str(REPO)}), log))
        if worker == 0 and args.workers > 1:
            time.sleep(5)  # the first worker creates the study
    codes = []
    for proc, log in procs:
        codes.append(proc.wait())
        log.close()
    if any(code not in (0, 1) for code in codes):
        print(f"[tune_study] {name}: a worker exited with {codes}; see {folder}/worker-*.log", flush=True)
    return command, time.time() - start


def collect(args, variants) -> list[dict]:
    rows = []
    for name, variant in variants:
        cmd, folder = study_args(args, name, variant)
        summary_path = folder / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        test = (summary.get("test") or {}).get("metrics", {})
        trials = summary.get("trials", {})
        keys, size = searched_space(variant.get("params"), variant["loss"], args.out)
        rows.append({
            "variant": name,
            "model": args.model,
            "dataset": args.dataset,
            "loss": variant["loss"],
            "fixed": " ".join(f"{k}={v}" for k, v in variant.items() if k not in TOOL_KEYS),
            "pruner": variant.get("pruner", args.pruner),
            "complete": trials.get("complete"),
            "pruned": trials.get("pruned"),
            "failed": trials.get("failed"),
            "best valid ndcg@20": (summary.get("best_valid_result") or {}).get("ndcg@20"),
            "test recall@20": test.get("recall@20"),
            "test ndcg@20": test.get("ndcg@20"),
            "best trial": summary.get("best_trial"),
            "settings": json.dumps(summary.get("best_params") or {}),
            "selected settings": json.dumps(selected_settings(args, variant, summary)),
            "searched": ", ".join(keys),
            "grid size": size,
            "trial wall s (sum)": summary.get("wall_seconds"),
            "command": format_command(args, cmd),
        })
    return rows


def selected_settings(args, variant: dict[str, str], summary: dict) -> dict:
    """The selected trial's searched values plus the study's fixed overrides (``--set`` and the
    variant's own keys), in the order of the study's best settings; the protocol keys the tuner
    also records there (epochs, metrics, ...) are the dataset's and left out."""
    settings = summary.get("best_settings") or {}
    if summary.get("best_params") is None:  # a summary without the searched values: all it holds
        return settings
    fixed = {item.split("=", 1)[0] for item in args.set} | {k for k in variant if k not in TOOL_KEYS}
    return {k: v for k, v in settings.items() if k in summary["best_params"] or k in fixed}


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:.1f}"
    return "" if value is None else str(value)


# The columns of results.csv that hold numbers (read back as strings).
NUMBER_COLUMNS = ("complete", "pruned", "failed", "best valid ndcg@20", "test recall@20", "test ndcg@20",
                  "best trial", "grid size", "trial wall s (sum)")


def _read_number(text: str):
    """A number cell of results.csv as the int or float it was written from (text that is no
    number, e.g. an empty cell or a ``continuous`` grid size, stays as it is)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def merged_rows(out: Path, rows: list[dict]) -> list[dict]:
    """``rows`` with the rows ``<out>/results.csv`` holds for other variants of the same dataset and
    model (another tune_study run sharing the folder), in the table's order, new variants last."""
    old = [{k: _read_number(v) if k in NUMBER_COLUMNS else v for k, v in row.items()}
           for row in read_csv(out / "results.csv")]
    same = {(row["dataset"], row["model"]) for row in rows}
    current = {row["variant"]: row for row in rows}
    merged = [current.pop(row["variant"], row) for row in old
              if (row.get("dataset"), row.get("model")) in same or row["variant"] in current]
    return merged + list(current.values())


def write_report(args, rows: list[dict], elapsed: dict[str, float]) -> None:
    out = Path(args.out)
    rows = merged_rows(out, rows)
    shown = ["variant", "pruner", "complete", "pruned", "failed", "best valid ndcg@20", "test recall@20", "test ndcg@20",
             "settings", "grid size", "trial wall s (sum)"]
    notes = []
    sizes = {row["grid size"] for row in rows}
    if len(sizes) > 1:
        listing = ", ".join(f"{row['variant']} {row['grid size']}" for row in rows)
        notes += [f"Note: the variants' search spaces differ in size (grid points: {listing}).", ""]
    notes += ["Commands (rerun one to resume or extend its study):", ""]
    for row in rows:
        took = elapsed.get(row["variant"])
        notes.append(f"- {row['variant']}" + (f" (this run: {took:.0f} s)" if took is not None else "") +
                     f": `{row['command']}`")
    write_table(rows, out / "results.csv", out / "results.md",
                f"Tuned on validation: {args.dataset} {args.model}",
                shown=shown, intro=["Selection on validation NDCG@20 only; the test figures are the selected "
                                    "trial's, computed once. `complete` counts each variant's trials."],
                notes=notes, cell=_fmt)
    print(f"[tune_study] wrote {out / 'results.md'}, {out / 'results.csv'}", flush=True)
    write_chart(out / "results.png", rows, f"{args.dataset} {args.model}")


def write_chart(path: Path, rows: list[dict], title: str) -> None:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [row["variant"] for row in rows]
    series = [("best valid ndcg@20", "valid NDCG@20 (selected)"), ("test ndcg@20", "test NDCG@20"),
              ("test recall@20", "test Recall@20")]
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(rows)), 4))
    for k, (key, label) in enumerate(series):
        values = [row[key] if isinstance(row[key], (int, float)) and not math.isnan(row[key]) else 0.0 for row in rows]
        ax.bar([i + (k - 1) * width for i in range(len(rows))], values, width, label=label)
    ax.set_xticks(range(len(rows)), names)
    ax.set_title(f"Tuned on validation: {title}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model", default="MF")
    parser.add_argument("--data_path", default=None, help="RecBole data_path holding the prepared dataset")
    parser.add_argument("--n_trials", type=int, required=True, help="trials per variant (the same for all)")
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, help="'NAME: loss=LOSS [key=value ...]'")
    parser.add_argument("--preset", default=None, help="e.g. paper")
    parser.add_argument("--out", default=None, help="default tune_study/<dataset>-<model>")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per study")
    parser.add_argument("--pruner", default="median", choices=["median", "none"])
    parser.add_argument("--warmup_epochs", type=int, default=None)
    parser.add_argument("--sampler", default="tpe", choices=["tpe", "random", "grid"])
    parser.add_argument("--sampler_seed", type=int, default=None,
                        help="the same TPE seed for every variant (with --workers=1: comparable trial sequences)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per study after which its workers start no new trial (rerun to continue)")
    parser.add_argument("--set", nargs="*", default=[], metavar="key=value", help="fixed overrides for every variant")
    parser.add_argument("--report-only", dest="report_only", action="store_true")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = str(Path("tune_study") / f"{args.dataset}-{args.model}")
    if args.data_path is not None:
        args.data_path = str(Path(args.data_path).resolve())  # the studies run inside --out
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    variants = [parse_variant(v) for v in args.variants]
    names = [name for name, _ in variants]
    if len(set(names)) != len(names):
        raise SystemExit(f"variant names must differ: {names}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    elapsed = {}
    if not args.report_only:
        for name, variant in variants:
            _, elapsed[name] = run_variant(args, name, variant)
            write_report(args, collect(args, variants), elapsed)
    write_report(args, collect(args, variants), elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
