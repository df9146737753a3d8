r"""``run``: the RecBole quick start for plugin models and losses.

RecBole's own ``recbole.quick_start`` imports ray (broken on NumPy 2 and setuptools >= 81) and
resolves models by name only, so it cannot run our composed models; this is the documented
manual pipeline (Config → dataset → dataloaders → model → trainer) with our pieces.
"""

from __future__ import annotations

import logging
from logging import getLogger

import torch

from recbole.data import create_dataset
from recbole.utils import init_logger, init_seed, set_color

from . import distributed
from .allocator import keep_freed_memory
from .checkpoint import check_data, data_fingerprint, find_resume_point, load_checkpoint
from .config import Config
from .data.dataloader import data_preparation
from .data.datasets import canonical_dataset_name, check_dataset
from .models import available_models
from .output import known_warnings_filtered, plain_result, result_text
from .trainer import get_trainer


_RUN_HANDLERS: list[logging.Handler] = []


def init_run_logger(config) -> None:
    """RecBole's ``init_logger`` for every run in a process.

    RecBole installs its console and ``log/<model>/<run>.log`` handlers with
    ``logging.basicConfig``, which does nothing once the root logger has any handler: a second
    run in the same process (a sweep, a notebook, pytest) would keep writing to the first run's
    file and name its TensorBoard directory after it. The previous run's handlers are closed and
    removed, other handlers (the user's own) are set aside while RecBole installs the new pair, then
    put back behind them.
    """
    root = logging.getLogger()
    for handler in _RUN_HANDLERS:
        root.removeHandler(handler)
        handler.close()
    foreign = list(root.handlers)
    for handler in foreign:
        root.removeHandler(handler)
    try:
        init_logger(config)
    finally:
        _RUN_HANDLERS[:] = list(root.handlers)
        for handler in foreign:
            root.addHandler(handler)


def init_determinism(config) -> None:
    """With RecBole's ``reproducibility`` on a CPU device, torch's deterministic algorithms:
    multi-threaded CPU kernels (the embedding gradient's index_add) otherwise sum in a varying
    order, so two runs with one seed drift apart by float rounding (measured ~3e-8 after one
    epoch). On CUDA RecBole's own setting (cuDNN deterministic) is left as it is: bitwise equal
    GPU runs would need deterministic scatter kernels at a speed cost (docs/reliability.md)."""
    torch.use_deterministic_algorithms(bool(config["reproducibility"]) and config["device"].type == "cpu")


def run_config(model, loss, dataset, config_file_list=None, config_dict=None, cmd_args=None) -> Config:
    """The run's :class:`Config`; ``loss`` (if not None) joins ``config_dict`` as its ``loss`` key; a
    benchmark name in any case (``Health``) means that benchmark."""
    config_dict = {**(config_dict or {}), **({"loss": loss} if loss is not None else {})}
    return Config(model, canonical_dataset_name(dataset), config_file_list, config_dict, cmd_args)


def resolved_names(config) -> dict:
    """What a run actually uses, from its config: ``model``, ``loss``, ``dataset``, ``preset``."""
    return {key: config[key] for key in ("model", "loss", "dataset", "preset")}


def build_run(
    model,
    loss: str | None = None,
    dataset: str = "ml-100k",
    config_file_list: list[str] | None = None,
    config_dict: dict | None = None,
    cmd_args: list[str] | None = None,
    data=None,
):
    """Everything ``run`` trains with, built and logged: ``(config, (train, valid, test),
    recommender, trainer)``. For benchmarks and tools that drive the training loop themselves;
    ``data``: a RecBole dataset already built for the same dataset, reused instead of loading."""
    config, _, loaders, recommender, trainer = _build(run_config(model, loss, dataset, config_file_list, config_dict, cmd_args), data)
    return config, loaders, recommender, trainer


