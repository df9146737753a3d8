r"""What one tuner invocation does: :class:`TuneSettings`, one dataclass whose fields are the
command line's options (:func:`build_parser` generates the parser from the fields' metadata, so
the two never drift apart)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from pathlib import PurePosixPath, PureWindowsPath

from ..arguments import CommandParser, checked
from ..losses._checks import integer, number

PRUNERS = ("median", "none")
SAMPLERS = ("tpe", "random", "grid")


def option(help: str, *flags: str, **argparse_kwargs) -> dict:
    """A field's command-line option: its help text, flags (default ``--<field name>``) and any
    further :meth:`argparse.ArgumentParser.add_argument` keywords."""
    return {"help": help, "flags": flags, "argparse": argparse_kwargs}


def _split(text: str) -> list[str]:
    return text.split()


def check_study_name(name) -> None:
    """ValueError for a study name that is not one plain folder name: it names the output folder
    (``tuning/<study_name>``) and the checkpoint folder, so a path part would write elsewhere."""
    text = str(name)
    if (not text.strip() or "/" in text or "\\" in text or text in (".", "..") or ".." in text.split(".")
            or PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute() or "\0" in text):
        raise ValueError(f"study name {text!r} must be a plain name (no '/', '\\', '..' or absolute path): "
                         "it names the study's folders; choose the folder with --output_dir")


@dataclass
class TuneSettings:
    """What one tuner invocation does (the command line's options, one field each)."""

    model: str = field(default="MF", metadata=option(
        "backbone (MF, LightGCN, XSimGCL) or any RecBole model", "--model", "-m"))
    loss: str | None = field(default=None, metadata=option(
        "loss name; omit for the stock RecBole model", "--loss", "-l"))
    dataset: str = field(default="ml-100k", metadata=option("dataset name (default ml-100k)", "--dataset", "-d"))
    n_trials: int = field(default=None, metadata=option(
        "trials the study should hold (complete, pruned or failed); a rerun adds only the missing ones",
        required=True, type=checked(integer(1))))
    params_file: str | None = field(default=None, metadata=option(
        "search space in RecBole's params-file format (default: the loss's shipped space)"))
    study_name: str | None = field(default=None, metadata=option("default <model>-<loss>-<dataset>"))
    output_dir: str | None = field(default=None, metadata=option(
        "tables, best.yaml, plots and checkpoints (default tuning/<study_name>)"))
    storage: str | None = field(default=None, metadata=option(
        "Optuna database URL (default sqlite:///<output_dir>/study.db)"))
    config_files: list[str] = field(default_factory=list, metadata=option(
        "space-separated YAML files of fixed settings", type=_split))
    overrides: list[str] = field(default_factory=list)  # the other --key=value arguments: fixed settings
    pruner: str = field(default="median", metadata=option("median pruning, or none", choices=PRUNERS))
    warmup_epochs: int | None = field(default=None, metadata=option(
        "no pruning before this epoch (default: a quarter of epochs)", type=checked(integer(0))))
    sampler: str = field(default="tpe", metadata=option(
        "grid: every point of a finite space once (RecBole's exhaustive search)", choices=SAMPLERS))
    sampler_seed: int | None = field(default=None, metadata=option(
        "seed of the sampler (give each parallel worker its own, or none)", type=int))
    timeout: float | None = field(default=None, metadata=option(
        "seconds after which no new trial starts", type=checked(number(0, closed="neither"), float)))
    plots: bool = field(default=True, metadata=option("skip the PNG plots", "--no-plots", action="store_false"))
    overwrite: bool = field(default=False, metadata=option(
        "write into an output folder that holds another study's outputs or files of the same names",
        action="store_true"))
    heartbeat_interval: int = field(default=60, metadata=option(
        "seconds between a running trial's heartbeats", type=checked(integer(1))))
    heartbeat_grace: int = field(default=180, metadata=option(
        "a running trial without a heartbeat this long is reclaimed (its worker died) and run again",
        type=checked(integer(1))))

    def __post_init__(self):
        if isinstance(self.n_trials, bool) or not isinstance(self.n_trials, int) or self.n_trials < 1:
            raise ValueError(f"n_trials must be an integer >= 1, got {self.n_trials!r}")
        if self.study_name is None:
            self.study_name = f"{self.model}-{self.loss or 'stock'}-{self.dataset}"
        check_study_name(self.study_name)
        if self.output_dir is None:
            self.output_dir = str(PurePosixPath("tuning") / self.study_name.replace("@", "at"))
        if self.storage is None:
            self.storage = f"sqlite:///{PurePosixPath(self.output_dir) / 'study.db'}"
        if self.pruner not in PRUNERS:
            raise ValueError(f"pruner must be one of {', '.join(PRUNERS)}, got {self.pruner!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.heartbeat_grace <= self.heartbeat_interval:
            raise ValueError(f"heartbeat_grace must exceed heartbeat_interval = {self.heartbeat_interval} s, "
                             f"got {self.heartbeat_grace}")


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The tuner's argument parser, one option per :class:`TuneSettings` field that has one."""
    parser = CommandParser(
        prog=prog,
        description="Tune a model x loss x dataset on the validation metric (Optuna), then test the selected "
        "trial once.",
        epilog="Extra --key=value arguments are fixed config overrides for every trial (e.g. --preset=paper, "
        "--data_path=DIR, --epochs=200, --show_progress=True for RecBole's progress bars within a trial). "
        "Rerunning the same command resumes the study and runs only the trials still missing; several "
        "workers may run it at once on one storage.",
    )
    for f in fields(TuneSettings):
        if not f.metadata:
            continue
        kwargs = {**f.metadata["argparse"], "default": argparse.SUPPRESS}  # absent: the field's default
        parser.add_argument(*(f.metadata["flags"] or (f"--{f.name}",)), dest=f.name, help=f.metadata["help"], **kwargs)
    return parser


def parse_settings(argv, prog: str) -> TuneSettings:
    """:class:`TuneSettings` from a command line; argparse's errors exit with status 2, a
    ValueError is a setting the dataclass refuses."""
    args, overrides = build_parser(prog).parse_known_args(argv)
    return TuneSettings(**vars(args), overrides=overrides)


__all__ = ["PRUNERS", "SAMPLERS", "TuneSettings", "build_parser", "check_study_name", "parse_settings"]
