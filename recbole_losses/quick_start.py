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

from .config import Config
from .data.dataloader import data_preparation
from .data.datasets import canonical_dataset_name, check_dataset
from .compat import load_checkpoint
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
    config = run_config(model, loss, dataset, config_file_list, config_dict, cmd_args)
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
    return config, loaders, recommender, trainer


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
    best-validation checkpoint. Returns ``best_valid_score``, ``best_valid_result``,
    ``test_result``, ``train_epoch_seconds`` and what was resolved from every config layer:
    ``model``, ``loss``, ``dataset``, ``preset``.

    RecBole's multi-process mode: with ``nproc`` > 1 (in any config layer), ``nproc`` processes
    are spawned on this machine, ranks ``offset`` .. ``offset + nproc - 1`` of ``world_size``
    (default ``nproc``), meeting at ``ip``:``port`` (default localhost:5678), over ``backend``
    (default nccl with GPUs, gloo on CPU); see docs/reliability.md. Returns global rank 0's
    result (None on the other machines). With ``local_rank`` set, this process is that rank."""
    config_dict = dict(config_dict or {})
    if "local_rank" not in config_dict:
        config = run_config(model, loss, dataset, config_file_list, config_dict, cmd_args)
        if (config["nproc"] or 1) > 1:
            return _spawn(config, (model, loss, dataset, config_file_list, config_dict, cmd_args, saved))
    config, (train_data, valid_data, test_data), _, trainer = build_run(
        model, loss, dataset, config_file_list, config_dict, cmd_args
    )
    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, saved=saved, show_progress=config["show_progress"]
    )
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=config["show_progress"])
    logger = getLogger()
    logger.info(set_color("best valid ", "yellow") + f": {best_valid_result}")
    logger.info(set_color("test result", "yellow") + f": {test_result}")
    return {
        "best_valid_score": best_valid_score,
        "best_valid_result": best_valid_result,
        "test_result": test_result,
        "train_epoch_seconds": list(getattr(trainer, "train_epoch_seconds", [])),
        **resolved_names(config),
    }


def load_data_and_model(model_file, config_dict: dict | None = None):
    """RecBole's ``load_data_and_model`` for checkpoints written by our trainers, read with
    torch's safe ``weights_only`` loader (files holding pickled objects are refused, see
    :func:`recbole_losses.compat.load_checkpoint`). The run is rebuilt from the settings stored in
    the checkpoint (``config_dict`` overrides them, e.g. ``use_gpu``); returns ``(config, model,
    dataset, train_data, valid_data, test_data)`` with the model's weights loaded, in eval mode."""
    checkpoint = load_checkpoint(model_file, map_location="cpu")
    saved = checkpoint["config"]
    if not isinstance(saved, dict) or "external" not in saved:
        raise ValueError(f"checkpoint {model_file} was not written by a recbole_losses trainer (no plain config)")
    config_dict = {**saved["external"], **(config_dict or {})}
    config = Config(saved["model"], saved["dataset"], None, config_dict)
    init_seed(config["seed"], config["reproducibility"])
    check_dataset(config)
    dataset = create_dataset(config)
    config, loaders, model, _ = build_run(saved["model"], None, saved["dataset"], None, config_dict, data=dataset)
    model.load_state_dict(checkpoint["state_dict"])
    model.load_other_parameter(checkpoint.get("other_parameter"))
    model.eval()
    return (config, model, dataset, *loaders)


def _spawn(config, run_args) -> dict | None:
    """Run ``run(*run_args)`` in ``config['nproc']`` spawned processes, one per local rank."""
    import torch.multiprocessing as mp

    nproc = int(config["nproc"])
    world_size = config["world_size"] if config["world_size"] not in (None, -1) else nproc
    settings = {
        "nproc": nproc, "world_size": world_size, "offset": config["offset"] or 0,
        "ip": config["ip"] or "localhost", "port": config["port"] or "5678",
    }
    if not (0 <= settings["offset"] and settings["offset"] + nproc <= world_size):
        raise ValueError(f"ranks offset .. offset + nproc - 1 = {settings['offset']} .. "
                         f"{settings['offset'] + nproc - 1} do not fit in world_size = {world_size}")
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(_run_rank, args=(run_args, settings, queue), nprocs=nproc, join=True)
    return None if queue.empty() else queue.get()


def _run_rank(local_rank: int, run_args, settings: dict, queue) -> None:
    import torch.distributed as dist

    model, loss, dataset, config_file_list, config_dict, cmd_args, saved = run_args
    config_dict = {**config_dict, **settings, "local_rank": local_rank}
    try:
        result = run(model, loss, dataset, config_file_list, config_dict, cmd_args, saved)
        if local_rank + settings["offset"] == 0:
            queue.put(result)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


__all__ = ["build_run", "load_data_and_model", "run"]
