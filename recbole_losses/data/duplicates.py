r"""Duplicate (user, item) interactions, handled by RecBole's ``rm_dup_inter`` everywhere.

``rm_dup_inter`` (RecBole's key): ``first`` (our default, ``properties/overall.yaml``) or ``last``
keeps one row of each (user, item) pair and logs how many rows were dropped; ``None`` (RecBole's
default) keeps every row and logs a warning with the count, because a pair can then be in
training and in validation or test at once.

RecBole applies the setting only to a single ``<dataset>.inter`` file, silently, after sorting
the rows by timestamp even when nothing is duplicated (which changes the random split). Here:
- :func:`install_logged_removal`: RecBole's removal runs only when duplicates exist, and logs
  their count (so a dataset without duplicates keeps its row order and split);
- :func:`drop_duplicates`: the same setting for pre-split ``benchmark_filename`` files, which
  RecBole loads without any filtering: the files count in order train, valid, test, so ``first``
  keeps a pair's training row and drops its later copies.
"""

from __future__ import annotations

from logging import getLogger

import numpy as np
import pandas as pd
import torch

_LEAK = "a pair can then be in training and in validation or test at once"


def _pairs(dataset) -> pd.DataFrame:
    inter = dataset.inter_feat
    columns = [dataset.uid_field, dataset.iid_field]
    if isinstance(inter, pd.DataFrame):
        return inter[columns]
    return pd.DataFrame({c: inter[c].numpy() for c in columns})


def install_logged_removal() -> None:
    """Wrap RecBole's ``Dataset._remove_duplication`` (idempotent): skip it when no (user, item)
    pair repeats, log the count of dropped rows otherwise."""
    from recbole.data.dataset import Dataset

    original = Dataset._remove_duplication
    if getattr(original, "_logs_count", False):
        return

    def _remove_duplication(self):
        keep = self.config["rm_dup_inter"]
        if keep is None:
            return
        self._check_field("uid_field", "iid_field")
        dropped = int(_pairs(self).duplicated(keep=keep).sum())
        if dropped:
            original(self)
            self.logger.warning(f"rm_dup_inter={keep}: dropped {dropped} duplicate (user, item) rows of {self.dataset_name}")

    _remove_duplication._logs_count = True
    Dataset._remove_duplication = _remove_duplication


def drop_duplicates(config, dataset) -> int:
    """Apply ``rm_dup_inter`` to a dataset not built yet (before its split); returns the number
    of duplicate rows found. Pre-split files keep their per-file row counts (``file_size_list``)
    in step; with ``None`` the rows stay and a warning names their count."""
    keep = config["rm_dup_inter"]
    duplicated = _pairs(dataset).duplicated(keep=keep or "first").to_numpy()
    found = int(duplicated.sum())
    if not found:
        return 0
    logger = getLogger()
    if keep is None:
        logger.warning(f"{dataset.dataset_name} holds {found} duplicate (user, item) rows, kept because "
                       f"rm_dup_inter is None: {_LEAK}; set rm_dup_inter: first (or last) to drop them")
        return found
    rows = np.flatnonzero(~duplicated)
    inter = dataset.inter_feat
    if isinstance(inter, pd.DataFrame):
        dataset.inter_feat = inter.iloc[rows].reset_index(drop=True)
    else:
        dataset.inter_feat = inter[torch.from_numpy(rows)]
    sizes = getattr(dataset, "file_size_list", None)
    if dataset.benchmark_filename_list is not None and sizes:
        part = np.repeat(np.arange(len(sizes)), sizes)
        dataset.file_size_list = np.bincount(part[rows], minlength=len(sizes)).tolist()
        per_part = np.bincount(part[duplicated], minlength=len(sizes)).tolist()
        where = ", ".join(f"{n} from {name}" for name, n in zip(dataset.benchmark_filename_list, per_part))
        logger.warning(f"rm_dup_inter={keep}: dropped {found} duplicate (user, item) rows of "
                       f"{dataset.dataset_name} ({where})")
    else:
        logger.warning(f"rm_dup_inter={keep}: dropped {found} duplicate (user, item) rows of {dataset.dataset_name}")
    return found


__all__ = ["drop_duplicates", "install_logged_removal"]
