r"""Compatibility layer: RecBole 1.2.1 on today's stack (NumPy 2, SciPy >= 1.13, torch >= 2.6).

RecBole 1.2.1 is the last release and master carries no fixes. Each function below repairs one
breakage, names the RecBole file it fixes, and is applied once when ``recbole_losses`` is imported.
Nothing here edits RecBole's files.

- :func:`patch_numpy_aliases`: ``recbole/config/configurator.py`` ``compatibility_settings`` reads
  ``np.float_``, ``np.complex_`` and ``np.unicode_``, which NumPy 2 removed, so every ``Config()``
  raised ``AttributeError``. We restore the three aliases where they are missing.
- :func:`patch_dok_update`: ``recbole/model/general_recommender/{lightgcn,ngcf,...}.py`` build the
  adjacency with ``dok_matrix._update``, removed in SciPy 1.13, so LightGCN/NGCF failed at
  construction. We restore ``_update`` as "add these entries" on the matrix's own dict.
- :func:`patch_grad_scaler`: ``recbole/trainer/trainer.py`` builds ``torch.cuda.amp.GradScaler``
  every epoch, deprecated since torch 2.4 (a FutureWarning on every run). The module's ``amp`` is
  given ``torch.amp.GradScaler`` for CUDA, the same scaler under its current name.
- ``recbole.quick_start`` imports ray 2.6.3, which breaks on NumPy 2 and setuptools >= 81: we never
  import it (see ``recbole_losses.quick_start``).

Not patches, so elsewhere: ``recbole/trainer/trainer.py`` loads checkpoints with a bare
``torch.load``, which torch >= 2.6 refuses for RecBole's pickled ``Config``; our trainers write and
read checkpoints of plain values instead (:mod:`recbole_losses.checkpoint`,
:class:`recbole_losses.trainer.RecBoleFixes`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["apply_all", "patch_dok_update", "patch_grad_scaler", "patch_numpy_aliases"]

_NUMPY_ALIASES = {"float_": "float64", "complex_": "complex128", "unicode_": "str_"}


def patch_numpy_aliases() -> list[str]:
    """Re-create the NumPy 1.x aliases RecBole's ``Config`` reads; returns the names added."""
    added = []
    for old, new in _NUMPY_ALIASES.items():
        if old not in np.__dict__:
            setattr(np, old, getattr(np, new))
            added.append(old)
    return added


def _dok_update(self, mapping):
    # SciPy < 1.13 semantics: set the given (row, col) -> value entries without checks.
    self._dict.update(mapping)


def patch_dok_update() -> bool:
    """Give ``scipy.sparse.dok_matrix`` back its ``_update`` method; True if it was missing."""
    if hasattr(sp.dok_matrix, "_update"):
        return False
    sp.dok_matrix._update = _dok_update
    return True


class _Amp:
    """What ``recbole/trainer/trainer.py`` reads of ``torch.cuda.amp``: ``GradScaler``."""

    @staticmethod
    def GradScaler(*args, **kwargs):  # noqa: N802 (torch's name)
        import torch

        return torch.amp.GradScaler("cuda", *args, **kwargs)


def patch_grad_scaler() -> bool:
    """RecBole's trainer module builds its scaler with ``torch.amp.GradScaler("cuda", ...)``; True
    if it was patched now (False: already, or a torch without ``torch.amp.GradScaler``)."""
    import torch
    import recbole.trainer.trainer as trainer_module

    if trainer_module.amp is _Amp or not hasattr(torch.amp, "GradScaler"):
        return False
    trainer_module.amp = _Amp
    return True


def apply_all() -> None:
    """Every patch above; each is idempotent. ``import recbole_losses`` calls it once."""
    patch_numpy_aliases()
    patch_dok_update()
    patch_grad_scaler()
