r"""``Config``: RecBole's configurator with the plugin's names and YAML defaults.

Layers, lowest to highest: RecBole's own defaults (overall, model, dataset YAMLs) <
``properties/overall.yaml`` < ``properties/model/<Model>.yaml`` < ``properties/loss/<Loss>.yaml`` <
``properties/dataset/<dataset>.yaml`` < ``properties/preset/<preset>/<dataset>/<model>/<loss>.yaml``
(with ``preset`` set) < ``config_file_list`` < ``config_dict`` < command line.
The plugin's YAMLs join RecBole's *internal* layer, so every user setting wins over them.

Unlike RecBole's, this ``Config`` reads the command line only from ``cmd_args`` (the CLI passes
its ``--key=value`` arguments), never from ``sys.argv``: the Python API stays deterministic.

Nothing a file or a command line holds is evaluated. RecBole's ``Config`` ``eval()``s every string
of the command line and of ``config_dict`` (``_convert_config_dict``) and reads YAML with PyYAML's
``FullLoader`` (which builds Python objects from ``!!python/...`` tags). Here every string is read
as a Python literal (:func:`typed_value`: ``ast.literal_eval``, never ``eval``) and every YAML
file (config files, the shipped defaults and presets, RecBole's own) with a safe loader
(:class:`ConfigLoader`), so values are typed data before RecBole sees them. Literal text gives
the value RecBole gives it (``[1, 2]``, ``{'a': 1}``, ``1e-3``, ``True``/``true``, ``None``); text
that is not a literal (a path, a name, an expression) stays the string it is.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import yaml
from recbole.config import Config as RecBoleConfig

from .config_checks import check_settings
from .data.datasets import prepared_settings
from .distributed import resolve_settings
from .losses import canonical_loss_name, get_loss_class
from .models import resolve_model

# RecBole's own addition to YAML's floats (configurator.py ``_build_yaml_loader``): ``1e-3`` and
# ``1e5`` are floats, as in Python, not strings as YAML 1.1 reads them.
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class ConfigLoader(yaml.SafeLoader):
    """The YAML loader of every settings file: PyYAML's safe loader (plain data, no ``!!python``
    tags) with RecBole's float syntax."""


ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))

# What RecBole keeps of an evaluated string (anything else stays the text).
_KEPT = (str, int, float, list, tuple, dict, bool)


def typed_value(text: str):
    """The value of a command-line or ``config_dict`` string, as RecBole's ``Config`` reads it
    but without ``eval``: a Python literal is its value (``[64, 64]``, ``1e-3``, ``None``,
    ``{'a': 1}``), ``true``/``false`` in any case a bool, anything else the text itself."""
    try:
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        lowered = text.lower()
        return True if lowered == "true" else False if lowered == "false" else text
    return value if value is None or isinstance(value, _KEPT) else text


def read_config_file(path, loader=ConfigLoader) -> dict:
    """The ``key: value`` mapping of YAML config file ``path``; FileNotFoundError or ValueError
    naming the file when it is missing, a folder, not UTF-8, not YAML (a ``!!python`` tag
    included), empty, or not a mapping."""
    path = str(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"config file {path} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"config file {path} is a folder; give a YAML file of key: value lines")
    try:
        with open(path, encoding="utf-8") as f:
            values = yaml.load(f.read(), Loader=loader)
    except UnicodeDecodeError:
        raise ValueError(f"config file {path} is not UTF-8 text; give a YAML file of key: value lines") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"config file {path} is not valid YAML{where}: {problem}") from None
    if values is None:
        raise ValueError(f"config file {path} is empty (or only comments); it must hold key: value lines")
    if not isinstance(values, dict):
        raise ValueError(
            f"config file {path} holds a {type(values).__name__} ({str(values)[:60]}), not key: value lines"
        )
    bad = [k for k in values if not isinstance(k, str)]
    if bad:
        raise ValueError(f"config file {path}: keys must be names, got {bad}")
    return values


