r"""The size of a search space: how many settings it holds when every range is finite (``choice``
lists and ``quniform`` grids), the number that bounds an exhaustive search (``--sampler=grid``) and
that reports set beside a study's trial budget."""

from __future__ import annotations

import math
from collections.abc import Mapping

from .space import Param


def space_size(params: Mapping[str, Param]) -> int | None:
    """The number of points of the space ``params`` (the product of each parameter's number of
    values), or None when a parameter is continuous (``uniform``, ``loguniform``)."""
    grids = [param.grid() for param in params.values()]
    if any(grid is None for grid in grids):
        return None
    return math.prod(len(grid) for grid in grids)


__all__ = ["space_size"]
