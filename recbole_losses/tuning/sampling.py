r"""How a study draws and stops trials: Optuna's samplers (never proposing settings the study
already holds) and its pruner."""

from __future__ import annotations

import itertools
import math
import random

import optuna
from optuna.trial import TrialState

from .space import Param, SpaceError, space_size

# Tries to draw settings the study does not hold before a finite space's untried points are listed.
DRAWS = 64


def is_surplus_trial(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` was started for a place another worker had just taken and ended unrun
    (:func:`.budget.is_surplus`): it holds nothing and no output or progress line shows it."""
    return bool(trial.user_attrs.get("surplus"))


def holds(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether the settings of ``trial`` are taken: trained or training (complete, pruned, failed
    with an error, running or queued). An interrupted trial's settings are free again, and a
    surplus trial (started for a place another worker had just taken; never run) holds none."""
    if is_surplus_trial(trial):
        return False
    if trial.state == TrialState.FAIL:
        return "error" in trial.user_attrs
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


class DistinctSampler(optuna.samplers.BaseSampler):
    """A sampler (TPE, random) that never proposes settings the study already holds (:func:`holds`):
    a trial's whole setting is drawn from ``base`` when its first parameter is asked, again while
    it equals a held one, and for a finite space from its untried points after :data:`DRAWS`
    tries (every point tried: an error). A seeded sampler restarted on a study it already filled
    (a resumed command) would otherwise propose the same settings again."""

    def __init__(self, base: optuna.samplers.BaseSampler, params: dict[str, Param], seed: int | None):
        self.base = base
        self.params = params
        self._rng = random.Random(seed)
        self._drawn: dict[int, dict] = {}

    def reseed_rng(self) -> None:
        self.base.reseed_rng()
        self._rng.seed()

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def before_trial(self, study, trial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self._drawn.pop(trial.number, None)
        self.base.after_trial(study, trial, state, values)

    def sample_independent(self, study, trial, param_name, param_distribution):
        drawn = self._drawn.get(trial.number)
        if drawn is None or param_name not in drawn:
            drawn = self._drawn[trial.number] = self._draw(study, trial)
        return drawn.get(param_name) if param_name in drawn else self.base.sample_independent(
            study, trial, param_name, param_distribution)

    def _draw(self, study, trial) -> dict:
        names = list(self.params)
        fixed = trial.system_attrs.get("fixed_params", {}) or {}
        held = {tuple(t.params.get(n) for n in names) for t in study.get_trials(deepcopy=False)
                if t.number != trial.number and holds(t) and all(n in t.params for n in names)}

        def one() -> dict:
            return {n: fixed[n] if n in fixed else self.base.sample_independent(
                study, trial, n, self.params[n].distribution) for n in names}

        for _ in range(DRAWS):
            values = one()
            if tuple(values[n] for n in names) not in held:
                return values
        grids = [self.params[n].grid() for n in names]
        if any(g is None for g in grids):
            return values  # a continuous range: another draw is all but surely new
        free = [point for point in itertools.product(*grids) if point not in held
                and all(point[i] == fixed[n] for i, n in enumerate(names) if n in fixed)]
        if not free:
            raise ValueError(f"every one of the space's {math.prod(len(g) for g in grids)} points has been tried")
        return dict(zip(names, self._rng.choice(free)))


def make_pruner(settings, config) -> optuna.pruners.BasePruner:
    """Median pruning: from epoch ``warmup_epochs`` on (default a quarter of ``epochs``), a trial
    whose best validation score so far is worse than the median of the completed trials' scores at
    the same epoch stops; nothing is pruned before 5 trials have completed (they set the median)."""
    if settings.pruner == "none":
        return optuna.pruners.NopPruner()
    epochs = int(config["epochs"])
    warmup = settings.warmup_epochs if settings.warmup_epochs is not None else max(1, epochs // 4)
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup, interval_steps=1)


def make_sampler(settings, params: dict[str, Param]) -> optuna.samplers.BaseSampler:
    """TPE (default), random, or grid: every point of the space once, in random order (RecBole's
    ``exhaustive``), which needs a finite space and ``n_trials`` no larger than it. TPE and random
    are wrapped in :class:`DistinctSampler`; Optuna's grid sampler skips visited points itself."""
    if settings.sampler == "grid":
        grid = {name: param.grid() for name, param in params.items()}
        continuous = [f"{p.name} {p.kind} {p.spec}" for p in params.values() if grid[p.name] is None]
        if continuous:
            raise SpaceError(f"--sampler=grid needs a finite space; continuous: {', '.join(continuous)}")
        size = space_size(params)
        if settings.n_trials > size:
            raise SpaceError(f"the grid has {size} points; --n_trials={settings.n_trials} would repeat some "
                             f"(use --n_trials={size} for an exhaustive search)")
        return optuna.samplers.GridSampler(grid, seed=settings.sampler_seed)
    if settings.sampler == "random":
        base = optuna.samplers.RandomSampler(seed=settings.sampler_seed)
    else:
        # constant_liar: parallel workers do not all draw next to the same running trial.
        base = optuna.samplers.TPESampler(seed=settings.sampler_seed, constant_liar=True)
    return DistinctSampler(base, params, settings.sampler_seed)


__all__ = ["DRAWS", "DistinctSampler", "holds", "is_surplus_trial", "make_pruner", "make_sampler"]