def _build(config, data=None):
    """:func:`build_run` from its ``config``: joins the process group of a multi-process run,
    seeds, loads the data (unless given), builds loaders, model and trainer; returns
    ``(config, data, loaders, recommender, trainer)``. RecBole's known warnings about its own code
    are not shown (:func:`recbole_losses.output.known_warnings_filtered`)."""
    with known_warnings_filtered():
        return _build_quietly(config, data)


def _build_quietly(config, data=None):
    keep_freed_memory()
    distributed.init_process_group(config)
    init_seed(config["seed"], config["reproducibility"])
    init_determinism(config)
    if data is None:
        check_dataset(config)  # before the configuration dump: a missing dataset fails in one line
    init_run_logger(config)
    logger = getLogger()
    logger.info(set_color("run", "yellow") + ": " + ", ".join(f"{k}={v}" for k, v in resolved_names(config).items()))
    logger.info(config)
    if data is None:
        data = create_dataset(config)
        logger.info(data)
    loaders = data_preparation(config, data)

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    recommender = config.model_class(config, loaders[0]._dataset).to(config["device"])
    logger.info(recommender)
    if config["loss"] is not None:
        logger.info(set_color("loss", "pink") + f": {recommender.loss!r}, score={recommender.score}")
    trainer = get_trainer(config)(config, recommender)
    return config, data, loaders, recommender, trainer


def run(
    model,
    loss: str | None = None,
    dataset: str = "ml-100k",
    config_file_list: list[str] | None = None,
    config_dict: dict | None = None,
    cmd_args: list[str] | None = None,
    saved: bool = True,
) -> dict:
    """Train ``model`` with ``loss`` (None: the stock RecBole model) on ``dataset`` and test the
    best-validation checkpoint. Returns ``best_valid_score``, ``best_valid_result`` and
    ``test_result`` (metric -> float; None without a validation or test), ``train_epoch_seconds``
    and what was resolved from every config layer: ``model``, ``loss``, ``dataset``, ``preset``.

    RecBole's multi-process mode: with ``nproc`` > 1 (in any config layer), ``nproc`` processes
    are spawned on this machine, ranks ``offset`` .. ``offset + nproc - 1`` of ``world_size``
    (default ``nproc``), meeting at ``ip``:``port`` (default localhost:5678), over ``backend``
    (default nccl with GPUs, gloo on CPU); see docs/reliability.md. Returns global rank 0's
    result (None on the other machines). With ``local_rank`` set, this process is that rank.

    ``resume_checkpoint`` (any config layer: ``--resume_checkpoint=PATH``, YAML, ``config_dict``):
    continue the run that wrote that checkpoint (same model, loss and dataset, same data), saving
    into this run's own ``checkpoint_dir``: a best-validation checkpoint, a resume point
    (``<checkpoint>.resume.pt``, written at the start of every epoch), or ``last``: the newest
    resume point in ``checkpoint_dir`` of a run with the same settings (none: start afresh), so
    the same command with ``--resume_checkpoint=last`` continues a run stopped at any epoch."""
    config_dict = dict(config_dict or {})
    if "local_rank" not in config_dict:
        config = run_config(model, loss, dataset, config_file_list, config_dict, cmd_args)
        if (config["nproc"] or 1) > 1:
            return distributed.spawn(_run_rank, config, (model, loss, dataset, config_file_list, config_dict, cmd_args, saved))
    config, (train_data, valid_data, test_data), _, trainer = build_run(
        model, loss, dataset, config_file_list, config_dict, cmd_args
    )
    with known_warnings_filtered():
        resume = config["resume_checkpoint"]
        if resume == "last":
            resume = find_resume_point(config)
            found = f"resuming {resume}" if resume else (
                f"no resume point of this run in {config['checkpoint_dir']}, starting afresh")
            getLogger().info(f"resume_checkpoint=last: {found}")
        if resume:
            trainer.resume_checkpoint(resume)
        best_valid_score, best_valid_result = trainer.fit(
            train_data, valid_data, saved=saved, show_progress=config["show_progress"]
        )
        test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=config["show_progress"])
    best_valid_result, test_result = plain_result(best_valid_result), plain_result(test_result)
    logger = getLogger()
    logger.info(set_color("best valid ", "yellow") + f": {result_text(best_valid_result)}")
    logger.info(set_color("test result", "yellow") + f": {result_text(test_result)}")
    return {
        "best_valid_score": float(best_valid_score),
        "best_valid_result": best_valid_result,
        "test_result": test_result,
        "train_epoch_seconds": list(getattr(trainer, "train_epoch_seconds", [])),
        **resolved_names(config),
    }


