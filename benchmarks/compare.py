r"""Comparison harness: grids of backbones x losses (ours and RecBole's stock baselines) on one
dataset, the CW ablation, sensitivity sweeps and a false-negative robustness sweep.

    python benchmarks/compare.py --study=grid --dataset=health [--models=MF,LightGCN]
        [--losses=all] [--stock=BPR,LightGCN,SimpleX] [--preset=paper] [--data_path=DIR]
        [--out=DIR] [--set key=value ...] [--plots/--no-plots] [--reuse DIR ...] [--report-only]
    python benchmarks/compare.py --study=ablation --dataset=health          # SL, PSL, L_C, L_W, CW (LightGCN)
    python benchmarks/compare.py --study=tau_plus --dataset=health          # CW's tau+ incl. pop (Fig. 4)
    python benchmarks/compare.py --study=pos_num --dataset=health           # M (Fig. 5)
    python benchmarks/compare.py --study=beta --dataset=health              # beta (Fig. 6)
    python benchmarks/compare.py --study=noise --dataset=health [--losses=SL,PSL,BSL,CCL,DrRL,CW]

Every cell is one ``recbole_losses.run`` (the same as the ``run_recbole_losses.py`` command line
recorded with it). A finished cell is appended to ``<out>/results.csv`` at once, keyed by a hash of
its full configuration, so an interrupted study resumes where it stopped and a finished cell is
never run again, and a cell stopped in the middle resumes from its last epoch (``resume_checkpoint:
last``: the same end as an uninterrupted run; its ``seconds`` add up every sitting, the epoch a
stop interrupted excepted);
``--reuse DIR`` copies cells another study finished with the same command line
(the ablation's L_SL, L_PSL and L_CW are the grid's SL, PSL and CW; a sweep's point at the
preset's own value, e.g. tau+ = 0.1 or noise 0, carries no override and is the grid's cell). After
every cell ``results.md`` (our numbers, the paper's, the relative difference, and each command) is
rewritten; PNG charts (matplotlib) at the end. The paper's numbers are read from
``benchmarks/paper_results.csv``.
Runs execute inside ``<out>`` (RecBole writes ``log/`` and ``saved/`` into the working directory);
relative paths given on the command line (``--out``, ``--data_path``, ``--set data_path=...``) and
RecBole's default ``data_path`` (``dataset/``) are resolved from the caller's working directory.
The data folder is not part of a cell's id or recorded command (``DATA`` in the docs' commands).
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import json
import os
import sys
import time
import warnings
from pathlib import Path

if __package__ in (None, ""):  # python benchmarks/compare.py: the repository root, for benchmarks.*
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.paper import paper_loss_order, paper_numbers, paper_rows  # noqa: E402
from recbole_losses.commands import command_line as render_command  # noqa: E402
from recbole_losses.tables import markdown_table, read_csv  # noqa: E402

PROGRAM = "python run_recbole_losses.py"  # the command recorded with each cell (a checkout's script)
METRICS = ["recall@10", "ndcg@10", "recall@20", "ndcg@20"]
# Recorded where the dataset's metrics include them (talos-beauty: Precision@20); a column of its
# own at the end, so results files written before it keep their header as a prefix.
OPTIONAL_METRICS = ["precision@20"]
SWEEPS = {  # study -> (CW key, values); the CW paper's Fig. 4-6 on LightGCN
    "tau_plus": ("cw_tau_plus", ["0.0", "0.02", "0.05", "0.08", "0.1", "0.12", "0.15", "pop"]),
    "pos_num": ("pos_num", ["1", "2", "4", "6", "8"]),
    "beta": ("cw_beta", ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0", "1.2"]),
    "noise": ("neg_noise_ratio", ["0.0", "0.1", "0.2", "0.3", "0.4", "0.5"]),
}
SWEEP_LOSSES = {"noise": ["SL", "PSL", "BSL", "CCL", "DrRL", "CW"]}  # default --losses of a sweep (else CW)
STUDIES = ["grid", "ablation", *SWEEPS]
FIELDS = ["cell_id", "study", "dataset", "model", "loss", "label", "param", "value", "preset", "overrides",
          *METRICS, "best_valid_ndcg@20", "seconds", "command", *OPTIONAL_METRICS]

ABLATION = [("L_SL", "SL", {}), ("L_PSL", "PSL", {}), ("L_C", "CW", {"cw_beta": "0.0"}),
            ("L_W", "CW", {"cw_tau_plus": "0.0"}), ("L_CW", "CW", {})]
STOCK_PAPER_ROW = {"BPR": ("MF", "BPR"), "LightGCN": ("LightGCN", "BPR")}  # stock model -> paper's BPR row


def all_losses() -> list[str]:
    """Every registered loss: those of the CW paper's Table II in its order, then the others by name."""
    from recbole_losses import available_losses

    paper_order = paper_loss_order()
    return sorted(available_losses(), key=lambda x: (paper_order.index(x) if x in paper_order else len(paper_order), x))


