r"""The trainers: RecBole's, with a loss-agnostic set of fixes, and the loss trainer on top.

Two layers, each a plain class whose ``super()`` is stated:

- :class:`RecBoleFixes` repairs and extends any RecBole trainer, whatever the model (stock RecBole
  models get it too, through :func:`get_trainer`): checkpoints of plain values read with torch's
  safe loader (:mod:`recbole_losses.checkpoint`: unique names, atomic writes, exact resuming,
  refusal of another run's checkpoint or of changed data), a stop on the first non-finite training
  loss, the wall time of every epoch, and RecBole's multi-process mode on CPU and GPU
  (:mod:`recbole_losses.distributed`: gradients averaged before every step). It is combined with
  exactly one RecBole trainer class, ``class X(RecBoleFixes, RecBoleTrainerClass)``, and every
  ``super()`` call in it goes to that RecBole class (:func:`with_fixes`).
- :class:`Trainer` is ``RecBoleFixes`` over RecBole's ``Trainer`` plus the training-time part of
  the model's loss (a :class:`~recbole_losses.losses.RankingLoss` held as ``model.loss``): its
  optimiser groups, its per-step and per-epoch hooks, its frozen-model epochs, and the
  combination of its per-step state across ranks. A model without such a loss trains exactly as
  with ``RecBoleFixes`` alone.
"""

from __future__ import annotations

import functools
import inspect
import os
import time

import torch
from recbole.trainer import Trainer as RecBoleTrainer
from recbole.utils import get_local_time
from recbole.utils import get_trainer as recbole_get_trainer

from . import distributed
from .checkpoint import (
    RESUME_SUFFIX,
    check_compatible,
    check_data,
    checkpoint_filename,
    data_fingerprint,
    get_rng_state,
    load_checkpoint,
    plain_config,
    save_checkpoint,
    set_rng_state,
)


_FUSED_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)


