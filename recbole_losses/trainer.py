r"""RecBole's trainers, able to read their own checkpoints on torch >= 2.6.

RecBole 1.2.1 loads checkpoints with a bare ``torch.load``; torch >= 2.6 defaults to
``weights_only=True``, which cannot read the pickled ``Config`` inside them, so the final test
evaluation crashed. :class:`CheckpointMixin` loads the checkpoints this trainer wrote itself
(:func:`recbole_losses.compat.load_checkpoint`) and delegates the rest to RecBole.
"""

from __future__ import annotations

import time

from recbole.trainer import Trainer as RecBoleTrainer
from recbole.utils import get_trainer as recbole_get_trainer

from .compat import load_checkpoint


class CheckpointMixin:
    def _load_model_state(self, checkpoint_file) -> dict:
        checkpoint = load_checkpoint(checkpoint_file, map_location=self.device)
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.load_other_parameter(checkpoint.get("other_parameter"))
        self.logger.info(f"Loading model structure and parameters from {checkpoint_file}")
        return checkpoint

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if eval_data and load_best_model:
            self._load_model_state(model_file or self.saved_model_file)
        return super().evaluate(eval_data, load_best_model=False, show_progress=show_progress)

    def resume_checkpoint(self, resume_file):
        resume_file = str(resume_file)
        self.saved_model_file = resume_file
        checkpoint = self._load_model_state(resume_file)
        self.start_epoch = checkpoint["epoch"] + 1
        self.cur_step = checkpoint["cur_step"]
        self.best_valid_score = checkpoint["best_valid_score"]
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.logger.info(f"Checkpoint loaded. Resume training from epoch {self.start_epoch}")


class EpochTimerMixin:
    """Records the wall time of every training epoch in ``train_epoch_seconds``."""

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        start = time.perf_counter()
        result = super()._train_epoch(train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)
        self.__dict__.setdefault("train_epoch_seconds", []).append(time.perf_counter() - start)
        return result


class Trainer(CheckpointMixin, EpochTimerMixin, RecBoleTrainer):
    """RecBole's ``Trainer`` with safe loading of its own checkpoints and epoch timing."""


def get_trainer(config) -> type:
    """Our :class:`Trainer` for composed models; for a stock RecBole model, the trainer RecBole
    would pick for it, with :class:`CheckpointMixin` added."""
    if config["loss"] is not None:
        return Trainer
    base = recbole_get_trainer(config["MODEL_TYPE"], config["model"])
    if base is RecBoleTrainer:
        return Trainer
    return type(base.__name__, (CheckpointMixin, EpochTimerMixin, base), {"__module__": __name__})


__all__ = ["CheckpointMixin", "EpochTimerMixin", "Trainer", "get_trainer"]