def build_cells(args) -> list[dict]:
    """The study's cells: model, loss (None = stock), label, swept param/value, overrides."""
    losses = all_losses() if args.losses == "all" else [x for x in args.losses.split(",") if x]
    cells = []
    if args.study == "grid":
        for model in args.models.split(","):
            cells += [dict(model=model, loss=loss, label=loss, param="", value="", extra={}) for loss in losses]
        cells += [dict(model=m, loss=None, label=f"{m} (stock)", param="", value="", extra={})
                  for m in args.stock.split(",") if m]
    elif args.study == "ablation":
        cells = [dict(model=args.model, loss=loss, label=label, param="", value="", extra=dict(extra))
                 for label, loss, extra in ABLATION]
    else:
        key, default_values = SWEEPS[args.study]
        values = args.values.split(",") if args.values else default_values
        sweep_losses = losses if args.study == "noise" and args.losses != "all" else (
            SWEEP_LOSSES.get(args.study, ["CW"]))
        for loss in sweep_losses:
            cells += [dict(model=args.model, loss=loss, label=loss, param=key, value=v, extra={key: v})
                      for v in values]
    return cells


def cell_settings(cell, args) -> tuple[str, dict]:
    """The preset that applies (``-`` where the preset does not cover the cell) and the overrides."""
    from recbole_losses.config import preset_combinations

    preset = "-"
    if args.preset:
        covered = preset_combinations(args.preset).get(args.dataset, {})
        if (cell["loss"] or "stock") in covered.get(_config_model(cell), []):
            preset = args.preset
    foreign = other_losses_keys(cell["loss"])
    overrides = {k: v for k, v in args.set.items() if k not in foreign}
    redundant = already_set(cell, args.dataset, preset, overrides)
    overrides.update({k: v for k, v in cell["extra"].items() if k not in redundant})
    return preset, overrides


def other_losses_keys(loss: str | None) -> set[str]:
    """Config keys of losses other than ``loss`` (all of them for a stock model): ``--set drrl_c=10``
    changes the DrRL cells only, and every other cell keeps its command line (and its reuse)."""
    from recbole_losses.losses import LOSSES, get_loss_class

    own = set(get_loss_class(loss).config_keys()) if loss else set()
    return {k for cls in LOSSES.values() for k in cls.config_keys()} - own


def already_set(cell, dataset, preset, overrides) -> set[str]:
    """The keys of ``cell['extra']`` whose value the cell gets anyway (from the preset or the YAML
    defaults): left out of the overrides, a sweep's point at the preset's value (tau+ = 0.1, M = 4,
    beta = 0.8, noise 0) is the same run, command line and cell id as the grid's cell."""
    if not cell["extra"] or cell["loss"] is None:
        return set()
    from recbole_losses.config import Config

    config = {k: _parse(v) for k, v in overrides.items()}
    config["loss"] = cell["loss"]
    if preset != "-":
        config["preset"] = preset
    resolved = Config(cell["model"], dataset, config_dict=config)
    return {k for k, v in cell["extra"].items() if k in resolved and resolved[k] == _parse(v)}


def _config_model(cell) -> str:
    """The name the config (and the preset folders) use: the resolved model class's (MF with a
    loss, RecBole's BPR without)."""
    from recbole_losses.models import resolve_model

    return resolve_model(cell["model"], cell["loss"]).__name__


def command_line(cell, dataset, preset, overrides) -> str:
    """The command line that runs the cell (recorded with it, and how --reuse matches cells)."""
    options = {"preset": preset} if preset != "-" else {}
    options.update(sorted(overrides.items()))
    return render_command(PROGRAM, cell["model"], cell["loss"], dataset, options)


def cell_id(cell, dataset, preset, overrides) -> str:
    key = json.dumps([dataset, cell["model"], cell["loss"], cell["label"], preset, sorted(overrides.items())])
    return hashlib.sha1(key.encode()).hexdigest()[:12]


read_rows = read_csv  # a results.csv's rows ([] before the first cell)