def fused_optimizer(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """RecBole's Adam or AdamW rebuilt with torch's fused kernel (``fused=True``: one pass over
    every parameter per step instead of a chain of element-wise kernels; the same update up to
    float rounding), where every parameter is a floating-point tensor on CPU or CUDA; any other
    optimiser unchanged. Built before any step, so no state is carried over."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if (
        type(optimizer) not in _FUSED_OPTIMIZERS
        or optimizer.state
        or not params
        or not all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    ):
        return optimizer
    # Each group carries its own copy of the defaults; the kernel flags must come from the new ones.
    groups = [{k: v for k, v in group.items() if k not in ("fused", "foreach")} for group in optimizer.param_groups]
    accepted = inspect.signature(type(optimizer)).parameters
    defaults = {k: v for k, v in optimizer.defaults.items()
                if k in accepted and k not in ("fused", "foreach", "differentiable")}
    return type(optimizer)(groups, **defaults, fused=True)


class RecBoleFixes:
    """Loss-agnostic fixes for a RecBole trainer; use as ``class X(RecBoleFixes, T)`` with ``T`` a
    RecBole trainer class (``super()`` here is ``T``).

    **Checkpoints** hold tensors and plain values only (see :mod:`recbole_losses.checkpoint`) and
    load with torch's safe ``weights_only`` loader. They are named
    ``<model>-<time>-<random>.pth`` in ``checkpoint_dir`` and written atomically.
    :meth:`resume_checkpoint` refuses a checkpoint of another model, loss or dataset, copies the
    checkpoint into this run's own file (later saves go there, never into the file resumed from),
    restores the random states at the start of :meth:`fit` (in multi-process mode each rank's
    own, ``rank_rng``, when the world size is unchanged) and, there, refuses training data
    that differs from the checkpoint's (other token -> id maps or interactions).

    **Finite loss**: training stops at the first batch whose loss is NaN *or* ±inf (RecBole checks
    NaN only; an infinite loss turns every parameter into NaN at the next step).

    **Epoch timing**: the wall time of every training epoch, in ``train_epoch_seconds``.

    **Multi-process mode** (``single_spec`` False, see :mod:`recbole_losses.distributed`): RecBole's
    ``DistributedDataParallel`` wrapper (GPU only; it cannot follow a loss that freezes parameters
    for an epoch, nor state updated outside autograd) is not used. Instead rank 0's parameters,
    buffers and checkpoint name are broadcast at construction; before every optimiser step the
    gradients are averaged over the ranks, then ``clip_grad_norm`` applies; only rank 0 writes
    checkpoints, with every rank's random state gathered into them, and a barrier precedes
    loading one. RecBole's data sharding and metric reduction are unchanged.
    """

    _train_loader = None
    _resume_rng = None
    _resume_file = None
    _resume_data = None
    _data_fingerprint = None
    _saving = False
    _latest_valid_result = None
    _resumed_finished = False
    # Wall seconds of the run before this process resumed it (a resume point's ``run_seconds``),
    # and when this process's fit began: a run's ``run_seconds`` span every sitting it took.
    resumed_seconds = 0.0
    _fit_started = None

    def __init__(self, config, model):
        self.distributed = distributed.is_multi_process(config)
        if self.distributed:
            config["single_spec"] = True  # keeps RecBole's own DDP wrapper out, see above
        try:
            super().__init__(config, model)
        finally:
            config["single_spec"] = not self.distributed
        self.train_epoch_seconds = []
        self.saved_model_file = os.path.join(self.checkpoint_dir, checkpoint_filename(config["model"], get_local_time()))
        if self.distributed:
            distributed.broadcast_parameters(self.model)
            self.saved_model_file = distributed.broadcast_object(self.saved_model_file)
            self.distributed_clip, self.clip_grad_norm = self.clip_grad_norm, None

    # -- finite loss, timing ------------------------------------------------------------------

    def _check_nan(self, loss):
        if not torch.isfinite(loss):
            raise ValueError(
                f"training loss is {loss.item()}: non-finite scores or parameters (a NaN/inf input, or "
                "training diverged). Try a lower learning_rate, a larger temperature, clip_grad_norm, "
                "or reg_weight; benchmarks/stability.py checks a configuration for NaN/inf"
            )

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        self._latest_valid_result = None
        if self._saving and epoch_idx > self.start_epoch:
            self._save_resume_point(epoch_idx)
        start = time.perf_counter()
        result = super()._train_epoch(train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)
        self.train_epoch_seconds.append(time.perf_counter() - start)
        return result

    # -- multi-process mode -------------------------------------------------------------------

    def set_reduce_hook(self):
        """RecBole's DDP forward before each batch: not used (gradients are averaged per step)."""

    def sync_grad_loss(self):
        return 0

    def _build_optimizer(self, **kwargs):
        optimizer = fused_optimizer(super()._build_optimizer(**kwargs))
        if self.distributed:
            optimizer.register_step_pre_hook(lambda opt, _args, _kwargs: self._average_gradients(opt))
        return optimizer

    def _average_gradients(self, optimizer) -> None:
        distributed.average_gradients([p for group in optimizer.param_groups for p in group["params"]], self.device)
        if getattr(self, "distributed_clip", None):
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), **self.distributed_clip)

    # -- checkpoints --------------------------------------------------------------------------

    def _load_model_state(self, checkpoint_file) -> dict:
        if self.distributed:
            distributed.barrier()
        checkpoint = load_checkpoint(checkpoint_file, map_location=self.device)
        check_compatible(checkpoint, self.config, checkpoint_file)
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.load_other_parameter(checkpoint.get("other_parameter"))
        self.logger.info(f"Loading model structure and parameters from {checkpoint_file}")
        return checkpoint

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if eval_data and load_best_model:
            self._load_model_state(model_file or self.saved_model_file)
        return super().evaluate(eval_data, load_best_model=False, show_progress=show_progress)

    def resume_checkpoint(self, resume_file):
        """Continue the run of ``resume_file`` (same model, loss and dataset, else ValueError): a
        best-validation checkpoint, or a resume point (``<checkpoint>.resume.pt``, written at the
        start of every epoch, so a run stopped anywhere loses at most the epoch in progress). This
        run keeps writing to its own ``saved_model_file``, which starts as a copy of the run's
        best-validation checkpoint."""
        resume_file = str(resume_file)
        checkpoint = self._load_model_state(resume_file)
        self.start_epoch = checkpoint["epoch"] + 1
        self._resumed_finished = bool(checkpoint.get("finished"))  # then fit trains nothing
        self.resumed_seconds = float(checkpoint.get("run_seconds", 0.0))
        self.cur_step = checkpoint["cur_step"]
        self.best_valid_score = checkpoint["best_valid_score"]
        self.best_valid_result = checkpoint.get("best_valid_result")
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        rank_rng = checkpoint.get("rank_rng")
        if self.distributed and rank_rng and len(rank_rng) == self.config["world_size"]:
            self._resume_rng = rank_rng[distributed.global_rank(self.config)]  # this rank's own streams
        else:
            self._resume_rng = checkpoint.get("rng")
        self._resume_file, self._resume_data = resume_file, checkpoint.get("data")
        if self._writes_checkpoints():
            best = self._best_of_resume_point(checkpoint, resume_file) if "best_file" in checkpoint else checkpoint
            if best is not None:
                save_checkpoint({**best, "config": plain_config(self.config)}, self.saved_model_file)
        self.logger.info(f"Checkpoint {resume_file} loaded (saving to {self.saved_model_file}). "
                         f"Resume training from epoch {self.start_epoch}")

    def _best_of_resume_point(self, checkpoint, resume_file) -> dict | None:
        """The best-validation checkpoint a resume point names (None before the first one)."""
        best_file = checkpoint["best_file"]
        if best_file is None:
            return None
        if not os.path.isabs(best_file):  # stored beside the resume point
            best_file = os.path.join(os.path.dirname(os.path.abspath(resume_file)), best_file)
        if not os.path.isfile(best_file):
            raise FileNotFoundError(
                f"resume point {resume_file} names the best-validation checkpoint {best_file}, which is "
                "missing: keep both files of a run together"
            )
        best = load_checkpoint(best_file, map_location="cpu")
        check_compatible(best, self.config, best_file)
        return best

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        self._train_loader = train_data
        dataset = getattr(train_data, "_dataset", None)
        self._data_fingerprint = None if dataset is None else data_fingerprint(dataset)
        if self._resume_file is not None and self._data_fingerprint is not None:
            check_data(self._resume_data, self._data_fingerprint, self._resume_file, self.config["data_path"])
        if self._resume_rng is not None:
            set_rng_state(self._resume_rng, getattr(train_data, "generator", None))
            self._resume_rng = None
        if self._resumed_finished:  # nothing left to train; RecBole's fit would save over the best model
            return self.best_valid_score, self.best_valid_result
        self._saving, self._fit_started = saved, time.perf_counter()
        try:
            result = super().fit(train_data, valid_data, verbose=verbose, saved=saved,
                                 show_progress=show_progress, callback_fn=callback_fn)
        finally:
            self._saving = False
        if saved:
            self._save_resume_point(None)  # the run ended: resuming it trains no more
        return result

    @property
    def resume_point_file(self) -> str:
        """Where the run's resume point goes: ``saved_model_file`` with ``.resume.pt`` for ``.pth``
        (not ``*.pth``, so tools that look for a run's best checkpoint by its ending never take it)."""
        return f"{os.path.splitext(self.saved_model_file)[0]}{RESUME_SUFFIX}"

    def _save_resume_point(self, epoch_idx) -> None:
        """The state at the start of epoch ``epoch_idx`` (None: the run has ended), written to
        :attr:`resume_point_file`: parameters, optimiser, early-stopping counter, best score and
        result, every random state, and the name of the best-validation checkpoint."""
        finished = epoch_idx is None
        best_file = os.path.basename(self.saved_model_file) if os.path.isfile(self.saved_model_file) else None
        self._save_checkpoint(
            (self.epochs if finished else epoch_idx) - 1, verbose=False, saved_model_file=self.resume_point_file,
            extra={"best_file": best_file, "finished": finished},
        )

    @property
    def run_seconds(self) -> float:
        """Wall seconds this run has trained and validated so far, earlier sittings included (the
        epoch a stopped sitting was in is not counted: the resumed run trains it again)."""
        now = 0.0 if self._fit_started is None else time.perf_counter() - self._fit_started
        return self.resumed_seconds + now

    def _valid_epoch(self, valid_data, show_progress=False):
        valid_score, valid_result = super()._valid_epoch(valid_data, show_progress=show_progress)
        self._latest_valid_result = valid_result
        return valid_score, valid_result

    def _writes_checkpoints(self) -> bool:
        return self.config["single_spec"] or self.config["local_rank"] == 0

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        rng = get_rng_state(getattr(self._train_loader, "generator", None))
        # Every rank reaches this point together (RecBole saves on reduced validation results).
        rank_rng = distributed.all_gather_object(rng) if self.distributed else None
        if not self._writes_checkpoints():
            return
        saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
        # RecBole saves an improved model before it records the validation result that improved
        # it; that result is the latest one (None after an epoch without validation).
        best = getattr(self, "best_valid_result", None)
        if saved_model_file == self.saved_model_file and self._latest_valid_result is not None:
            best = self._latest_valid_result
        state = {
            "config": plain_config(self.config),
            "epoch": epoch,
            "cur_step": self.cur_step,
            "best_valid_score": float(self.best_valid_score),
            "best_valid_result": None if best is None else {k: float(v) for k, v in best.items()},
            "state_dict": self.model.state_dict(),
            "other_parameter": self.model.other_parameter(),
            "optimizer": self.optimizer.state_dict(),
            "rng": rng,
            "rank_rng": rank_rng,
            "data": self._data_fingerprint,
            "run_seconds": self.run_seconds,
            **kwargs.pop("extra", {}),
        }
        save_checkpoint(state, saved_model_file)
        if verbose:
            self.logger.info(f"Saving current: {saved_model_file}")