def properties_dir() -> Path:
    """The YAML defaults: shipped inside the package (``recbole_losses/properties``) by a normal
    install, or the repository's top-level ``properties/`` when run from a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "properties", here.parent / "properties"):
        if (candidate / "overall.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"recbole_losses: properties/overall.yaml not found next to {here}")


def preset_combinations(preset: str) -> dict[str, dict[str, list[str]]]:
    """What preset ``preset`` covers: dataset -> model -> losses (``stock``: the model without a loss)."""
    base = properties_dir() / "preset" / preset
    return {
        d.name: {m.name: sorted(f.stem for f in m.glob("*.yaml")) for m in sorted(d.iterdir()) if m.is_dir()}
        for d in sorted(base.iterdir()) if d.is_dir()
    }


def preset_file(preset: str, dataset: str, model: str, loss: str | None) -> Path:
    """``properties/preset/<preset>/<dataset>/<model>/<loss or stock>.yaml``; ValueError listing the
    valid presets, or what the preset covers, when there is none."""
    base = properties_dir() / "preset"
    presets = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; valid presets: {', '.join(presets) or '(none)'}")
    path = base / preset / str(dataset) / str(model) / f"{loss or 'stock'}.yaml"
    if path.is_file():
        return path
    covered = preset_combinations(preset)
    what = f"model {model} with loss {loss}" if loss else f"the stock model {model} (no loss)"
    if dataset not in covered:
        raise ValueError(f"preset {preset!r} has no settings for dataset {dataset!r}; it covers: {', '.join(covered)}")
    listing = "; ".join(f"{m}: {', '.join(losses)}" for m, losses in covered[dataset].items())
    raise ValueError(f"preset {preset!r} has no settings for {what} on {dataset}; on {dataset} it covers {listing}"
                     " (stock = the model without a loss)")


class Config(RecBoleConfig):
    def __init__(self, model=None, dataset=None, config_file_list=None, config_dict=None, cmd_args=None):
        self._cmd_args = list(cmd_args or [])
        super().__init__(model, dataset, config_file_list, config_dict)
        if self.final_config_dict.get("stopping_step") is None:
            # stopping_step: None switches early stopping off (more validations than epochs).
            self.final_config_dict["stopping_step"] = int(self.final_config_dict["epochs"]) + 1
        validate(self)

    def _build_yaml_loader(self):
        """:class:`ConfigLoader` (RecBole's is ``FullLoader``), for config files, the shipped
        defaults and presets, and RecBole's own YAMLs."""
        return ConfigLoader

    def _convert_config_dict(self, config_dict):
        """RecBole's conversion of ``config_dict`` and command-line strings, without ``eval``:
        :func:`typed_value`."""
        return {key: typed_value(value) if isinstance(value, str) else value for key, value in config_dict.items()}

    def _load_config_files(self, file_list):
        """RecBole's, with an error naming the file for a missing, folder, empty, non-mapping or
        broken YAML (RecBole raises a raw TypeError or YAML traceback); ``file_key_sources``
        records which file set each key. A single path is accepted as well as a list."""
        if isinstance(file_list, (str, os.PathLike)):
            file_list = [file_list]
        merged, self.file_key_sources = {}, {}
        for path in file_list or []:
            values = read_config_file(path, self.yaml_loader)
            merged.update(values)
            self.file_key_sources.update({key: f"config file {path}" for key in values})
        return merged

    def _set_default_parameters(self):
        check_settings(self)
        super()._set_default_parameters()

    def _load_cmd_line(self):
        parsed = {}
        for arg in self._cmd_args:
            if not arg.startswith("--") or "=" not in arg:
                raise ValueError(f"command-line argument {arg!r} is not of the form --key=value")
            key, value = arg[2:].split("=", 1)
            parsed[key] = value
        return self._convert_config_dict(parsed)

    def _get_model_and_dataset(self, model, dataset):
        loss = self.external_config_dict.get("loss")
        if loss is not None:
            loss = self.external_config_dict["loss"] = canonical_loss_name(loss)
        if model is None:
            model = self.external_config_dict.get("model")
        if model is None:
            raise ValueError("no model given: pass --model=NAME, model=..., or 'model:' in a config file")
        return super()._get_model_and_dataset(resolve_model(model, loss), dataset)

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        root = properties_dir()
        loss = self.external_config_dict.get("loss")
        layers = [root / "overall.yaml", root / "model" / f"{model}.yaml"]
        if loss is not None:
            layers.append(root / "loss" / f"{loss}.yaml")
        dataset_file = root / "dataset" / f"{dataset}.yaml"
        for path in [*layers, dataset_file]:
            if path.is_file():
                values = self._update_internal_config_dict(str(path)) or {}
                if path == dataset_file:
                    self.parameters["Dataset"] += [k for k in values if k not in self.parameters["Dataset"]]
        if not dataset_file.is_file():
            # A split prepared under its own name (recbole-losses-prepare): read as one.
            data_root = self.external_config_dict.get("data_path") or self.internal_config_dict.get("data_path")
            prepared = prepared_settings(data_root, dataset) if isinstance(data_root, str) else {}
            self.internal_config_dict.update(prepared)
            self.parameters["Dataset"] += [k for k in prepared if k not in self.parameters["Dataset"]]
        preset = self.external_config_dict.get("preset")
        if preset is not None:
            self._update_internal_config_dict(str(preset_file(preset, dataset, model, loss)))

    def _init_device(self):
        """RecBole's device set-up; in its multi-process mode (``local_rank`` set, as
        :func:`recbole_losses.run` does for ``nproc`` > 1) also on CPU, the keys resolved by
        :func:`recbole_losses.distributed.resolve_settings`. No process group is started here:
        :func:`recbole_losses.distributed.init_process_group` does that, from the quick start."""
        if "local_rank" not in self.final_config_dict:
            return super()._init_device()
        resolve_settings(self.final_config_dict)

    def __str__(self):
        """RecBole's dump of the settings; in a run with a loss, ``train_neg_sample_args`` shows the
        negatives the sampled batch mode draws for every row (RecBole's own pairwise sampler, which
        the key describes, is off)."""
        cfg = self.final_config_dict
        if cfg.get("loss") is None:
            return super().__str__()
        stored = cfg["train_neg_sample_args"]
        cfg["train_neg_sample_args"] = _Shown(sampled_negatives_text(cfg))
        try:
            return super().__str__()
        finally:
            cfg["train_neg_sample_args"] = stored

    def _set_train_neg_sample_args(self):
        if self.final_config_dict.get("loss") is not None:
            # The sampled batch mode draws [B, N] negatives itself; RecBole's pairwise sampler
            # (which repeats every row N times) is switched off.
            self.final_config_dict["train_neg_sample_args"] = None
        super()._set_train_neg_sample_args()


class _Shown(str):
    """A text shown as is by RecBole's dump (``format`` of a str subclass prints it unquoted)."""


def sampled_negatives_text(cfg) -> str:
    """What the sampled batch mode draws per training row, in the form of RecBole's
    ``train_neg_sample_args``, naming the keys that set it."""
    drawn = {"distribution": cfg["neg_distribution"], "sample_num": cfg["neg_num"]}
    if cfg["neg_distribution"] == "popularity":
        drawn["alpha"] = cfg["neg_alpha"]
    return (f"{drawn} per training row, and {cfg['pos_num']} sampled positives (the sampled batch mode: "
            "neg_num, neg_distribution, neg_alpha, pos_num)")


def validate(config) -> None:
    """The configured loss built from the settings (nothing without a loss): the checks only its
    constructor can make, of its keys together. Each key alone, and every other setting, is
    checked by :func:`recbole_losses.config_checks.check_settings` while the Config is built."""
    if config["loss"] is not None:
        get_loss_class(config["loss"]).from_config(config)


__all__ = ["Config", "ConfigLoader", "preset_combinations", "preset_file", "properties_dir", "read_config_file",
           "sampled_negatives_text", "typed_value", "validate"]