def append_row(path: Path, row: dict) -> None:
    """Append ``row``; a file written with fewer columns (before OPTIONAL_METRICS) is first rewritten
    with all of them, its rows unchanged."""
    if path.is_file():
        with open(path, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
        if header != FIELDS:
            old = read_rows(path)
            with open(path, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=FIELDS, restval="")
                writer.writeheader()
                writer.writerows(old)
    new = not path.is_file()
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def run_cell(cell, dataset, preset, overrides, data_path: str) -> dict:
    """Train and test one cell in the current directory, reading data from ``data_path``; metrics
    as plain floats."""
    from recbole_losses import run

    config = {"data_path": data_path, **{k: _parse(v) for k, v in overrides.items()}}
    if preset != "-":
        config["preset"] = preset
    config.setdefault("show_progress", False)
    # A cell stopped at any epoch (Ctrl-C, a killed process) continues from its last epoch when the
    # study is run again: the newest resume point of a run with the same settings in saved/.
    config.setdefault("resume_checkpoint", "last")
    start = time.time()
    result = run(cell["model"], cell["loss"], dataset, config_dict=config)
    test = {k: float(v) for k, v in result["test_result"].items()}
    valid = {k: float(v) for k, v in result["best_valid_result"].items()}
    seconds = time.time() - start + result.get("resumed_seconds", 0.0)  # earlier sittings of a resumed cell
    return {**{m: test.get(m, "") for m in (*METRICS, *OPTIONAL_METRICS)}, "best_valid_ndcg@20": valid.get("ndcg@20", ""),
            "seconds": round(seconds, 1)}


def _parse(value: str):
    """A command-line value as data: a Python literal (number, list, tuple, dict, True/False/None)
    where it is one, true/false in any case as a bool, else the string itself. Nothing is
    evaluated."""
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return {"true": True, "false": False}.get(value.lower(), value)


def paper_ref(row: dict, study: str, dataset: str, paper: dict) -> dict:
    """The paper's numbers for a result row ({} for sweeps and cells the paper does not report)."""
    if row["param"]:
        return {}
    if not row["loss"]:
        return paper.get((dataset, *STOCK_PAPER_ROW[row["model"]]), {}) if row["model"] in STOCK_PAPER_ROW else {}
    return paper.get((dataset, row["model"], row["label"] if study == "ablation" else row["loss"]), {})


def paper_sources(dataset: str) -> list[str]:
    """The published tables that hold numbers for ``dataset``."""
    return list(dict.fromkeys(row["source"] for row in paper_rows() if row["dataset"] == dataset))


def relative(ours, paper) -> str:
    return f"{(ours - paper) / paper * 100:+.1f}%"


def metric(row: dict, name: str) -> float | None:
    """A recorded metric as a float; None where the cell's dataset did not compute it."""
    value = row.get(name)
    return None if value in (None, "") else float(value)


def shown(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _plotted(value: float | None) -> float:
    return float("nan") if value is None else value


def markdown(rows: list[dict], study: str, dataset: str) -> str:
    """A table of our test metrics beside the paper's, with the relative difference and commands."""
    paper = paper_numbers()
    lines = [f"# {study} on {dataset}", "",
             "Test metrics of the best-validation checkpoint (the dataset's valid_metric on the validation split "
             "selects it: NDCG@20, Precision@20 on talos-beauty). "
             f"Paper: {', '.join(paper_sources(dataset)) or 'none for this dataset'}; stock RecBole BPR / LightGCN "
             "are set beside the paper's BPR row of that backbone. Δ = (ours − paper) / paper.", ""]
    extra = [m for m in OPTIONAL_METRICS if any(metric(r, m) is not None for r in rows)]
    table = []
    for r in rows:
        ref = paper_ref(r, study, dataset, paper)
        cols = [r["model"], r["label"] if study == "ablation" else (r["loss"] or "stock"), r["param"] or "", r["value"]]
        for m in ("recall@20", "ndcg@20"):
            ours = metric(r, m)
            known = ours is not None and m in ref
            cols += [shown(ours), f"{ref[m]:.4f}" if m in ref else "—", relative(ours, ref[m]) if known else "—"]
        cols += [shown(metric(r, m)) for m in ("recall@10", "ndcg@10")]
        for m in extra:
            ours = metric(r, m)
            known = ours is not None and m in ref
            cols += [shown(ours), f"{ref[m]:.4f}" if m in ref else "—", relative(ours, ref[m]) if known else "—"]
        cols += [r["preset"], r["seconds"]]
        table.append(dict(enumerate(cols)))
    header = ["model", "loss", "param", "value", "Recall@20", "paper", "Δ", "NDCG@20", "paper", "Δ", "Recall@10",
              "NDCG@10", *(h for m in extra for h in (m.replace("precision", "Precision"), "paper", "Δ")), "preset", "s"]
    lines += markdown_table(table, range(len(header)), str, header)
    lines += ["", "Commands:", ""]
    lines += [f"- `{r['command']}`" for r in rows]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], study: str, dataset: str, out: Path) -> list[Path]:
    """Bar charts (grid, ablation) or line plots (sweeps) of Recall@20 and NDCG@20."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paper, written = paper_numbers(), []
    if study in ("grid", "ablation"):
        groups = {}
        for r in rows:
            groups.setdefault(r["model"] if r["loss"] else "stock", []).append(r)
        for group, rs in groups.items():
            fig, axes = plt.subplots(1, 2, figsize=(max(6, 1.1 * len(rs) + 2), 4))
            for ax, m in zip(axes, ("recall@20", "ndcg@20")):
                labels = [r["label"] for r in rs]
                ours = [_plotted(metric(r, m)) for r in rs]
                refs = [paper_ref(r, study, dataset, paper).get(m, float("nan")) for r in rs]
                x = range(len(rs))
                ax.bar([i - 0.2 for i in x], ours, 0.4, label="ours")
                ax.bar([i + 0.2 for i in x], refs, 0.4, label="paper")
                ax.set_xticks(list(x), labels, rotation=45, ha="right")
                ax.set_title(f"{dataset} {group}: {m}")
                ax.legend()
            fig.tight_layout()
            path = out / f"{study}_{dataset}_{group}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    else:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        values = sorted(dict.fromkeys(r["value"] for r in rows), key=_sweep_order)
        for ax, m in zip(axes, ("recall@20", "ndcg@20")):
            for loss in dict.fromkeys(r["label"] for r in rows):
                rs = sorted((r for r in rows if r["label"] == loss), key=lambda r: _sweep_order(r["value"]))
                ax.plot([values.index(r["value"]) for r in rs], [_plotted(metric(r, m)) for r in rs], marker="o", label=loss)
            ax.set_xticks(range(len(values)), values)
            ax.set_xlabel(rows[0]["param"])
            ax.set_title(f"{dataset} {rows[0]['model']}: {m}")
            ax.legend()
        fig.tight_layout()
        path = out / f"{study}_{dataset}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def _sweep_order(value: str) -> tuple:
    """Numbers in increasing order, then names (tau+ 'pop')."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python benchmarks/compare.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study", choices=STUDIES, default="grid")
    p.add_argument("--dataset", default="health")
    p.add_argument("--models", default="MF,LightGCN", help="grid backbones (comma-separated)")
    p.add_argument("--model", default="LightGCN", help="backbone of the ablation and sweeps")
    p.add_argument("--losses", default="all", help="comma-separated registered losses, or all")
    p.add_argument("--stock", default="BPR,LightGCN,SimpleX", help="stock RecBole models of the grid ('' for none)")
    p.add_argument("--values", default="", help="sweep values (comma-separated; default: the study's)")
    p.add_argument("--preset", default="paper", help="hyperparameter preset where it covers a cell ('' for none)")
    p.add_argument("--data_path", default="", help="RecBole data_path of prepared datasets, relative to the "
                                                  "working directory (default: RecBole's, dataset/)")
    p.add_argument("--out", default="", help="output folder (default benchmarks/results/<study>-<dataset>)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every cell (a loss's own key: that loss's cells only)")
    p.add_argument("--plots", action=argparse.BooleanOptionalAction, default=True, help="write PNG charts")
    p.add_argument("--reuse", nargs="+", default=[], metavar="DIR",
                   help="other studies' output folders: a cell finished there with the same command line "
                        "(the same configuration; CPU runs are deterministic) is copied, not run again")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: the report and charts from the finished (and --reuse) cells")
    args = p.parse_args(argv)
    bad = [s for s in args.set if "=" not in s]
    if bad:
        p.error(f"--set takes KEY=VALUE, got {bad}")
    args.set = dict(s.split("=", 1) for s in args.set)
    # The data folder is where runs read, not a setting of a cell: it is kept out of the cells'
    # overrides, ids and recorded commands (they hold no machine's folder, and --reuse matches
    # cells run elsewhere).
    data_path = args.set.pop("data_path", "")
    data_path = args.data_path or data_path  # --data_path wins over --set data_path=...
    args.data_path = os.path.abspath(data_path) if data_path else ""
    valid = all_losses()
    unknown = [x for x in args.losses.split(",") if x and args.losses != "all" and x not in valid]
    if unknown:
        p.error(f"unknown losses {unknown}; valid: {', '.join(valid)}")
    from recbole_losses.config import properties_dir
    from recbole_losses.prepare import DEFAULT_DATA_PATH

    # Where runs read data: resolved here, before the runs move into the output folder.
    args.run_data_path = args.data_path or os.path.abspath(DEFAULT_DATA_PATH)

    presets = sorted(d.name for d in (properties_dir() / "preset").iterdir() if d.is_dir())
    if args.preset and args.preset not in presets:
        p.error(f"unknown preset {args.preset!r}; valid: {', '.join(presets)} (or '' for none)")
    return args


