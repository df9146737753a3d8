r"""The sampled batch mode on RecBole's own data pipeline.

:class:`SampledTrainDataLoader` is RecBole's ``TrainDataLoader`` with its pairwise sampler off
(so ``train_batch_size`` counts positive rows B) and a vectorised ``collate_fn`` that adds
``neg_item_id`` [B, N] and ``sampled_pos_item_id`` [B, M] from :class:`TrainingItemSampler`.
:func:`data_preparation` is RecBole's split and samplers unchanged, with this loader for training
when a loss is set; validation and test loaders are RecBole's (full-sort, history masked).
"""

from __future__ import annotations

import numpy as np
import torch
from recbole.data import data_preparation as recbole_data_preparation
from recbole.data.interaction import Interaction
from recbole.data.utils import create_samplers, get_dataloader
from recbole.data.dataloader import TrainDataLoader
from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler

from .duplicates import drop_duplicates, install_logged_removal
from .sampler import TrainingItemSampler

# The field of the training batch holding the M sampled training positives per row, [B, M]
# (the negatives are RecBole's neg_item_id field, NEG_PREFIX + ITEM_ID_FIELD).
SAMPLED_POS_ITEM_ID = "sampled_pos_item_id"

install_logged_removal()


class SampledTrainDataLoader(TrainDataLoader):
    def __init__(self, config, dataset, sampler, shuffle=False):
        self.neg_num, self.pos_num = config["neg_num"], config["pos_num"]
        # False negatives by construction (DrRL/BSL noise experiments): this many of each row's
        # negatives are replaced by the user's own training positives.
        self.noisy_num = round((config["neg_noise_ratio"] or 0.0) * self.neg_num)
        self.item_sampler = TrainingItemSampler(
            dataset.inter_feat[dataset.uid_field],
            dataset.inter_feat[dataset.iid_field],
            n_users=dataset.user_num,
            n_items=dataset.item_num,
            distribution=config["neg_distribution"],
            alpha=config["neg_alpha"],
            compiled=config["compiled_sampler"],
        )
        self.neg_item_field = config["NEG_PREFIX"] + dataset.iid_field
        check_trainable(dataset, self.item_sampler)
        super().__init__(config, dataset, sampler, shuffle=shuffle)
        if not config["single_spec"]:
            self.sampler.seed = config["seed"]  # RecBole's DistributedSampler: seed 0 otherwise

    def __iter__(self):
        """The batches of an epoch. In one process with torch's own random or sequential order,
        the epoch's order is drawn as torch's iterator draws it and cut into index arrays here,
        instead of passing through torch's sampler one Python int at a time (~1 ms a step at
        B = 1,024): the same batches, the loader's generator left in the same state."""
        order = self._epoch_order()
        return super().__iter__() if order is None else self._batches(order)

    def _epoch_order(self):
        """This epoch's row order as a NumPy array, drawn as torch's single-process iterator draws
        it (a base seed, then one ``randperm``, from the loader's generator), or None where the
        stock iterator is needed (worker processes, a distributed or custom sampler, dropped last
        batches)."""
        sampler, batches = self.sampler, self.batch_sampler
        if self.num_workers or type(batches) is not BatchSampler or batches.sampler is not sampler or batches.drop_last:
            return None
        if self._shuffled() is None:
            return None
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)  # the iterator's base seed
        if self._shuffled():
            return torch.randperm(len(sampler.data_source), generator=sampler.generator).numpy()
        return np.arange(len(sampler))

    def _shuffled(self):
        """True for torch's RandomSampler (without replacement, on the loader's generator), False
        for its SequentialSampler, None for any other sampler."""
        sampler = self.sampler
        if type(sampler) is SequentialSampler:
            return False
        if (type(sampler) is RandomSampler and not sampler.replacement and sampler._num_samples is None
                and sampler.generator is self.generator is not None):
            return True
        return None

    def _batches(self, order):
        n, size = len(order), self.batch_size
        for start in range(0, n, size):
            if start + size > n:  # torch's RandomSampler draws a second permutation as it runs out
                self._closing_draw()
            yield self.collate_fn(order[start : start + size])
        if n % size == 0:
            self._closing_draw()

    def _closing_draw(self):
        if self._shuffled():
            torch.randperm(len(self.sampler.data_source), generator=self.sampler.generator)

    def collate_fn(self, index):
        data = super().collate_fn(index)
        users = data[self.uid_field]
        data.update(
            Interaction(
                {
                    self.neg_item_field: self.negatives(users),
                    SAMPLED_POS_ITEM_ID: self.item_sampler.positives(users, self.pos_num),
                }
            )
        )
        return data

    def negatives(self, users):
        """[B, N] negatives; with ``neg_noise_ratio`` > 0 the first round(ratio·N) columns are the
        user's training positives drawn with replacement (the draws are i.i.d., so which columns
        carry them does not matter). Training positives, not validation or test items: the noise
        must not leak evaluation data into training."""
        neg = self.item_sampler.negatives(users, self.neg_num)
        if self.noisy_num:
            neg[:, : self.noisy_num] = self.item_sampler.positives(users, self.noisy_num)
        return neg


