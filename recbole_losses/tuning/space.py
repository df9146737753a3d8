r"""Search spaces in RecBole's params-file format, as Optuna distributions.

One hyperparameter per line, ``<config key> <kind> <values>``, exactly as RecBole's
``run_hyper.py`` reads it (``recbole.trainer.hyper_tuning.HyperTuning._build_space_from_file``)::

    learning_rate loguniform -8,0        # exp(U(-8, 0)): natural-log bounds, e^-8 .. 1
    weight_decay choice [0,1e-4,1e-5]    # one of the listed values
    cw_beta uniform 0,2                  # U(0, 2)
    slatk_tau_w quniform 0.5,3,0.25      # U(0.5, 3) on a grid of step 0.25

Differences from RecBole, all stricter or safer: ``choice`` lists are read as data
(:func:`ast.literal_eval`, then YAML for unquoted words such as ``[relu, tanh]``), never
``eval``-ed, and the values drawn reach the run as that data (the run's ``Config`` evaluates
nothing either, :mod:`recbole_losses.config`); a value listed twice in a ``choice`` is an error
(equal values, ``1`` and ``1.0`` or ``True`` and ``1`` included: Optuna cannot tell them apart);
``#`` starts a comment (RecBole's reader has none); a line that is neither blank,
a comment nor ``<key> <kind> <values>`` is an error (RecBole skips lines of fewer than three
words); a ``quniform`` whose bounds and step are all integers yields ints (RecBole yields floats,
which an ``embedding_size`` cannot take); ``quniform``'s grid is ``low + k·q`` (hyperopt's is
``round(x/q)·q``: the same values when ``low`` is a multiple of ``q``).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from ..config import properties_dir, validate
from ..config_checks import check_value

KINDS = ("choice", "uniform", "quniform", "loguniform")
_PLAIN = (type(None), bool, int, float, str)
_NONE = object()


class SpaceError(ValueError):
    """A search space that cannot be read or would break a run."""


@dataclass(frozen=True)
class Param:
    """One searched config key: its RecBole kind and spec text, and the Optuna distribution."""

    name: str
    kind: str
    spec: str
    distribution: BaseDistribution
    # choice lists holding non-scalar values (lists, dicts) are searched as their YAML text
    encoded: bool = False

    def suggest(self, trial):
        """The config value Optuna's ``trial`` draws for this parameter."""
        dist = self.distribution
        if isinstance(dist, CategoricalDistribution):
            value = trial.suggest_categorical(self.name, dist.choices)
        elif isinstance(dist, IntDistribution):
            value = trial.suggest_int(self.name, dist.low, dist.high, step=dist.step, log=dist.log)
        else:
            value = trial.suggest_float(self.name, dist.low, dist.high, step=dist.step, log=dist.log)
        return self.decode(value)

    def decode(self, value):
        """The config value of an Optuna parameter value."""
        if self.encoded:
            return yaml.safe_load(value)
        if isinstance(self.distribution, IntDistribution):
            return int(value)
        return value

    def grid(self) -> list | None:
        """Every value Optuna can draw (its raw values), or None for a continuous range."""
        dist = self.distribution
        if isinstance(dist, CategoricalDistribution):
            return list(dist.choices)
        if isinstance(dist, IntDistribution):
            return list(range(dist.low, dist.high + 1, dist.step))
        if dist.step is not None:
            steps = int(round((dist.high - dist.low) / dist.step))
            return [round(dist.low + k * dist.step, 12) for k in range(steps + 1)]
        return None

    def candidates(self) -> list:
        """The values that bound what this parameter can take: every choice, or both ends."""
        dist = self.distribution
        if isinstance(dist, CategoricalDistribution):
            return [self.decode(c) for c in dist.choices]
        return [self.decode(dist.low), self.decode(dist.high)]


