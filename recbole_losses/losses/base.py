"""The base class every loss derives from: the call contract, the one check of what a loss is
handed (dtype, shape, device), construction from a RecBole-style flat config, and the hook through
which a loss learns dataset statistics."""

from __future__ import annotations

import inspect
import itertools
from typing import ClassVar

import torch
from torch import nn



class RankingLoss(nn.Module):
    r"""A ranking loss over one positive and N sampled negatives per training row.

    Called as ``loss(pos_score, neg_score, *, sampled_pos_score=None, user=None, pos_item=None,
    neg_item=None)`` with ``pos_score`` [B], ``neg_score`` [B, N], ``sampled_pos_score`` [B, M]
    (scores of M items drawn from the row user's training positives) and LongTensor ids; returns
    the mean of :meth:`row_loss` over the B rows as a 0-dim tensor.

    Subclasses set ``name`` (the registry key), ``prefix`` (of their config keys), ``aliases``,
    ``default_score`` (``dot``, ``cos`` or ``half_cos``, the score the loss was designed for;
    the config key ``score`` overrides it) and implement :meth:`row_loss`. Hyperparameters are
    the keyword arguments of ``__init__``; the config key of ``tau`` is ``prefix + "tau"``.
    """

    name: ClassVar[str]
    prefix: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    default_score: ClassVar[str] = "cos"
    # Hyperparameters under which autograd's gradient is the derivative of the returned value.
    # A loss that detaches a normaliser on purpose (CW's Z) names the setting that removes it.
    exact_gradient_params: ClassVar[dict] = {}
    # Buffers that after_step() updates from the local batch, and how the ranks of RecBole's
    # multi-process mode combine their updates after every step (the trainer does it): "sum" adds
    # every rank's change (an SGD step on a sum over rows: DrRL's margins), "mean" averages the
    # new values of the ranks that changed an entry (a per-user estimate where one row wins:
    # SL@K's quantiles). Parameters need nothing: their gradients are averaged across ranks.
    step_state: ClassVar[dict[str, str]] = {}

    def row_loss(
        self,
        pos_score: torch.Tensor,
        neg_score: torch.Tensor,
        *,
        sampled_pos_score: torch.Tensor | None = None,
        user: torch.Tensor | None = None,
        pos_item: torch.Tensor | None = None,
        neg_item: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The per-row loss, [B]."""
        raise NotImplementedError

    def forward(
        self,
        pos_score: torch.Tensor,
        neg_score: torch.Tensor,
        *,
        sampled_pos_score: torch.Tensor | None = None,
        user: torch.Tensor | None = None,
        pos_item: torch.Tensor | None = None,
        neg_item: torch.Tensor | None = None,
    ) -> torch.Tensor:
        self._check_inputs(pos_score, neg_score, sampled_pos_score,
                           {"user": user, "pos_item": pos_item, "neg_item": neg_item})
        if pos_score.shape[0] == 0:
            # An empty batch: a zero that stays connected to the graph, so backward() still works.
            return pos_score.sum() * 0.0 + neg_score.sum() * 0.0
        rows = self.row_loss(
            pos_score,
            neg_score,
            sampled_pos_score=sampled_pos_score,
            user=user,
            pos_item=pos_item,
            neg_item=neg_item,
        )
        # Any NaN or ±inf score makes the loss NaN (without a host sync): some formulas would
        # otherwise return a finite value with a NaN gradient (AdvInfoNCE at r_ui = +inf), and a
        # NaN is what the trainer stops on, with a clear error. One pass per tensor: a sum is
        # non-finite exactly when an entry is (or when finite scores overflow it, ~1e38 in
        # float32, where the loss would overflow too).
        total = pos_score.detach().sum() + neg_score.detach().sum()
        if sampled_pos_score is not None:
            total = total + sampled_pos_score.detach().sum()
        return torch.where(torch.isfinite(total), rows.mean(), torch.full_like(rows[0], float("nan")))

    def setup(self, *, n_users: int, n_items: int, item_counts: torch.Tensor) -> None:
        """Called once by the model with training-split statistics (``item_counts``: [n_items]
        interaction counts of the training split). Losses with per-user or per-item state size
        it here; the default does nothing."""

    # ------------------------------------------------------------------------------------------
    # Training-time state. A loss with parameters, buffers or a schedule of its own takes part in
    # training through these hooks, all no-ops by default; the trainer (recbole_losses.trainer)
    # calls them and the composed model calls attach(). Parameters and buffers are
    # registered on the loss, which is the model's child ``loss``, so checkpoints hold them.
    # ------------------------------------------------------------------------------------------

    def attach(self, *, scorer, train_user: torch.Tensor, train_item: torch.Tensor) -> None:
        """Called once by the composed model after :meth:`setup`. ``scorer(users [R], items
        [R, L]) -> [R, L]`` scores candidates with the model's current parameters and score
        function, without gradient; ``train_user``/``train_item`` are the training split's
        interactions. For losses whose state is estimated from the model (SL@K's quantile); the
        default does nothing."""

    def optimizer_groups(self, *, lr: float, weight_decay: float) -> list[dict]:
        """Extra optimiser param groups for this loss's own ``nn.Parameter``s, given the model's
        learning rate and weight decay: dicts as ``torch.optim`` takes them (``params`` and any of
        ``lr``, ``weight_decay``, ``maximize``). Loss parameters in no group train with the model's
        settings. Default: no groups."""
        return []

    def trains_model(self, epoch: int) -> bool:
        """Whether the model's own parameters are updated in ``epoch`` (0-based). A loss with an
        adversary returns False in its adversarial epochs; the trainer then freezes every
        parameter that is not the loss's for that epoch. Default: always True."""
        return True

    def on_epoch_start(self, epoch: int) -> None:
        """Called by the trainer before each training epoch (0-based, also after resuming)."""

    def after_step(self) -> None:
        """Called by the trainer after every optimiser step (the end of a training batch)."""

    def hyperparameters(self) -> dict:
        return {p: getattr(self, p) for p in self.param_names()}

    @classmethod
    def param_names(cls) -> list[str]:
        params = inspect.signature(cls.__init__).parameters
        return [p for p in params if p != "self"]

    @classmethod
    def param_defaults(cls) -> dict:
        params = inspect.signature(cls.__init__).parameters
        return {p: v.default for p, v in params.items() if p != "self"}

    @classmethod
    def config_keys(cls) -> list[str]:
        return [cls.prefix + p for p in cls.param_names()]

    @classmethod
    def from_config(cls, config) -> RankingLoss:
        """Build from a flat config (RecBole ``Config`` or dict) holding ``<prefix><param>`` keys;
        missing keys take the class defaults. Errors name the config key."""
        kwargs = {}
        for param, key in zip(cls.param_names(), cls.config_keys()):
            value = config[key] if key in config else None
            if value is not None:
                kwargs[param] = value
        try:
            return cls(**kwargs)
        except ValueError as err:
            raise ValueError(f"invalid loss hyperparameter ({cls.prefix}* config keys): {err}") from None

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())

    def _check_inputs(self, pos, neg, sampled_pos, ids) -> None:
        """The one rule for what every loss is handed, with one error text, ``"<loss>: <argument>
        must be <rule>, got <what it is>"``: scores are floating-point tensors of one dtype,
        ``pos_score`` [B], ``neg_score`` [B, N] and ``sampled_pos_score`` [B, M] (N, M >= 1); ids
        are integer tensors, ``user`` and ``pos_item`` [B], ``neg_item`` [B, N]; all on one device,
        the loss's own (its parameters and state) when it has any."""

        def fail(arg, rule, got):
            raise ValueError(f"{self.name}: {arg} must be {rule}, got {got}")

        if not isinstance(pos, torch.Tensor):
            fail("pos_score", "a torch.Tensor [B]", type(pos).__name__)
        if not pos.is_floating_point():
            fail("pos_score", "a floating-point tensor", f"dtype {pos.dtype}")
        if pos.dim() != 1:
            fail("pos_score", "[B]", f"shape {tuple(pos.shape)}")
        b = pos.shape[0]
        own = next(itertools.chain(self.parameters(), self.buffers()), None)
        device, whose = (own.device, "the loss's device") if own is not None else (pos.device, "pos_score's device")
        scores = {"pos_score": (pos, "[B]"), "neg_score": (neg, f"[B, N] with B = {b} and N >= 1"),
                  "sampled_pos_score": (sampled_pos, f"[B, M] with B = {b} and M >= 1")}
        n = neg.shape[1] if isinstance(neg, torch.Tensor) and neg.dim() == 2 else None
        expected_ids = {"user": (b,), "pos_item": (b,), "neg_item": (b, n)}
        for arg, (t, rule) in scores.items():
            if t is None and arg == "sampled_pos_score":
                continue
            if not isinstance(t, torch.Tensor):
                fail(arg, f"a torch.Tensor {rule}", type(t).__name__)
            if t.dtype != pos.dtype:
                fail(arg, f"a floating-point tensor of pos_score's dtype {pos.dtype}", f"dtype {t.dtype}")
            if t.dim() != (1 if arg == "pos_score" else 2) or t.shape[0] != b or (t.dim() == 2 and t.shape[1] < 1):
                fail(arg, rule, f"shape {tuple(t.shape)}")
            if t.device != device:
                fail(arg, f"on {whose} {device}", f"device {t.device}")
        for arg, t in ids.items():
            if t is None:
                continue
            shape = expected_ids[arg]
            rule = "[B]" if len(shape) == 1 else f"[B, N] with B = {b} and N = {n}"
            if not isinstance(t, torch.Tensor):
                fail(arg, f"an integer torch.Tensor {rule}", type(t).__name__)
            if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
                fail(arg, "an integer tensor (ids)", f"dtype {t.dtype}")
            if tuple(t.shape) != shape:
                fail(arg, rule if len(shape) == 2 else f"[B] with B = {b}", f"shape {tuple(t.shape)}")
            if t.device != device:
                fail(arg, f"on {whose} {device}", f"device {t.device}")
