r"""The tuner's command line, ``recbole-losses-tune`` (also ``python -m recbole_losses tune`` and
``python -m recbole_losses.tune``)::

    recbole-losses-tune --model=MF --loss=CW --dataset=health --n_trials=30
        [--params_file=FILE] [--study_name=NAME] [--output_dir=DIR] [--storage=URL]
        [--config_files="a.yaml b.yaml"] [--pruner=median|none] [--warmup_epochs=E]
        [--sampler=tpe|random|grid] [--sampler_seed=S] [--timeout=SECONDS] [--no-plots]
        [--overwrite] [--heartbeat_interval=S] [--heartbeat_grace=S] [--key=value ...]

The options are the fields of :class:`~recbole_losses.tuning.settings.TuneSettings`; any other
``--key=value`` is a fixed config override for every trial, as in ``recbole-losses``. Rerunning a
command resumes its study; see docs/tuning.md.
"""

from __future__ import annotations

import sys

from .settings import parse_settings
from .space import SpaceError

PROG = "recbole-losses-tune"


def main(argv=None, prog: str = PROG) -> int:
    """Run the study a command line describes; the exit status: 0 with best.yaml written, 1 when
    no trial completed, 2 for a user's mistake, 130 when interrupted (Ctrl-C)."""
    from .study import run_study

    try:
        settings = parse_settings(sys.argv[1:] if argv is None else argv, prog)
        outcome = run_study(settings)
    except (SpaceError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the running trial does not count; rerun the same command to resume", file=sys.stderr)
        return 130
    if outcome.best is None:
        print(f"no trial completed, so no best.yaml; see {outcome.output_dir / 'trials.md'}", file=sys.stderr)
        return 1
    metric = outcome.study.user_attrs.get("valid_metric")
    print(f"best: trial {outcome.best.number}, valid {metric} = {outcome.best.value:.6f}, "
          f"settings {outcome.best.user_attrs.get('config', outcome.best.params)}")
    if outcome.test_result:
        print(f"test of the selected trial ({outcome.test_result['source']}): {outcome.test_result['metrics']}")
    print(f"outputs: {outcome.output_dir} (trials.md, trials.csv, best.yaml, summary.json, plots)")
    return 0


__all__ = ["PROG", "main"]