def check_trainable(dataset, item_sampler) -> None:
    """ValueError, before training, for a training split the sampled batch mode cannot use: no
    rows, or users whose training items are every item (no negative exists)."""
    if len(dataset) == 0:
        raise ValueError(f"the training split of dataset {dataset.dataset_name!r} is empty: nothing to train on")
    users = dataset.inter_feat[dataset.uid_field].unique()
    full = users[item_sampler.free[users] <= 0]
    if full.numel():
        tokens = [str(t) for t in dataset.id2token(dataset.uid_field, full[:5].numpy())]
        raise ValueError(
            f"users {tokens} ({full.numel()} in all) interacted with every item in training, so no "
            f"negative can be sampled for them; remove them (e.g. user_inter_num_interval) or add items"
        )


def check_topk(config, dataset) -> None:
    """ValueError, before training, when the largest ``topk`` exceeds the dataset's items (RecBole's
    full-sort ranking fails after the first epoch, or ranks the padding id, otherwise)."""
    largest, items = max(config["topk"]), dataset.item_num - 1  # id 0 is padding
    if largest > items:
        raise ValueError(
            f"topk {config['topk']} asks for top-{largest} lists but dataset {dataset.dataset_name!r} has only "
            f"{items} items; use topk values <= {items} (and a valid_metric among them)"
        )


# Bytes a training step holds per scored candidate (positive, negatives, sampled positives) of a
# row: its item id as drawn and as gathered, its score, the loss's intermediates and gradients.
# Measured 32-37 on ml-100k (MF, PSL/CW/SL@K, neg_num 20000); the check uses the low end.
STEP_BYTES_PER_CANDIDATE = 32


def available_memory(device) -> int | None:
    """Bytes free for a training step on ``device``: CUDA's free memory, or the system's
    MemAvailable on CPU (None where neither can be read)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"


def check_step_memory(config, train_data, available: int | None = None) -> None:
    """ValueError, before the first step, when one training step of the sampled batch mode would
    need more memory than ``config['device']`` has free: B rows (``train_batch_size``, at most the
    rank's training rows) × (1 + ``neg_num`` + ``pos_num``) candidates × about
    :data:`STEP_BYTES_PER_CANDIDATE` bytes. Names the key and the largest ``neg_num`` that fits."""
    rows = len(train_data.sampler) if getattr(train_data, "sampler", None) is not None else len(train_data._dataset)
    batch = max(1, min(int(config["train_batch_size"]), rows))
    candidates = 1 + config["neg_num"] + config["pos_num"]
    needed = batch * candidates * STEP_BYTES_PER_CANDIDATE
    available = available_memory(config["device"]) if available is None else available
    if available is None or needed <= available:
        return
    fitting = available // (batch * STEP_BYTES_PER_CANDIDATE) - 1 - config["pos_num"]
    advice = (f"use neg_num <= {fitting:,}" if fitting >= 1 else "use a smaller pos_num")
    raise ValueError(
        f"neg_num = {config['neg_num']:,} needs about {_size(needed)} per training step at train_batch_size = {batch} "
        f"({batch} rows x {candidates:,} scored items x ~{STEP_BYTES_PER_CANDIDATE} bytes), but {config['device']} "
        f"has {_size(available)} free: {advice} (or a smaller train_batch_size)"
    )


def data_preparation(config, dataset):
    """RecBole's ``data_preparation``, with the sampled batch mode when ``config['loss']`` is set;
    first ``rm_dup_inter`` on pre-split files (:func:`~.duplicates.drop_duplicates`) and the checks
    that need the data (:func:`check_topk`, :func:`check_step_memory`; a loss checks its own K
    against the items when the model is built)."""
    drop_duplicates(config, dataset)
    check_topk(config, dataset)
    if config["loss"] is None:
        return recbole_data_preparation(config, dataset)
    train_set, valid_set, test_set = built = dataset.build()
    _, valid_sampler, test_sampler = create_samplers(config, dataset, built)
    train_data = SampledTrainDataLoader(config, train_set, None, shuffle=config["shuffle"])
    check_step_memory(config, train_data)
    valid_data = get_dataloader(config, "valid")(config, valid_set, valid_sampler, shuffle=False)
    test_data = get_dataloader(config, "test")(config, test_set, test_sampler, shuffle=False)
    return train_data, valid_data, test_data


__all__ = ["SAMPLED_POS_ITEM_ID", "STEP_BYTES_PER_CANDIDATE", "SampledTrainDataLoader", "available_memory",
           "check_step_memory", "check_topk", "check_trainable", "data_preparation"]