class Trainer(RecBoleFixes, RecBoleTrainer):
    """RecBole's ``Trainer`` with :class:`RecBoleFixes` and the training-time part of the loss:

    - the optimiser gets one param group with the model's parameters (RecBole's settings) plus
      the groups of ``loss.optimizer_groups(lr=..., weight_decay=...)`` (own learning rate,
      ``maximize`` for ascent);
    - ``loss.after_step()`` runs after every optimiser step (a step post-hook, so RecBole's
      training loop is used unchanged); in multi-process mode the buffers the loss declares in
      ``step_state`` are then combined across ranks;
    - ``loss.on_epoch_start(epoch)`` runs before each training epoch, and where
      ``loss.trains_model(epoch)`` is False every parameter that is not the loss's is frozen
      (``requires_grad`` off, so the optimiser skips it) for that epoch.
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
        if not self.distributed or not loss.step_state:
            loss.after_step()
            return
        before = {name: getattr(loss, name).clone() for name in loss.step_state if getattr(loss, name) is not None}
        loss.after_step()
        distributed.sync_step_state(loss, before)

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


@functools.cache
def with_fixes(base: type) -> type:
    """``class <base name>(RecBoleFixes, base)``: a RecBole trainer class with :class:`RecBoleFixes`."""
    return type(base.__name__, (RecBoleFixes, base), {"__module__": __name__, "__qualname__": base.__name__})


def get_trainer(config) -> type:
    """:class:`Trainer` for composed models and for stock models RecBole trains with its plain
    ``Trainer``; for a stock model with its own trainer class, that class :func:`with_fixes`."""
    if config["loss"] is not None:
        return Trainer
    base = recbole_get_trainer(config["MODEL_TYPE"], config["model"])
    return Trainer if base is RecBoleTrainer else with_fixes(base)


__all__ = ["RecBoleFixes", "Trainer", "fused_optimizer", "get_trainer", "with_fixes"]
