"""Command line. Training: ``recbole-losses`` (installed), ``python -m recbole_losses`` or
``python run_recbole_losses.py``, all with the same arguments::

    recbole-losses --model=M --loss=L --dataset=D [--config_files="a.yaml b.yaml"] [--key=value ...]

Any ``--key=value`` is a RecBole/recbole-losses config override at command-line priority. The
model, loss and dataset come from the command line, else from the config files (``model:``,
``loss:``, ``dataset:``), else the defaults (MF, no loss, ml-100k); the printed summary names what
the run's configuration resolved. Dataset preparation is ``recbole-losses-prepare``
(:mod:`recbole_losses.prepare`).
"""

from __future__ import annotations

import argparse
import sys

import yaml

from .arguments import CommandParser, checked, version_text  # noqa: F401  (the examples import them from here)
from .output import KNOWN_WARNINGS, known_warnings_filtered  # noqa: F401  (also importable from here)

DEFAULTS = {"model": "MF", "loss": None, "dataset": "ml-100k"}

def registry_help() -> dict[str, str]:
    """The choices shown by ``--help``, read from the registries (losses, models, datasets)."""
    from .data.datasets import SHIPPED, benchmark_names, recbole_catalogue
    from .losses import available_losses
    from .models import available_models

    models = available_models()
    backbones, stock = models["with a loss"], models["without a loss (RecBole general models)"]
    return {
        "model": f"backbone to train with a loss: {', '.join(backbones)}; without --loss, any RecBole "
        f"general model ({', '.join(stock)}) or XSimGCL. "
        f"Default: config files' model:, else {DEFAULTS['model']}",
        "loss": f"{', '.join(available_losses())} (any case); omit for the stock RecBole model. "
        "Default: config files' loss:, else none",
        "dataset": f"{SHIPPED} (shipped with RecBole); a benchmark prepared with recbole-losses-prepare: "
        f"{', '.join(benchmark_names())}; one of RecBole's {len(recbole_catalogue())} catalogue "
        "datasets (ml-1m, yelp, ...; downloaded on first use); or your own atomic files "
        "<data_path>/NAME/NAME.inter. Default: config files' dataset:, else " + DEFAULTS["dataset"],
    }


def build_parser(prog: str = "recbole-losses") -> argparse.ArgumentParser:
    choices = registry_help()
    parser = CommandParser(
        prog=prog,
        description="Train a RecBole model with a recbole-losses ranking loss on a dataset, select the "
        "best validation epoch and test it.",
        epilog="Extra --key=value arguments override any RecBole or recbole-losses config key, e.g. "
        "--epochs=20, --cw_tau=0.1, --preset=paper (the published tuned settings of the dataset x model "
        "x loss), --data_path=DIR. Examples: recbole-losses --model=LightGCN --loss=CW --dataset=ml-100k; "
        "recbole-losses --config_files=run.yaml. Prepare a benchmark once with recbole-losses-prepare "
        "--dataset=NAME --source=PATH/TO/proc.zip.",
    )
    parser.add_argument("--model", "-m", default=None, help=choices["model"])
    parser.add_argument("--loss", "-l", default=None, help=choices["loss"])
    parser.add_argument("--dataset", "-d", default=None, help=choices["dataset"])
    parser.add_argument("--config_files", default=None, help="space-separated YAML config files")
    return parser


def parse_args(argv, prog: str = "recbole-losses"):
    return build_parser(prog).parse_known_args(argv)


def file_setting(config_files: list[str] | None, key: str):
    """``key``'s value in the last of ``config_files`` that sets it (None if none does). A file
    that cannot be read is skipped here: the run's configuration reports it with its own error."""
    value = None
    for path in config_files or []:
        try:
            with open(path, encoding="utf-8") as f:
                content = yaml.safe_load(f)
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(content, dict) and content.get(key) is not None:
            value = content[key]
    return value


def resolve_arguments(args, config_files: list[str] | None) -> dict:
    """model, loss and dataset: the command line, else the config files, else :data:`DEFAULTS`.
    The loss is left to the configuration when only a file sets it (it reads the files itself)."""
    resolved = {}
    for key, default in DEFAULTS.items():
        value = getattr(args, key)
        if value is None and key != "loss":
            value = file_setting(config_files, key)
        resolved[key] = default if value is None else value
    return resolved


def summary_lines(result: dict) -> list[str]:
    """``best valid (...)`` and ``test (...)`` lines naming the resolved model, loss, dataset, preset."""
    names = f"{result['model']}, loss={result['loss']}, {result['dataset']}"
    if result.get("preset") is not None:
        names += f", preset={result['preset']}"
    lines = []
    for label, key in (("best valid", "best_valid_result"), ("test", "test_result")):
        if result[key] is None:  # eval_step=0, epochs=0 or an empty validation split
            lines.append(f"{label:<10} ({names}): none (no validation ran)")
            continue
        metrics = {name: float(value) for name, value in result[key].items()}
        lines.append(f"{label:<10} ({names}): {metrics}")
    return lines


def main(argv=None, prog: str = "recbole-losses") -> int:
    """Train and test; prints the summary, returns the exit status (2 for a user's mistake)."""
    from .runner import Run

    args, overrides = parse_args(sys.argv[1:] if argv is None else argv, prog)
    files = args.config_files.split() if args.config_files else None
    names = resolve_arguments(args, files)
    try:
        with known_warnings_filtered():
            result = Run(names["model"], names["loss"], names["dataset"], files, None, overrides).train_and_test()
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if result is None:  # multi-machine run: global rank 0 (offset 0) reports
        print("done; the metrics are reported by the machine running global rank 0 (offset 0)")
        return 0
    print("\n".join(summary_lines(result)))
    return 0


def prepare_main(argv=None, prog: str = "recbole-losses-prepare") -> int:
    """``recbole-losses-prepare``: :func:`recbole_losses.prepare.main`."""
    from .prepare import main as prepare

    with known_warnings_filtered():
        return prepare(argv, prog=prog)


def tune_main(argv=None, prog: str = "recbole-losses-tune") -> int:
    """``recbole-losses-tune``: :func:`recbole_losses.tuning.command.main` (RecBole's known
    warnings, which would repeat for every trial, filtered)."""
    from .tuning.command import main as tune

    with known_warnings_filtered():
        return tune(argv, prog=prog)


if __name__ == "__main__":
    sys.exit(main(prog="python -m recbole_losses.cli"))
