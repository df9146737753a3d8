r"""``run``: the RecBole quick start for plugin models and losses.

RecBole's own ``recbole.quick_start`` imports ray (broken on NumPy 2 and setuptools >= 81) and
resolves models by name only, so it cannot run our composed models; this is the documented
manual pipeline (Config → dataset → dataloaders → model → trainer) with our pieces.
"""

from __future__ import annotations

import logging
from logging import getLogger

from recbole.data import create_dataset
from recbole.utils import init_logger, init_seed, set_color

from .config import Config
from .data.dataloader import data_preparation
from .data.datasets import check_dataset
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
    config_dict = dict(config_dict or {})
    if loss is not None:
        config_dict["loss"] = loss
    config = Config(model, dataset, config_file_list, config_dict, cmd_args)
    init_seed(config["seed"], config["reproducibility"])
    init_run_logger(config)
    logger = getLogger()
    logger.info(config)
    if data is None:
        check_dataset(config)
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
    ``test_result`` and ``train_epoch_seconds``."""
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
    }


__all__ = ["build_run", "run"]
