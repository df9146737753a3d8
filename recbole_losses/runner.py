r"""``Run``: one training run, from its specification to its closed resources.

A :class:`Run` is what every entry point trains through (the command line, ``recbole_losses.run``,
``objective_function``, every tuner trial, ``load_data_and_model``, the examples): the model,
loss and dataset, the config files, the config dict and the command-line overrides, read into one
:class:`~recbole_losses.config.Config` once, when the ``Run`` is made. Then:

- :meth:`Run.build`: joins the process group of a multi-process rank, seeds, loads the data,
  builds the loaders, the model and the trainer, and installs the run's log handlers;
- :meth:`Run.fit`: trains with validation (continuing ``resume_checkpoint`` when set);
- :meth:`Run.test`: evaluates the test split;
- :meth:`Run.close`: the one place that releases what the run opened: RecBole's TensorBoard
  writer, the run's log handlers and files, the process group it joined, its loaders. A ``Run``
  is a context manager; ``close`` is idempotent.

RecBole's own ``recbole.quick_start`` imports ray (broken on NumPy 2 and setuptools >= 81) and
resolves models by name only, so it cannot run our composed models; this is the documented
manual pipeline (Config → dataset → dataloaders → model → trainer) with our pieces.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from logging import getLogger

import torch
from recbole.data import create_dataset
from recbole.utils import init_logger, init_seed, set_color

from . import distributed
from .allocator import keep_freed_memory
from .checkpoint import find_resume_point
from .config import Config
from .data.dataloader import data_preparation
from .data.datasets import canonical_dataset_name, check_dataset
from .output import known_warnings_filtered, plain_result, result_text
from .trainer import get_trainer

# The log handlers RecBole installed for the newest run of this process that is not closed yet.
_OPEN_HANDLERS: list[logging.Handler] = []


def _remove_handlers(handlers: list[logging.Handler]) -> None:
    root = logging.getLogger()
    for handler in handlers:
        root.removeHandler(handler)
        handler.close()


def init_run_logger(config) -> list[logging.Handler]:
    """RecBole's ``init_logger`` for every run in a process; returns the handlers it installed.

    RecBole installs its console and ``log/<model>/<run>.log`` handlers with
    ``logging.basicConfig``, which does nothing once the root logger has any handler: a second
    run in the same process (a sweep, a notebook, pytest) would keep writing to the first run's
    file. The handlers of an earlier run that was not closed are closed and removed, other
    handlers (the user's own) are set aside while RecBole installs the new pair, then put back
    behind them."""
    _remove_handlers(_OPEN_HANDLERS)
    root = logging.getLogger()
    foreign = list(root.handlers)
    for handler in foreign:
        root.removeHandler(handler)
    try:
        init_logger(config)
    finally:
        _OPEN_HANDLERS[:] = list(root.handlers)
        for handler in foreign:
            root.addHandler(handler)
    return list(_OPEN_HANDLERS)


def init_determinism(config) -> None:
    """With RecBole's ``reproducibility`` on a CPU device, torch's deterministic algorithms:
    multi-threaded CPU kernels (the embedding gradient's index_add) otherwise sum in a varying
    order, so two runs with one seed drift apart by float rounding (measured ~3e-8 after one
    epoch). On CUDA RecBole's own setting (cuDNN deterministic) is left as it is: bitwise equal
    GPU runs would need deterministic scatter kernels at a speed cost (docs/reliability.md).

    Turning them on also turns on torch's ``fill_uninitialized_memory``: every ``torch.empty`` (and
    every clone) first fills its buffer with NaN, a debugging aid against reading memory that was
    never written. It makes no result more deterministic and cost 3–4 ms of a ~50 ms Gowalla
    LightGCN step (six [70,848, 64] buffers a step; docs/performance.md), so it is turned off."""
    torch.use_deterministic_algorithms(bool(config["reproducibility"]) and config["device"].type == "cpu")
    torch.utils.deterministic.fill_uninitialized_memory = False


def resolved_names(config) -> dict:
    """What a run actually uses, from its config: ``model``, ``loss``, ``dataset``, ``preset``."""
    return {key: config[key] for key in ("model", "loss", "dataset", "preset")}


@dataclass
class Run:
    """One run: its specification and its one :class:`Config` (built here unless ``config`` is
    given, as :func:`recbole_losses.load_data_and_model` gives the one stored in a checkpoint).

    ``loss`` (if not None) joins ``config_dict`` as its ``loss`` key; a benchmark name in any case
    (``Health``) means that benchmark; ``cmd_args`` are ``--key=value`` overrides at command-line
    priority; ``saved``: write the best-validation checkpoint and test it (else the last epoch)."""

    model: str | None = None
    loss: str | None = None
    dataset: str | None = "ml-100k"
    config_files: list[str] | None = None
    config_dict: dict | None = None
    cmd_args: list[str] | None = None
    saved: bool = True
    config: Config | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.config is None:
            settings = {**(self.config_dict or {}), **({"loss": self.loss} if self.loss is not None else {})}
            self.config = Config(self.model, canonical_dataset_name(self.dataset), self.config_files or None,
                                 settings, self.cmd_args)
        self.data = None
        self.loaders = None  # (train, valid, test)
        self.recommender = None
        self.trainer = None
        self.best_valid_score = None
        self.best_valid_result = None
        self._handlers: list[logging.Handler] = []
        self._joined_group = False
        self.closed = False

    # -- what it is --------------------------------------------------------------------------

    def spec(self) -> dict:
        """The specification as plain arguments (picklable: what a spawned rank rebuilds from)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "config"}

    @property
    def spawns_ranks(self) -> bool:
        """RecBole's multi-process mode started here: ``nproc`` > 1 and no ``local_rank`` yet."""
        return (self.config["nproc"] or 1) > 1 and "local_rank" not in (self.config_dict or {})

    # -- its life ----------------------------------------------------------------------------

    def build(self, data=None) -> "Run":
        """Join the process group of a multi-process rank, seed, load the data (``data``: a RecBole
        dataset already built for the same dataset, reused), build loaders, model and trainer; once.
        RecBole's known warnings about its own code are not shown."""
        if self.closed:
            raise RuntimeError("this Run is closed; make a new one")
        if self.trainer is not None:
            return self
        with known_warnings_filtered():
            self._build(data)
        return self

    def _build(self, data) -> None:
        config = self.config
        keep_freed_memory()
        if distributed.is_multi_process(config):
            import torch.distributed as dist

            self._joined_group = not dist.is_initialized()
        distributed.init_process_group(config)
        init_seed(config["seed"], config["reproducibility"])
        init_determinism(config)
        if data is None:
            check_dataset(config)  # before the configuration dump: a missing dataset fails in one line
        self._handlers = init_run_logger(config)
        logger = getLogger()
        logger.info(set_color("run", "yellow") + ": " + ", ".join(f"{k}={v}" for k, v in resolved_names(config).items()))
        logger.info(config)
        if data is None:
            data = create_dataset(config)
            logger.info(data)
        self.data = data
        self.loaders = data_preparation(config, data)
        init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
        self.recommender = config.model_class(config, self.loaders[0]._dataset).to(config["device"])
        logger.info(self.recommender)
        if config["loss"] is not None:
            logger.info(set_color("loss", "pink") + f": {self.recommender.loss!r}, score={self.recommender.score}")
        self.trainer = get_trainer(config)(config, self.recommender)

    def fit(self, callback_fn=None) -> tuple[float, dict | None]:
        """Train with validation every ``eval_step`` epochs; ``callback_fn(epoch_idx, valid_score)``
        after every validation (RecBole's hook: a tuner reports there and may raise to stop the
        run). ``resume_checkpoint`` (a path, or ``last``: the newest resume point of this run's
        settings in ``checkpoint_dir``) is continued. Returns ``(best_valid_score,
        best_valid_result)``; the result as plain floats, None without a validation."""
        self.build()
        config = self.config
        with known_warnings_filtered():
            resume = config["resume_checkpoint"]
            if resume == "last":
                resume = find_resume_point(config)
                found = f"resuming {resume}" if resume else (
                    f"no resume point of this run in {config['checkpoint_dir']}, starting afresh")
                getLogger().info(f"resume_checkpoint=last: {found}")
            if resume:
                self.trainer.resume_checkpoint(resume)
            score, result = self.trainer.fit(self.loaders[0], self.loaders[1], saved=self.saved,
                                             show_progress=config["show_progress"], callback_fn=callback_fn)
        self.best_valid_score, self.best_valid_result = float(score), plain_result(result)
        return self.best_valid_score, self.best_valid_result

    def test(self, model_file: str | None = None) -> dict | None:
        """Test metrics (plain floats) of the best-validation checkpoint when the run saved one,
        of ``model_file`` when given, else of the model as it is."""
        self.build()
        with known_warnings_filtered():
            result = self.trainer.evaluate(self.loaders[2], load_best_model=self.saved or model_file is not None,
                                           model_file=model_file, show_progress=self.config["show_progress"])
        return plain_result(result)

    def train_and_test(self) -> dict | None:
        """:meth:`fit`, :meth:`test` and :meth:`close` (the whole of ``recbole_losses.run``); in
        RecBole's multi-process mode the ranks are spawned here and global rank 0's result
        returned (None on the other machines). Returns ``best_valid_score``,
        ``best_valid_result``, ``test_result``, ``train_epoch_seconds`` (this process's epochs),
        ``resumed_seconds`` (the wall seconds earlier sittings of a resumed run spent; 0 for a fresh
        run) and what was resolved from every config layer: ``model``, ``loss``, ``dataset``,
        ``preset``."""
        if self.spawns_ranks:
            return distributed.spawn(_run_rank, self.config, (self.spec(),))
        with self:
            best_valid_score, best_valid_result = self.fit()
            test_result = self.test()
            logger = getLogger()
            logger.info(set_color("best valid ", "yellow") + f": {result_text(best_valid_result)}")
            logger.info(set_color("test result", "yellow") + f": {result_text(test_result)}")
            return {
                "best_valid_score": best_valid_score,
                "best_valid_result": best_valid_result,
                "test_result": test_result,
                "train_epoch_seconds": list(getattr(self.trainer, "train_epoch_seconds", [])),
                "resumed_seconds": float(getattr(self.trainer, "resumed_seconds", 0.0)),
                **resolved_names(self.config),
            }

    def close(self, wait_for_ranks: bool = True) -> None:
        """Release everything the run opened: RecBole's TensorBoard writer (one file and one
        thread per trainer, never closed by RecBole), the run's log handlers and files, and the
        process group it joined (after a barrier, so no rank tears it down while another still
        talks to it; ``wait_for_ranks=False`` skips the barrier, as after an error). The model,
        data and results stay readable. Idempotent."""
        if self.closed:
            return
        self.closed = True
        writer = getattr(self.trainer, "tensorboard", None)
        if writer is not None:
            writer.close()
        _remove_handlers(self._handlers)
        _OPEN_HANDLERS[:] = [h for h in _OPEN_HANDLERS if h not in self._handlers]
        self._handlers = []
        if self._joined_group:
            import torch.distributed as dist

            if dist.is_initialized():
                if wait_for_ranks:
                    distributed.barrier()
                dist.destroy_process_group()
            self._joined_group = False

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(wait_for_ranks=exc_type is None)


def _run_rank(spec: dict, rank_settings: dict):
    """One rank of a spawned multi-process run (see :func:`distributed.spawn`)."""
    spec = {**spec, "config_dict": {**(spec["config_dict"] or {}), **rank_settings}}
    return Run(**spec).train_and_test()


__all__ = ["Run", "init_determinism", "init_run_logger", "resolved_names"]
