r"""The Python API of a run: ``run`` (train and test), ``build_run`` (everything a run trains
with, for tools that drive the loop themselves), ``load_data_and_model`` (a checkpoint back into a
model and its data). Each goes through one :class:`~recbole_losses.runner.Run`.
"""

from __future__ import annotations

from .checkpoint import check_data, data_fingerprint, load_checkpoint
from .config import Config
from .models import available_models
from .runner import Run, resolved_names  # noqa: F401  (resolved_names: also importable from here)


def run_config(model, loss, dataset, config_file_list=None, config_dict=None, cmd_args=None) -> Config:
    """The :class:`Config` a run of these arguments trains with (``Run(...).config``)."""
    return Run(model, loss, dataset, config_file_list, config_dict, cmd_args).config


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
    ``data``: a RecBole dataset already built for the same dataset, reused instead of loading.
    The run is not closed here (its trainer is handed out): to have its resources released, use
    :class:`recbole_losses.runner.Run` as a context manager instead."""
    built = Run(model, loss, dataset, config_file_list, config_dict, cmd_args).build(data)
    return built.config, built.loaders, built.recommender, built.trainer


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
    best-validation checkpoint; every resource the run opened is closed before it returns
    (:meth:`Run.close`). Returns ``best_valid_score``, ``best_valid_result`` and
    ``test_result`` (metric -> float; None without a validation or test), ``train_epoch_seconds``,
    ``resumed_seconds`` (what earlier sittings of a resumed run spent) and what was resolved from
    every config layer: ``model``, ``loss``, ``dataset``, ``preset``.

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
    return Run(model, loss, dataset, config_file_list, config_dict, cmd_args, saved).train_and_test()


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
    with Run(config=StoredConfig(saved["model"], saved["dataset"], saved["external"], config_dict)) as rebuilt:
        rebuilt.build()
    config, dataset, loaders, model = rebuilt.config, rebuilt.data, rebuilt.loaders, rebuilt.recommender
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


__all__ = ["build_run", "load_data_and_model", "run", "run_config"]
