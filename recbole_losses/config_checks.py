r"""Checks of a run's settings before any data is loaded: config files, key names, value types
and ranges, the validation metric and the checkpoint folder.

Known keys are RecBole's (its ``properties/`` YAMLs — overall, every model, datasets, quick-start
files —, its argument lists, and every ``config["key"]`` its source reads, which covers dataset
field settings such as ``RATING_FIELD`` or ``alias_of_item_id``) and ours (``properties/overall.yaml``,
``properties/model/*.yaml``, every loss's ``<prefix><param>`` keys and every key our source reads).
A user key that is none of these and close to one (``difflib``, ratio >= 0.8) is an error with
"did you mean"; one that is close to nothing is a warning (a key of the user's own code).
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import warnings
from numbers import Real
from pathlib import Path

import yaml

_READS = re.compile(
    r"""(?:config|cfg|config_dict|final_config_dict|external_config_dict)\s*(?:\[|\.get\()\s*["']([A-Za-z_]\w*)["']"""
)


def read_config_file(path, loader=yaml.SafeLoader) -> dict:
    """The ``key: value`` mapping of YAML config file ``path``; FileNotFoundError or ValueError
    naming the file when it is missing, a folder, not UTF-8, not YAML, empty, or not a mapping."""
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


def _yaml_keys(folder: Path, exclude=()) -> set[str]:
    keys: set[str] = set()
    for path in folder.rglob("*.yaml"):
        if path.name not in exclude:
            values = yaml.safe_load(path.read_text(encoding="utf-8"))
            if isinstance(values, dict):
                keys |= {k for k in values if isinstance(k, str)}
    return keys


def _source_reads(package_dir: Path) -> set[str]:
    keys: set[str] = set()
    for path in package_dir.rglob("*.py"):
        keys |= set(_READS.findall(path.read_text(encoding="utf-8", errors="replace")))
    return keys


@functools.lru_cache(maxsize=None)
def recbole_keys() -> frozenset[str]:
    """Every key RecBole 1.2.1 defines or reads (url.yaml and kg_url.yaml list dataset names, not keys)."""
    import recbole
    from recbole.utils import argument_list

    root = Path(recbole.__file__).resolve().parent
    listed = set()
    for name in ("general_arguments", "training_arguments", "evaluation_arguments", "dataset_arguments"):
        listed |= set(getattr(argument_list, name, []))
    return frozenset(_yaml_keys(root / "properties", exclude=("url.yaml", "kg_url.yaml")) | listed | _source_reads(root))


@functools.lru_cache(maxsize=None)
def plugin_keys() -> frozenset[str]:
    """Every key recbole-losses defines (overall and model YAMLs, loss keys) or reads."""
    from .config import properties_dir
    from .losses import LOSSES

    root = properties_dir()
    keys = _yaml_keys(root / "model") | set(read_config_file(root / "overall.yaml"))
    for cls in LOSSES.values():
        keys |= set(cls.config_keys())
    return frozenset(keys | _source_reads(Path(__file__).resolve().parent))


def known_keys() -> frozenset[str]:
    return recbole_keys() | plugin_keys()


def check_key_names(sources: dict[str, list[str]]) -> None:
    """``sources``: where the keys were given ("the command line", "config file a.yaml", ...) →
    keys. ValueError ("did you mean") for keys that are close to a known key, a UserWarning naming
    the others. Keys with a loss's prefix are left to the loss's own check (which lists its keys)."""
    from .losses import LOSSES

    known = known_keys()
    prefixes = tuple(cls.prefix for cls in LOSSES.values())
    errors, unknown = [], []
    for where, keys in sources.items():
        for key in keys:
            if key in known or key.startswith(prefixes):
                continue
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.8)
            if close:
                errors.append(f"unknown config key {key!r} ({where}); did you mean {' or '.join(map(repr, close))}?")
            else:
                unknown.append(f"{key!r} ({where})")
    if errors:
        raise ValueError("; ".join(errors))
    if unknown:
        warnings.warn(
            f"config key(s) {', '.join(unknown)} are not settings of RecBole, recbole-losses or any loss: "
            "they are ignored unless your own code reads them", UserWarning, stacklevel=4,
        )


# ---------------------------------------------------------------------------------------------
# Types and ranges
# ---------------------------------------------------------------------------------------------


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _integer(lo=None, none=False):
    text = "an integer" + (f" >= {lo}" if lo is not None else "") + (" or None" if none else "")
    return (lambda v: (none and v is None) or (_is_int(v) and (lo is None or v >= lo))), text


def _number(lo=None, strict=False, none=False):
    bound = "" if lo is None else f" {'>' if strict else '>='} {lo}"
    text = f"a number{bound}" + (" or None" if none else "")
    return (lambda v: (none and v is None)
            or (_is_number(v) and (lo is None or (v > lo if strict else v >= lo)))), text


_BOOL = (lambda v: isinstance(v, bool)), "True or False"
_TEXT = (lambda v: isinstance(v, str) and v != ""), "a non-empty string (a path or name)"


def _choice(options, none=False):
    text = "one of " + ", ".join(map(repr, options)) + (" or None" if none else "") + " (any case)"
    return (lambda v: (none and v is None) or (isinstance(v, str) and v.lower() in options)), text


SPECS = {
    "seed": _integer(),
    "epochs": _integer(0),
    "train_batch_size": _integer(1),
    "eval_batch_size": _integer(1),
    "learning_rate": _number(0, strict=True),
    "weight_decay": _number(0),
    "eval_step": _integer(0),
    "stopping_step": _integer(1, none=True),
    "embedding_size": _integer(1),
    "metric_decimal_place": _integer(0),
    "loss_decimal_place": _integer(0),
    "worker": _integer(0),
    "topk": ((lambda v: (_is_int(v) and v >= 1)
              or (isinstance(v, list) and len(v) > 0 and all(_is_int(k) and k >= 1 for k in v))),
             "an integer >= 1 or a non-empty list of them"),
    "metrics": ((lambda v: isinstance(v, str) or (isinstance(v, list) and len(v) > 0 and all(isinstance(m, str) for m in v))),
                "a metric name or a non-empty list of them"),
    "valid_metric": ((lambda v: isinstance(v, str)), "a metric name such as NDCG@20"),
    "learner": _choice(("adam", "adamw", "sgd", "adagrad", "rmsprop", "sparse_adam")),
    "state": _choice(("info", "debug", "warning", "error", "critical"), none=True),
    "rm_dup_inter": ((lambda v: v is None or v in ("first", "last")), "'first', 'last' or None"),
    "clip_grad_norm": ((lambda v: v is None or isinstance(v, dict)), "None or a dict such as {max_norm: 5}"),
    "gpu_id": ((lambda v: isinstance(v, str) or _is_int(v) or (isinstance(v, (tuple, list)) and all(map(_is_int, v)))),
               "a GPU id or ids, e.g. 0 or '0,1'"),
    "checkpoint_dir": _TEXT,
    "data_path": _TEXT,
    **{key: _BOOL for key in ("reproducibility", "shuffle", "show_progress", "use_gpu", "repeatable",
                              "save_dataset", "save_dataloaders", "log_wandb", "enable_amp", "enable_scaler")},
}


def _inferred(default):
    """The check for a key without a spec, from the type of its default: numbers stay numbers
    (or None), booleans stay booleans; other defaults are not inferred."""
    if isinstance(default, bool):
        return _BOOL
    if _is_number(default):
        return _number(none=True)
    return None


def check_values(user: dict, defaults: dict, skip=()) -> None:
    """ValueError naming the first user key whose value has the wrong type or range: by
    :data:`SPECS`, otherwise by the type of its default. Keys in ``skip`` are checked elsewhere."""
    for key, value in user.items():
        if key in skip:
            continue
        spec = SPECS.get(key) or _inferred(defaults.get(key))
        if spec is not None and not spec[0](value):
            raise ValueError(f"{key} must be {spec[1]}, got {value!r} ({type(value).__name__})")


def computed_metrics(metrics, topk) -> list[str]:
    """The result keys RecBole computes for ``metrics`` and ``topk`` (``ndcg@20``, ``auc``);
    ValueError naming an unknown metric, with the valid ones."""
    from recbole.evaluator.register import metric_information, metrics_dict

    metrics = [metrics] if isinstance(metrics, str) else metrics
    topk = [topk] if _is_int(topk) else topk
    keys = []
    for metric in metrics:
        need = metric_information.get(metric.lower())
        if need is None:
            close = difflib.get_close_matches(metric.lower(), metric_information, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"metrics: unknown metric {metric!r}{hint}; valid metrics: {', '.join(sorted(c.__name__ for c in metrics_dict.values()))}")
        if "rec.topk" in need or "rec.items" in need:
            keys += [f"{metric.lower()}@{k}" for k in topk]
        else:
            keys.append(metric.lower())
    return keys


def check_valid_metric(metrics, topk, valid_metric) -> None:
    """ValueError when ``valid_metric`` is not one of the metrics the run computes (RecBole would
    fail with a KeyError after the first training epoch)."""
    computed = computed_metrics(metrics, topk)
    if valid_metric.lower() not in computed:
        raise ValueError(
            f"valid_metric {valid_metric!r} is not computed by metrics {metrics} with topk {topk}; "
            f"valid choices: {', '.join(computed)} (or add it to metrics/topk)"
        )


def check_checkpoint_dir(path) -> None:
    """ValueError naming ``path`` when checkpoints could not be written there: a file stands where
    the folder (or one of its parents) should be, or the nearest existing folder is read-only."""
    target = Path(path)
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"checkpoint_dir {str(path)!r} cannot be created: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"checkpoint_dir {str(path)!r} is not writable: no write permission on {existing}")


SAMPLED_MODE_KEYS = ("neg_num", "pos_num", "score", "neg_noise_ratio", "neg_distribution")


def check_settings(config) -> None:
    """Every check of this module on a RecBole ``Config`` being built, after its layers are merged
    and before RecBole interprets them (so before any data is loaded)."""
    where = dict(getattr(config, "file_key_sources", {}))
    where.update({key: "config_dict" for key in config.variable_config_dict})
    where.update({key: "the command line" for key in config.cmd_config_dict})
    by_source: dict[str, list[str]] = {}
    for key in config.external_config_dict:
        by_source.setdefault(where.get(key, "config_dict"), []).append(key)
    check_key_names(by_source)
    from .losses import LOSSES

    from .models import model_config_checks

    final = config.final_config_dict
    # A model's own keys are checked by the model's checks (their messages), here before data loads.
    own = model_config_checks(getattr(config, "model", None))
    for key, check in own.items():
        if key in config.external_config_dict:
            check(final[key])
    # Loss keys, and the sampled batch mode's keys, are checked by config.validate with their own messages.
    skip = {k for cls in LOSSES.values() for k in cls.config_keys()} | set(SAMPLED_MODE_KEYS) | set(own)
    check_values({k: final[k] for k in config.external_config_dict if k in final}, config.internal_config_dict,
                 skip=skip)
    check_valid_metric(final["metrics"], final["topk"], final["valid_metric"])
    check_checkpoint_dir(final["checkpoint_dir"])


__all__ = [
    "SPECS", "check_checkpoint_dir", "check_key_names", "check_settings", "check_valid_metric", "check_values",
    "computed_metrics", "known_keys", "plugin_keys", "read_config_file", "recbole_keys",
]
