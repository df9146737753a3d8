"""The validation vocabulary of settings: a :class:`Rule` per kind of constraint (a finite number
in a range, an integer in a range, one of some choices, True or False), and one function per kind
that checks a value with it, returning the checked value or raising ValueError as ``"<owner>:
<name> must be <rule>, got <value>"`` (the owner is the loss or model, the name its parameter).
Numbers come back as float, integers and choices unchanged.

Every loss checks its arguments with these functions, and nothing else; so does every model that
checks its own keys, and the table of config checks (:mod:`recbole_losses.config_checks`) is made
of the same rules. Numbers are finite everywhere: NaN and ±inf (``1e400`` reads as inf) are never
a setting. :func:`recorded_rules` lists the rule of every parameter a constructor checks, which is
how the config table learns each loss's keys without a second list.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from numbers import Integral, Real

_RECORDING: list[list[tuple[str, Rule]]] = []


class SettingError(ValueError):
    """A value a :class:`Rule` rejects: ``owner`` (loss or model, or None), ``name`` (its
    parameter or config key) and ``value`` say which."""

    def __init__(self, message: str, owner: str | None, name: str, value):
        super().__init__(message)
        self.owner, self.name, self.value = owner, name, value


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _bound(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Rule:
    """What a setting may be. ``kind``: ``number`` (a finite int or float; ``low``/``high`` bound it,
    ``low_open``/``high_open`` exclude the ends, ``choices`` adds strings it may be instead),
    ``integer`` (an int, not a bool; ``high_name`` names the setting its maximum comes from),
    ``bool``, ``choice`` (one of ``choices``; ``any_case`` compares lower-cased strings), or
    ``custom`` (``test`` decides, ``describe`` is its text). ``none``: None is valid too."""

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    none: bool = False
    any_case: bool = False
    high_name: str | None = None
    test: Callable | None = None
    describe: str | None = None

    # -- what it accepts ------------------------------------------------------------------------

    @property
    def numeric(self) -> bool:
        return self.kind in ("number", "integer")

    def _in_range(self, value) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True

    def _is_choice(self, value) -> bool:
        if self.any_case:
            return isinstance(value, str) and value.lower() in self.choices
        try:
            return value in self.choices
        except TypeError:  # an unhashable or uncomparable value
            return False

    def accepts(self, value) -> bool:
        if value is None and self.none:
            return True
        if self.kind == "number":
            if isinstance(value, str):
                return self._is_choice(value)
            return _is_real(value) and math.isfinite(value) and self._in_range(value)
        if self.kind == "integer":
            return _is_int(value) and self._in_range(value)
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return self._is_choice(value)
        return bool(self.test(value))

    # -- what it says ---------------------------------------------------------------------------

    def _range_text(self) -> str:
        if self.low is not None and self.high is not None:
            high = f"{self.high_name} = {_bound(self.high)}" if self.high_name else _bound(self.high)
            return f" in {'(' if self.low_open else '['}{_bound(self.low)}, {high}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f" {'>' if self.low_open else '>='} {_bound(self.low)}"
        if self.high is not None:
            return f" {'<' if self.high_open else '<='} {_bound(self.high)}"
        return ""

    def text(self, finite: bool = False) -> str:
        """``a number > 0``, ``an integer in [1, n_layers = 3]``, ``one of ['relu', 'tanh']``...;
        ``finite``: say "a finite number" (for a value that is NaN or infinite)."""
        if self.kind == "number":
            text = ("a finite number" if finite else "a number") + self._range_text()
            if self.choices:
                text += " or " + " or ".join(map(repr, self.choices))
        elif self.kind == "integer":
            text = "an integer" + self._range_text()
        elif self.kind == "bool":
            text = "True or False"
        elif self.kind == "choice":
            if self.any_case:
                text = "one of " + ", ".join(map(repr, self.choices)) + " (any case)"
            else:
                text = f"one of {list(self.choices)}"
        else:
            text = self.describe or "valid"
        return text + (" or None" if self.none and self.kind != "custom" else "")

    def problem(self, value, as_given: bool = False) -> str:
        """``must be <rule>, got <value>`` for a value this rule rejects; a number is shown as the
        float it would have become unless ``as_given``."""
        if self.kind == "number" and _is_real(value):
            shown = value if as_given else float(value)
            return f"must be {self.text(not math.isfinite(value))}, got {shown!r}"
        return f"must be {self.text()}, got {value!r}"

    # -- checking -------------------------------------------------------------------------------

    def check(self, owner: str | None, name: str, value):
        """The checked ``value`` (a number as float), or :class:`SettingError` (a ValueError)
        ``"<owner>: <name> must be ..., got ..."`` (no owner: ``"<name> must be ..."``)."""
        if _RECORDING:
            _RECORDING[-1].append((name, self))
        if not self.accepts(value):
            raise SettingError(f"{owner + ': ' if owner else ''}{name} {self.problem(value)}", owner, name, value)
        if value is None:
            return None
        if self.kind == "number" and not isinstance(value, str):
            return float(value)
        return value

    def with_high(self, high, high_name: str | None = None) -> Rule:
        """This rule with the maximum ``high`` (named ``high_name`` in messages)."""
        return dataclasses.replace(self, high=high, high_open=False, high_name=high_name)


def number(low=None, high=None, *, closed: str = "both", choices: Iterable[str] = (), none: bool = False) -> Rule:
    """A finite number, bounded by ``low`` and/or ``high``; ``closed`` names the ends that belong
    to the range: ``both``, ``left``, ``right`` or ``neither``."""
    if closed not in ("both", "left", "right", "neither"):
        raise ValueError(f"closed must be one of ['both', 'left', 'right', 'neither'], got {closed!r}")
    return Rule("number", low=low, high=high, low_open=closed in ("right", "neither"),
                high_open=closed in ("left", "neither"), choices=tuple(choices), none=none)


def integer(low=None, high=None, *, high_name: str | None = None, none: bool = False) -> Rule:
    """An int (not a bool) in [low, high] (either end may be open-ended)."""
    return Rule("integer", low=low, high=high, high_name=high_name, none=none)


def choice(options: Iterable, *, none: bool = False, any_case: bool = False) -> Rule:
    return Rule("choice", choices=tuple(options), none=none, any_case=any_case)


BOOL = Rule("bool")


def custom(test: Callable, describe: str) -> Rule:
    """A rule that ``test(value)`` decides, described as ``describe``."""
    return Rule("custom", test=test, describe=describe)


@contextlib.contextmanager
def recording():
    """Within the block, every :meth:`Rule.check` appends ``(name, rule)`` to the yielded list."""
    _RECORDING.append([])
    try:
        yield _RECORDING[-1]
    finally:
        _RECORDING.pop()


def recorded_rules(build: Callable[[], object]) -> dict[str, Rule]:
    """name -> rule of every parameter that ``build()`` (a constructor with its defaults) checks
    with this vocabulary; the first rule wins for a name checked twice."""
    with recording() as seen:
        build()
    rules: dict[str, Rule] = {}
    for name, rule in seen:
        rules.setdefault(name, rule)
    return rules


# ---------------------------------------------------------------------------------------------
# The functions losses and models call
# ---------------------------------------------------------------------------------------------


def check_number(owner: str, name: str, value, *, none: bool = False) -> float:
    """Any finite int or float (not a bool, not a string holding a number)."""
    return number(none=none).check(owner, name, value)


def check_above(owner: str, name: str, value, bound: float = 0.0, *, inclusive: bool = False,
                finite: bool = True, none: bool = False) -> float:
    """A finite number > ``bound`` (>= with ``inclusive``). ``finite`` is kept for callers that
    asked for it: every number is finite."""
    return number(bound, closed="both" if inclusive else "neither", none=none).check(owner, name, value)


def check_positive(owner: str, name: str, value, *, none: bool = False) -> float:
    """A finite number > 0."""
    return check_above(owner, name, value, 0.0, none=none)


def check_nonnegative(owner: str, name: str, value, *, none: bool = False) -> float:
    """A finite number >= 0."""
    return check_above(owner, name, value, 0.0, inclusive=True, none=none)


def check_interval(owner: str, name: str, value, low: float, high: float, *, closed: str = "both",
                   none: bool = False) -> float:
    """A number in the interval from ``low`` to ``high``; ``closed`` names the ends that belong
    to it: ``both`` [low, high], ``left`` [low, high), ``right`` (low, high], ``neither`` (low, high)."""
    return number(low, high, closed=closed, none=none).check(owner, name, value)


def check_interval_or_choice(owner: str, name: str, value, low: float, high: float, choices: Iterable[str], *,
                             closed: str = "both") -> float | str:
    """One of the strings ``choices``, or a number in the interval (as :func:`check_interval`)."""
    return number(low, high, closed=closed, choices=choices).check(owner, name, value)


def check_half_open_unit(owner: str, name: str, value) -> float:
    """A number in [0, 1)."""
    return check_interval(owner, name, value, 0.0, 1.0, closed="left")


def check_open_unit(owner: str, name: str, value) -> float:
    """A number in (0, 1)."""
    return check_interval(owner, name, value, 0.0, 1.0, closed="neither")


def check_int(owner: str, name: str, value, minimum: int, maximum: int | None = None, *,
              maximum_name: str | None = None, none: bool = False) -> int:
    """An int (not a bool) >= ``minimum`` and, when given, <= ``maximum`` (``maximum_name``: the
    setting the maximum comes from, named in the message)."""
    return integer(minimum, maximum, high_name=maximum_name, none=none).check(owner, name, value)


def check_bool(owner: str, name: str, value) -> bool:
    """True or False (not 0, 1 or a string)."""
    return BOOL.check(owner, name, value)


def check_choice(owner: str, name: str, value, choices: Iterable[str]) -> str:
    """One of ``choices``."""
    return choice(choices).check(owner, name, value)
