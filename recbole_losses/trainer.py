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

import torch
from recbole.trainer import Trainer as RecBoleTrainer
from recbole.utils import get_trainer as recbole_get_trainer

from .compat import load_checkpoint


class CheckpointMixin:
    """Checkpoints that torch's safe ``weights_only`` loader reads, and exact resuming.

    A checkpoint holds RecBole's entries (epoch, cur_step, best_valid_score, state_dict with the
    loss's state, other_parameter, optimizer) plus ``best_valid_result``, the random states
    (torch, CUDA, NumPy, Python, the training loader's generator) and ``config`` as plain values
    (:func:`plain_config`) instead of a pickled ``Config``. Resuming restores the random states at
    the start of :meth:`fit`, so a resumed run continues exactly as the uninterrupted one would.
    Files holding pickled objects (stock RecBole checkpoints, foreign files) are refused unless
    loaded with ``compat.load_checkpoint(path, trusted=True)``.
    """

    _train_loader = None
    _resume_rng = None

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
        self.best_valid_result = checkpoint.get("best_valid_result")
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self._resume_rng = checkpoint.get("rng")
        self.logger.info(f"Checkpoint loaded. Resume training from epoch {self.start_epoch}")

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        self._train_loader = train_data
        if self._resume_rng is not None:
            set_rng_state(self._resume_rng, getattr(train_data, "generator", None))
            self._resume_rng = None
        return super().fit(train_data, valid_data, verbose=verbose, saved=saved,
                           show_progress=show_progress, callback_fn=callback_fn)

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
        best = getattr(self, "best_valid_result", None)
        state = {
            "config": plain_config(self.config),
            "epoch": epoch,
            "cur_step": self.cur_step,
            "best_valid_score": float(self.best_valid_score),
            "best_valid_result": None if best is None else {k: float(v) for k, v in best.items()},
            "state_dict": self.model.state_dict(),
            "other_parameter": self.model.other_parameter(),
            "optimizer": self.optimizer.state_dict(),
            "rng": get_rng_state(getattr(self._train_loader, "generator", None)),
        }
        torch.save(state, saved_model_file)
        if verbose:
            self.logger.info(f"Saving current: {saved_model_file}")


_DISTRIBUTED_KEYS = ("local_rank", "nproc", "world_size", "ip", "port", "offset", "backend")


def plain_config(config) -> dict:
    """What a checkpoint keeps of a ``Config``, as plain values: ``model``, ``dataset``, ``loss``,
    ``external`` (the user's settings from files, dict and command line, the multi-process keys
    left out: enough to rebuild the run) and ``final`` (every resolved key; values that are not
    plain become their ``str``)."""

    def plain(value):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        return float(value) if hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0 else str(value)

    external = {k: v for k, v in config.external_config_dict.items() if k not in _DISTRIBUTED_KEYS}
    return {
        "model": config["model"], "dataset": config["dataset"], "loss": config["loss"],
        "external": plain(external), "final": plain(config.final_config_dict),
    }


def get_rng_state(generator=None) -> dict:
    """The random states a training run draws from, as tensors and plain values."""
    import random

    import numpy as np

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": list(random.getstate()),
        "generator": None if generator is None else generator.get_state(),
    }


def set_rng_state(state: dict, generator=None) -> None:
    """Restore what :func:`get_rng_state` saved (the loader's generator into ``generator``)."""
    import random

    import numpy as np

    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if generator is not None and state["generator"] is not None:
        generator.set_state(state["generator"].cpu())


class FiniteLossMixin:
    """Stops on the first batch whose training loss is NaN **or ±inf** (RecBole checks only NaN,
    and an infinite loss turns every parameter into NaN at the next step), with an error saying
    what to try. Losses return NaN for non-finite scores (:class:`RankingLoss`)."""

    def _check_nan(self, loss):
        if not torch.isfinite(loss):
            raise ValueError(
                f"training loss is {float(loss)}: non-finite scores or parameters (a NaN/inf input, or "
                "training diverged). Try a lower learning_rate, a larger temperature, clip_grad_norm, "
                "or reg_weight; benchmarks/stability.py checks a configuration for NaN/inf"
            )


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
        optimizer.register_step_post_hook(lambda _optimizer, _args, _kwargs: self._loss_after_step(loss))
        return optimizer

    def _loss_after_step(self, loss) -> None:
        loss.after_step()

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


