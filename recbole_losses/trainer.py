r"""RecBole's trainers, able to read their own checkpoints on torch >= 2.6.

RecBole 1.2.1 loads checkpoints with a bare ``torch.load``; torch >= 2.6 defaults to
``weights_only=True``, which cannot read the pickled ``Config`` inside them, so the final test
evaluation crashed. :class:`CheckpointMixin` loads the checkpoints this trainer wrote itself
(:func:`recbole_losses.compat.load_checkpoint`) and delegates the rest to RecBole.
:class:`LossStateMixin` runs the training-time hooks of a loss with state of its own (SL@K's
quantiles, DrRL's margins, LLPAUC's variables, AdvInfoNCE's adversary).
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


class LossStateMixin:
    """Lets the model's loss (a :class:`~recbole_losses.losses.RankingLoss` held as ``model.loss``)
    take part in training, the same way for every loss:

    - the optimiser gets one param group with the model's parameters (RecBole's settings) plus
      the groups of ``loss.optimizer_groups(lr=..., weight_decay=...)`` (own learning rate,
      ``maximize`` for ascent);
    - ``loss.after_step()`` runs after every optimiser step (a step post-hook, so RecBole's
      training loop is used unchanged);
    - ``loss.on_epoch_start(epoch)`` runs before each training epoch, and where
      ``loss.trains_model(epoch)`` is False every parameter that is not the loss's is frozen
      (``requires_grad`` off, so the optimiser skips it) for that epoch.

    A model without such a loss trains exactly as with RecBole's trainer.
    """

    def _training_loss(self):
        from .losses.base import RankingLoss

        loss = getattr(self.model, "loss", None)
        return loss if isinstance(loss, RankingLoss) else None

    def _build_optimizer(self, **kwargs):
        loss = self._training_loss()
        if loss is None or "params" in kwargs:
            return super()._build_optimizer(**kwargs)
        groups = loss.optimizer_groups(
            lr=kwargs.get("learning_rate", self.learning_rate),
            weight_decay=kwargs.get("weight_decay", self.weight_decay),
        )
        in_groups = {id(p) for group in groups for p in group["params"]}
        model_params = [p for p in self.model.parameters() if id(p) not in in_groups]
        optimizer = super()._build_optimizer(params=[{"params": model_params}, *groups], **kwargs)
        optimizer.register_step_post_hook(lambda _optimizer, _args, _kwargs: loss.after_step())
        return optimizer

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        loss = self._training_loss()
        if loss is None:
            return super()._train_epoch(train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)
        loss.on_epoch_start(epoch_idx)
        frozen = []
        if not loss.trains_model(epoch_idx):
            own = {id(p) for p in loss.parameters()}
            frozen = [p for p in self.model.parameters() if id(p) not in own and p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        try:
            return super()._train_epoch(train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)
        finally:
            for p in frozen:
                p.requires_grad_(True)


class Trainer(CheckpointMixin, EpochTimerMixin, LossStateMixin, RecBoleTrainer):
    """RecBole's ``Trainer`` with safe loading of its own checkpoints, epoch timing, and the
    training-time hooks of the loss (:class:`LossStateMixin`)."""


def get_trainer(config) -> type:
    """Our :class:`Trainer` for composed models; for a stock RecBole model, the trainer RecBole
    would pick for it, with :class:`CheckpointMixin` added."""
    if config["loss"] is not None:
        return Trainer
    base = recbole_get_trainer(config["MODEL_TYPE"], config["model"])
    if base is RecBoleTrainer:
        return Trainer
    return type(base.__name__, (CheckpointMixin, EpochTimerMixin, base), {"__module__": __name__})


__all__ = ["CheckpointMixin", "EpochTimerMixin", "LossStateMixin", "Trainer", "get_trainer"]