def _numbers(name: str, kind: str, spec: str, count: int, line: str) -> list[float]:
    parts = [p.strip() for p in spec.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != count or not all(math.isfinite(v) for v in values):
        form = {2: "low,high", 3: "low,high,q"}[count]
        raise SpaceError(f"{line}: {name} {kind} needs {count} finite numbers {form}, got {spec!r}")
    return values


def _choices(name: str, spec: str, line: str) -> list:
    try:
        values = ast.literal_eval(spec)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        try:
            values = yaml.safe_load(spec)
        except yaml.YAMLError as err:
            raise SpaceError(f"{line}: {name} choice: cannot read {spec!r} as a list ({err})") from None
    if isinstance(values, tuple):
        values = list(values)
    if not isinstance(values, list) or not values:
        raise SpaceError(f"{line}: {name} choice needs a non-empty list such as [0.1,0.2], got {spec!r}")
    for i, value in enumerate(values):
        same = next((earlier for earlier in values[:i] if earlier == value), _NONE)
        if same is not _NONE:
            twice = f"{value!r} twice" if repr(same) == repr(value) else f"{same!r} and {value!r}, which are equal"
            raise SpaceError(f"{line}: {name} choice lists {twice}: {spec!r}; list every value once")
    return values


def make_param(name: str, kind: str, spec: str, where: str = "search space") -> Param:
    """The :class:`Param` of one params-file line ``name kind spec``; ``where`` names the line in
    errors."""
    if kind == "choice":
        values = _choices(name, spec, where)
        if all(isinstance(v, _PLAIN) for v in values):
            return Param(name, kind, spec, CategoricalDistribution(values))
        texts = [yaml.safe_dump(v, default_flow_style=True).strip() for v in values]
        return Param(name, kind, spec, CategoricalDistribution(texts), encoded=True)
    if kind not in KINDS:
        raise SpaceError(f"{where}: unknown kind {kind!r} for {name}; valid kinds: {', '.join(KINDS)}")
    count = 3 if kind == "quniform" else 2
    values = _numbers(name, kind, spec, count, where)
    low, high = values[0], values[1]
    if low > high:
        raise SpaceError(f"{where}: {name} {kind} has low {low:g} > high {high:g}")
    if kind == "uniform":
        return Param(name, kind, spec, FloatDistribution(low, high))
    if kind == "loguniform":
        # RecBole (hyperopt): exp(U(low, high)), so low and high are natural logarithms.
        return Param(name, kind, spec, FloatDistribution(math.exp(low), math.exp(high), log=True))
    q = values[2]
    if q <= 0:
        raise SpaceError(f"{where}: {name} quniform step q must be > 0, got {q:g}")
    if all(float(v).is_integer() for v in values):
        return Param(name, kind, spec, IntDistribution(int(low), int(high), step=int(q)))
    steps = math.floor((high - low) / q + 1e-9)
    return Param(name, kind, spec, FloatDistribution(low, low + steps * q, step=q))


def parse_params(text: str, source: str = "search space") -> dict[str, Param]:
    """The parameters of a params-file text, by config key, in file order."""
    params: dict[str, Param] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source}, line {number}"
        words = line.split(None, 2)
        if len(words) < 3:
            raise SpaceError(
                f"{where}: expected '<config key> <kind> <values>' (kinds: {', '.join(KINDS)}), got {line!r}"
            )
        name, kind, spec = words
        if name in params:
            raise SpaceError(f"{where}: {name} is searched twice")
        params[name] = make_param(name, kind, spec.strip(), where)
    if not params:
        raise SpaceError(f"{source}: no parameters (lines '<config key> <kind> <values>')")
    return params


def read_params_file(path) -> dict[str, Param]:
    """:func:`parse_params` of a file; errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SpaceError(f"cannot read the params file {path}: {err.strerror or err}") from None
    return parse_params(text, str(path))


def check_ranges(params: dict[str, Param], config, source: str = "search space") -> None:
    """SpaceError, before any trial, for a value a parameter can take that a run of ``config``
    (the study's Config without searched values) rejects: every choice and both ends of a range
    (:meth:`Param.candidates`), each checked as a run checks it, by the table of checks
    (:func:`recbole_losses.config_checks.check_value`: RecBole's keys and ours, the model's own,
    every loss's; another key by the type of its default), then by the loss built with it
    (:func:`recbole_losses.config.validate`). The error names the key, the value and what is valid."""
    final = config.final_config_dict
    for param in params.values():
        saved = final.get(param.name, _NONE)
        try:
            for value in param.candidates():
                final[param.name] = value
                try:
                    check_value(param.name, value, config.model, final, config.internal_config_dict)
                    validate(config)
                except ValueError as err:
                    raise SpaceError(f"{source}: {param.name} {param.kind} {param.spec} reaches {param.name} = "
                                     f"{value!r}, which a run rejects: {err}") from None
        finally:
            if saved is _NONE:
                final.pop(param.name, None)
            else:
                final[param.name] = saved


def space_size(params: Mapping[str, Param]) -> int | None:
    """The number of points of the space ``params`` (the product of each parameter's number of
    values): what bounds an exhaustive search (``--sampler=grid``); None when a parameter is
    continuous (``uniform``, ``loguniform``)."""
    grids = [param.grid() for param in params.values()]
    if any(grid is None for grid in grids):
        return None
    return math.prod(len(grid) for grid in grids)


def hyper_dir() -> Path:
    """The shipped default search spaces, ``properties/hyper/<Loss>.hyper``."""
    return properties_dir() / "hyper"


def default_params_file(loss: str | None) -> Path:
    """The shipped search space of ``loss`` (``stock`` for a model without a loss)."""
    path = hyper_dir() / f"{loss or 'stock'}.hyper"
    if not path.is_file():
        shipped = sorted(p.stem for p in hyper_dir().glob("*.hyper"))
        raise SpaceError(
            f"no shipped search space for loss {loss}; pass --params_file=FILE (shipped: {', '.join(shipped)})"
        )
    return path


__all__ = ["KINDS", "Param", "SpaceError", "check_ranges", "default_params_file", "hyper_dir", "make_param",
           "parse_params", "read_params_file", "space_size"]
