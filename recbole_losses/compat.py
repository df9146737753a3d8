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
  given ``torch.amp.GradScaler`` for CUDA, the same scaler under its current name, and
  ``torch.amp.autocast`` for CUDA, which ``NCLTrainer``'s epoch enters.
- :func:`patch_ncl_kmeans`: ``recbole/model/general_recommender/ncl.py`` ``NCL.run_kmeans`` (the
  E-step of stock NCL) builds ``faiss.Kmeans(..., gpu=True)``: without faiss, or with a faiss that
  has no GPU, ``--model=NCL`` stopped at its first epoch with ``No module named 'faiss'``. Where
  faiss cannot run on a GPU (checked at the first E-step, not at import), the E-step uses
  :func:`recbole_losses.functional.kmeans` (Lloyd's k-means in torch, on the model's device) and
  returns what RecBole's returns: the L2-normalised centroids and each row's cluster, both tensors
  on the model's device.
- :func:`patch_ensure_dir`: ``recbole/utils/utils.py`` ``ensure_dir`` checks that a folder is
  missing, then creates it: two ranks of a ``--nproc`` run building their trainers at once could
  both see it missing, and the second ``os.makedirs`` raised ``FileExistsError`` and stopped the
  run. Every RecBole module that imported it (trainer, dataset, data utils) gets
  ``os.makedirs(..., exist_ok=True)``, the same folder without the race.
- ``recbole.quick_start`` imports ray 2.6.3, which breaks on NumPy 2 and setuptools >= 81: we never
  import it (see ``recbole_losses.quick_start``).

Not patches, so elsewhere: ``recbole/trainer/trainer.py`` loads checkpoints with a bare
``torch.load``, which torch >= 2.6 refuses for RecBole's pickled ``Config``; our trainers write and
read checkpoints of plain values instead (:mod:`recbole_losses.checkpoint`,
:class:`recbole_losses.trainer.RecBoleFixes`).
"""

from __future__ import annotations

import functools
import importlib
import os

import numpy as np
import scipy.sparse as sp

__all__ = ["apply_all", "ensure_dir", "faiss_gpu_available", "ncl_torch_kmeans", "patch_dok_update",
           "patch_ensure_dir", "patch_grad_scaler",
           "patch_ncl_kmeans", "patch_numpy_aliases"]

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
    """What ``recbole/trainer/trainer.py`` reads of ``torch.cuda.amp``: ``GradScaler`` (every
    trainer) and ``autocast`` (``NCLTrainer``), both under their current names."""

    @staticmethod
    def GradScaler(*args, **kwargs):  # noqa: N802 (torch's name)
        import torch

        return torch.amp.GradScaler("cuda", *args, **kwargs)

    @staticmethod
    def autocast(*args, **kwargs):
        import torch

        return torch.amp.autocast("cuda", *args, **kwargs)


def patch_grad_scaler() -> bool:
    """RecBole's trainer module builds its scaler with ``torch.amp.GradScaler("cuda", ...)``; True
    if it was patched now (False: already, or a torch without ``torch.amp.GradScaler``)."""
    import torch
    import recbole.trainer.trainer as trainer_module

    if trainer_module.amp is _Amp or not hasattr(torch.amp, "GradScaler"):
        return False
    trainer_module.amp = _Amp
    return True


@functools.lru_cache(maxsize=1)
def faiss_gpu_available() -> bool:
    """Whether faiss is installed with GPU support and sees a GPU (what RecBole's NCL needs).
    Asked at NCL's first E-step, not at import: importing faiss and counting GPUs initialises
    CUDA, which no other run should pay for."""
    try:
        import faiss
    except ImportError:
        return False
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def ncl_torch_kmeans(self, x):
    """NCL's E-step k-means in torch: (normalised centroids [k, d], cluster of each row [n])."""
    import torch
    import torch.nn.functional as F

    from .functional import kmeans

    centroids, assignment = kmeans(torch.as_tensor(x, device=self.device), self.k)
    return F.normalize(centroids, p=2, dim=1), assignment


_RECBOLE_RUN_KMEANS = []  # RecBole's own NCL.run_kmeans, kept when patched


def _ncl_run_kmeans(self, x):
    """RecBole's faiss k-means where faiss runs on a GPU, else :func:`ncl_torch_kmeans`."""
    if faiss_gpu_available():
        return _RECBOLE_RUN_KMEANS[0](self, x)
    return ncl_torch_kmeans(self, x)


def patch_ncl_kmeans() -> bool:
    """Route RecBole's ``NCL.run_kmeans`` through :func:`_ncl_run_kmeans`; True if patched now."""
    from recbole.model.general_recommender.ncl import NCL

    if NCL.run_kmeans is _ncl_run_kmeans:
        return False
    _RECBOLE_RUN_KMEANS[:] = [NCL.run_kmeans]
    NCL.run_kmeans = _ncl_run_kmeans
    return True


# The RecBole modules that bound ``ensure_dir`` by name when they were imported.
ENSURE_DIR_MODULES = ("recbole.utils.utils", "recbole.utils", "recbole.utils.logger", "recbole.trainer.trainer",
                      "recbole.data.dataset.dataset", "recbole.data.utils")


def ensure_dir(dir_path) -> None:
    """Create ``dir_path`` (and its parents) unless it exists, race-free across processes."""
    os.makedirs(dir_path, exist_ok=True)


def patch_ensure_dir() -> bool:
    """Give every module of ``ENSURE_DIR_MODULES`` :func:`ensure_dir`; True if any was patched now."""
    patched = False
    for name in ENSURE_DIR_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "ensure_dir", None) is not ensure_dir:
            module.ensure_dir = ensure_dir
            patched = True
    return patched


def apply_all() -> None:
    """Every patch above; each is idempotent. ``import recbole_losses`` calls it once."""
    patch_ensure_dir()
    patch_numpy_aliases()
    patch_dok_update()
    patch_grad_scaler()
    patch_ncl_kmeans()