class DistributedMixin:
    """RecBole's multi-process mode (``single_spec`` False: ``nproc``/``world_size``/``ip``/
    ``port``/``offset``, see :func:`recbole_losses.run`) on CPU (gloo) and GPU (nccl).

    RecBole wraps the model in ``DistributedDataParallel(device_ids=[local_rank])`` (GPU only)
    and makes every parameter reach the loss, which breaks when a loss freezes parameters for an
    epoch (AdvInfoNCE) and ignores state a loss updates outside autograd. Here, with RecBole's
    data sharding and metric reduction unchanged:

    - at construction rank 0's parameters and buffers are broadcast (the ranks start equal) and
      rank 0's checkpoint file name is used by all;
    - before every optimiser step the gradients are averaged over the ranks (one flat
      all-reduce; a parameter without a gradient on some rank counts as zero there), then
      ``clip_grad_norm`` applies, so every rank takes the same step;
    - after every step each buffer a loss declares in ``step_state`` is combined across ranks;
    - a barrier precedes loading a checkpoint (only rank 0 writes them).
    """

    def __init__(self, config, model):
        self.distributed = not config["single_spec"]
        if self.distributed:
            config["single_spec"] = True  # RecBole's own DDP wrapper: GPU only, see above
        try:
            super().__init__(config, model)
        finally:
            config["single_spec"] = not self.distributed
        if not self.distributed:
            return
        import torch.distributed as dist

        with torch.no_grad():
            for tensor in [*self.model.parameters(), *self.model.buffers()]:
                if tensor.layout == torch.strided:
                    dist.broadcast(tensor.data, src=0)
        names = [self.saved_model_file]
        dist.broadcast_object_list(names, src=0)
        self.saved_model_file = names[0]
        self.distributed_clip, self.clip_grad_norm = self.clip_grad_norm, None

    def set_reduce_hook(self):
        """RecBole's DDP forward before each batch: not used (gradients are reduced per step)."""

    def sync_grad_loss(self):
        return 0

    def _build_optimizer(self, **kwargs):
        optimizer = super()._build_optimizer(**kwargs)
        if self.distributed:
            optimizer.register_step_pre_hook(lambda opt, _args, _kwargs: self._average_gradients(opt))
        return optimizer

    def _average_gradients(self, optimizer) -> None:
        import torch.distributed as dist

        params = [p for group in optimizer.param_groups for p in group["params"]]
        has_grad = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=self.device)
        dist.all_reduce(has_grad, op=dist.ReduceOp.MAX)
        params = [p for p, flag in zip(params, has_grad.tolist()) if flag]
        if not params:
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= dist.get_world_size()
        offset = 0
        for p in params:
            p.grad.copy_(flat[offset : offset + p.numel()].view_as(p.grad))
            offset += p.numel()
        if getattr(self, "distributed_clip", None):
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), **self.distributed_clip)

    def _loss_after_step(self, loss) -> None:
        if not self.distributed or not loss.step_state:
            return super()._loss_after_step(loss)
        before = {name: getattr(loss, name).clone() for name in loss.step_state if getattr(loss, name) is not None}
        super()._loss_after_step(loss)
        sync_step_state(loss, before)

    def _load_model_state(self, checkpoint_file) -> dict:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()
        return super()._load_model_state(checkpoint_file)


@torch.no_grad()
def sync_step_state(loss, before: dict) -> None:
    """Combine across ranks the ``step_state`` buffers of ``loss`` that each rank changed from
    ``before`` (their values before the step): see :attr:`RankingLoss.step_state`."""
    import torch.distributed as dist

    for name, old in before.items():
        value = getattr(loss, name)
        delta = value - old
        if loss.step_state[name] == "sum":
            dist.all_reduce(delta)
            value.copy_(old + delta)
        else:  # "mean" of the new values of the ranks that changed an entry
            changed = (delta != 0).to(value.dtype)
            total = torch.stack([value * changed, changed])
            dist.all_reduce(total)
            value.copy_(torch.where(total[1] > 0, total[0] / total[1].clamp(min=1), old))


class Trainer(DistributedMixin, CheckpointMixin, FiniteLossMixin, EpochTimerMixin, LossStateMixin, RecBoleTrainer):
    """RecBole's ``Trainer`` with safe loading of its own checkpoints, epoch timing, the
    training-time hooks of the loss (:class:`LossStateMixin`) and RecBole's multi-process mode
    on CPU and GPU (:class:`DistributedMixin`)."""


def get_trainer(config) -> type:
    """Our :class:`Trainer` for composed models; for a stock RecBole model, the trainer RecBole
    would pick for it, with :class:`CheckpointMixin` added."""
    if config["loss"] is not None:
        return Trainer
    base = recbole_get_trainer(config["MODEL_TYPE"], config["model"])
    if base is RecBoleTrainer:
        return Trainer
    return type(base.__name__, (DistributedMixin, CheckpointMixin, FiniteLossMixin, EpochTimerMixin, base), {"__module__": __name__})


__all__ = ["CheckpointMixin", "DistributedMixin", "get_rng_state", "plain_config", "set_rng_state", "EpochTimerMixin", "FiniteLossMixin", "LossStateMixin", "Trainer", "get_trainer", "sync_step_state"]