def main(argv=None, runner=run_cell) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    warnings.filterwarnings("ignore", module="recbole")  # RecBole 1.2.1's pandas/torch deprecation noise
    out = Path(args.out or Path(__file__).resolve().parent / "results" / f"{args.study}-{args.dataset}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "results.csv", out / "results.md"
    cells = build_cells(args)
    planned = []
    for cell in cells:
        preset, overrides = cell_settings(cell, args)
        cid = cell_id(cell, args.dataset, preset, overrides)
        planned.append((cid, cell, preset, overrides))
    done = {r["cell_id"] for r in read_rows(csv_path)}
    done |= reuse_rows(planned, args, csv_path, done)
    todo = [p for p in planned if p[0] not in done]
    print(f"{args.study} on {args.dataset}: {len(planned)} cells, {len(planned) - len(todo)} already done, "
          f"{len(todo)} {'left out (--report-only)' if args.report_only else 'to run'}; results in {out}", flush=True)
    if args.report_only:
        todo = []
    cwd, failures, started = os.getcwd(), 0, time.time()
    os.chdir(out)
    try:
        for k, (cid, cell, preset, overrides) in enumerate(todo, 1):
            cmd = command_line(cell, args.dataset, preset, overrides)
            print(f"[{k}/{len(todo)}] {cell['model']} x {cell['label']} {cell['param']}={cell['value']}".rstrip("="),
                  flush=True)
            try:
                metrics = runner(cell, args.dataset, preset, overrides, args.run_data_path)
            except Exception as err:  # one failing cell must not stop the grid; it is retried next time
                failures += 1
                print(f"    FAILED: {type(err).__name__}: {err}", flush=True)
                with open(out / "failures.log", "a", encoding="utf-8") as f:
                    f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {cmd}\n    {type(err).__name__}: {err}\n")
                continue
            row = {"cell_id": cid, "study": args.study, "dataset": args.dataset, "model": cell["model"],
                   "loss": cell["loss"] or "", "label": cell["label"], "param": cell["param"], "value": cell["value"],
                   "preset": preset, "overrides": json.dumps(overrides, sort_keys=True), "command": cmd, **metrics}
            append_row(csv_path, row)
            elapsed = time.time() - started
            eta = elapsed / k * (len(todo) - k)
            print(f"    NDCG@20 {shown(metric(row, 'ndcg@20'))}  Recall@20 {shown(metric(row, 'recall@20'))}  "
                  f"({row['seconds']} s; elapsed {elapsed / 60:.1f} min, ~{eta / 60:.1f} min left)", flush=True)
            write_reports(csv_path, md_path, planned, args, plots=False)
    finally:
        os.chdir(cwd)
    write_reports(csv_path, md_path, planned, args, plots=args.plots)
    return 1 if failures else 0


def reuse_rows(planned, args, csv_path: Path, done: set[str]) -> set[str]:
    """Copy into this study's CSV the planned cells not ``done`` that a ``--reuse`` folder
    finished with the same command line; returns their cell ids."""
    finished = {r["command"]: r for folder in args.reuse for r in read_rows(Path(folder) / "results.csv")}
    copied = set()
    for cid, cell, preset, overrides in planned:
        source = finished.get(command_line(cell, args.dataset, preset, overrides))
        if cid in done or source is None:
            continue
        append_row(csv_path, {**source, "cell_id": cid, "study": args.study, "label": cell["label"],
                              "param": cell["param"], "value": cell["value"]})
        copied.add(cid)
    if copied:
        print(f"{len(copied)} cells copied from {', '.join(args.reuse)} (same command line)", flush=True)
    return copied


def write_reports(csv_path: Path, md_path: Path, planned, args, plots: bool) -> None:
    """results.md (and the PNGs) from this study's finished cells, in the study's order."""
    by_id = {r["cell_id"]: r for r in read_rows(csv_path)}
    rows = [by_id[cid] for cid, *_ in planned if cid in by_id]
    if not rows:
        return
    md_path.write_text(markdown(rows, args.study, args.dataset), encoding="utf-8")
    if plots:
        for path in plot(rows, args.study, args.dataset, md_path.parent):
            print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