class StoredConfig(Config):
    """The :class:`Config` of a run rebuilt from a checkpoint: the ``stored`` settings are taken as
    the typed values they are, never evaluated (RecBole's ``Config`` ``eval()``s every string of a
    ``config_dict``, ``_convert_config_dict``, which would run code a file carries); the caller's
    ``overrides`` are read as ``run``'s ``config_dict`` is."""

    def __init__(self, model, dataset, stored: dict, overrides: dict | None = None):
        overrides = dict(overrides or {})
        self._stored = {k: v for k, v in stored.items() if k not in overrides}
        super().__init__(model, dataset, None, {**self._stored, **overrides})

    def _convert_config_dict(self, config_dict):
        given = {k: v for k, v in config_dict.items() if k not in self._stored}
        return {**super()._convert_config_dict(given), **{k: v for k, v in config_dict.items() if k in self._stored}}


def load_data_and_model(model_file, config_dict: dict | None = None):
    """RecBole's ``load_data_and_model`` for checkpoints written by our trainers, read with
    torch's safe ``weights_only`` loader (files holding pickled objects are refused, see
    :func:`recbole_losses.checkpoint.load_checkpoint`). The run is rebuilt from the settings stored
    in the checkpoint, as data: nothing read from the file is evaluated (``config_dict`` overrides
    them, e.g. ``{"use_gpu": False}``). The data loaded must be the
    data the model was trained on (same token -> id maps and training interactions), else
    ValueError. Returns ``(config, model, dataset, train_data, valid_data, test_data)`` with the
    model's weights loaded, in eval mode."""
    checkpoint = load_checkpoint(model_file, map_location="cpu")
    saved = checkpoint.get("config")
    if not isinstance(saved, dict) or not isinstance(saved.get("external"), dict) or not isinstance(saved.get("dataset"), str) \
            or not all(isinstance(k, str) for k in saved["external"]):
        raise ValueError(f"checkpoint {model_file} was not written by a recbole_losses trainer (no plain config)")
    known = {name for names in available_models().values() for name in names}
    if saved.get("model") not in known:
        raise ValueError(f"checkpoint {model_file} names model {saved.get('model')!r}, not one of the "
                         f"general recommenders recbole_losses trains: {', '.join(sorted(known))}")
    config = StoredConfig(saved["model"], saved["dataset"], saved["external"], config_dict)
    config, dataset, loaders, model, _ = _build(config)
    check_data(checkpoint.get("data"), data_fingerprint(loaders[0]._dataset), model_file, config["data_path"])
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        detail = " ".join(line.strip() for line in str(err).splitlines()[:2])
        raise ValueError(f"checkpoint {model_file} does not fit the model {saved['model']} rebuilt from its "
                         f"settings: {detail}") from None
    model.load_other_parameter(checkpoint.get("other_parameter"))
    model.eval()
    return (config, model, dataset, *loaders)


def _run_rank(model, loss, dataset, config_file_list, config_dict, cmd_args, saved, rank_settings):
    """:func:`run` as one rank of a spawned multi-process run (see :func:`distributed.spawn`)."""
    return run(model, loss, dataset, config_file_list, {**config_dict, **rank_settings}, cmd_args, saved)


__all__ = ["build_run", "load_data_and_model", "run"]
