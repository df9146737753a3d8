r"""Command line of the tuner:

    python -m recbole_losses.tune --model=MF --loss=CW --dataset=health --n_trials=30
        [--params_file=FILE] [--study_name=NAME] [--output_dir=DIR] [--storage=URL]
        [--config_files="a.yaml b.yaml"] [--pruner=median|none] [--warmup_epochs=E]
        [--sampler=tpe|random|grid] [--sampler_seed=S] [--timeout=SECONDS] [--no-plots] [--key=value ...]

Any other ``--key=value`` is a fixed config override for every trial, as in
``run_recbole_losses.py``. Rerunning a command resumes its study; see docs/tuning.md.
"""

from __future__ import annotations

import sys

from .cli import CommandParser, checked
from .losses._checks import integer, number
from .tuning.runs import objective_function  # noqa: F401  (RecBole HyperTuning users import it from here)


def parse_args(argv, prog: str = "python -m recbole_losses.tune"):
    parser = CommandParser(
        prog=prog,
        description="Tune a model x loss x dataset on the validation metric (Optuna), then test the selected "
        "trial once.",
        epilog="Extra --key=value arguments are fixed config overrides for every trial (e.g. --preset=paper, "
        "--data_path=DIR, --epochs=200). Rerunning the same command resumes the study and runs only the "
        "trials still missing; several workers may run it at once on one storage.",
    )
    parser.add_argument("--model", "-m", default="MF", help="backbone (MF, LightGCN, XSimGCL) or any RecBole model")
    parser.add_argument("--loss", "-l", default=None, help="loss name; omit for the stock RecBole model")
    parser.add_argument("--dataset", "-d", default="ml-100k", help="dataset name (default ml-100k)")
    parser.add_argument("--n_trials", type=checked(integer(1)), required=True,
                        help="trials the study should hold (complete, pruned or failed); a rerun adds only the missing ones")
    parser.add_argument("--params_file", default=None,
                        help="search space in RecBole's params-file format (default: the loss's shipped space)")
    parser.add_argument("--study_name", default=None, help="default <model>-<loss>-<dataset>")
    parser.add_argument("--output_dir", default=None, help="tables, best.yaml, plots (default tuning/<study_name>)")
    parser.add_argument("--storage", default=None,
                        help="Optuna database URL (default sqlite:///<output_dir>/study.db)")
    parser.add_argument("--config_files", default=None, help="space-separated YAML files")
    parser.add_argument("--pruner", default="median", choices=["median", "none"])
    parser.add_argument("--warmup_epochs", type=checked(integer(0)), default=None,
                        help="no pruning before this epoch (default: a quarter of epochs)")
    parser.add_argument("--sampler", default="tpe", choices=["tpe", "random", "grid"],
                        help="grid: every point of a finite space once (RecBole's exhaustive search)")
    parser.add_argument("--sampler_seed", type=int, default=None,
                        help="seed of the sampler (give each parallel worker its own, or none)")
    parser.add_argument("--timeout", type=checked(number(0, closed="neither"), float), default=None,
                        help="seconds after which no new trial starts")
    parser.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNG plots")
    return parser.parse_known_args(argv)


def main(argv=None, prog: str = "python -m recbole_losses.tune") -> int:
    from optuna.trial import TrialState

    from .tuning.space import SpaceError
    from .tuning.study import TuneSettings, run_study

    args, overrides = parse_args(sys.argv[1:] if argv is None else argv, prog)
    try:
        settings = TuneSettings(
            model=args.model, loss=args.loss, dataset=args.dataset, n_trials=args.n_trials,
            params_file=args.params_file, study_name=args.study_name, output_dir=args.output_dir,
            storage=args.storage, config_files=args.config_files.split() if args.config_files else [],
            overrides=overrides, pruner=args.pruner, warmup_epochs=args.warmup_epochs, sampler=args.sampler,
            sampler_seed=args.sampler_seed, timeout=args.timeout, plots=args.plots,
        )
        outcome = run_study(settings)
    except (SpaceError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the running trial does not count; rerun the same command to resume", file=sys.stderr)
        return 130
    if outcome.best is None:
        if outcome.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            print(f"this worker is done; other workers are still running trials of {outcome.study.study_name}")
            return 0
        print(f"no trial completed; see {outcome.output_dir / 'trials.md'}")
        return 1
    metric = outcome.study.user_attrs.get("valid_metric")
    print(f"best: trial {outcome.best.number}, valid {metric} = {outcome.best.value:.6f}, "
          f"settings {outcome.best.user_attrs.get('config', outcome.best.params)}")
    if outcome.test_result:
        print(f"test of the selected trial ({outcome.test_result['source']}): {outcome.test_result['metrics']}")
    print(f"outputs: {outcome.output_dir} (trials.md, trials.csv, best.yaml, summary.json, plots)")
    return 0


if __name__ == "__main__":
    from .cli import tune_main

    sys.exit(tune_main(prog="python -m recbole_losses.tune"))
