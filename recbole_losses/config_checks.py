r"""Checks of a run's settings before any data is loaded: key names, value types and ranges, the
validation metric and the checkpoint folder.

One table holds every setting: RecBole's keys (its ``properties/`` YAMLs, its argument lists and
the keys its code reads without a default, :data:`RECBOLE_READS`), ours and RecBole's checked
keys with their rules (:data:`SPECS`), the models' own keys (``CONFIG_CHECKS`` of a model), and
the keys of every registered loss, read from the registry with the rules its constructor checks
(:func:`loss_rules`). Runs (:func:`check_settings`, from every config layer) and the tuner's space
check (:func:`recbole_losses.tuning.space.check_ranges`) use the same :func:`check_value`.

A key with a loss's prefix is that loss's: an error when the loss has no such key. A loss whose
prefix starts a setting of the table (``neg_`` would take ``neg_num``) is refused when it is
registered (:func:`recbole_losses.losses.registry.reserve_keys`). Any other key that is not in the
table and close to one (``difflib``, ratio >= 0.8) is an error with "did you mean"; one that is
close to nothing is a warning (a key of the user's own code).
"""

from __future__ import annotations

import difflib
import functools
import os
import warnings
from numbers import Real
from pathlib import Path

import yaml

from .data.sampler import DISTRIBUTIONS
from .losses import LOSSES
from .losses._checks import BOOL, Rule, choice, custom, integer, number, recorded_rules
from .losses.registry import reserve_keys
from .models import available_models, model_config_checks
from .scoring import SCORE_FUNCTIONS

# Keys RecBole 1.2.1 reads in its code that neither its YAML defaults nor its argument lists name
# (dataset fields it sets itself, keys of models without defaults, its multi-process keys...). A test
# compares this list with RecBole's source, so it stays complete.
RECBOLE_READS = (
    "CROP_ITEM_SEQ", "CROP_ITEM_SEQ_LEN", "INVERSE_ITEM_SEQ", "MASK_INDEX", "MASK_ITEM_SEQ", "MODEL_INPUT_TYPE",
    "MODEL_TYPE", "NEG_ITEMS", "POS_ITEMS", "REORDER_ITEM_SEQ", "cin", "contrast", "dataset", "device", "encoding",
    "eta", "eval_type", "feature_num", "has_residual", "ip", "local_rank", "model", "neg_sampling", "norm", "nproc",
    "offset", "port", "sim", "single_spec", "tail_ratio", "test_neg_sample_args", "token_num_threshold", "training_neg_sample_num",
    "use_filter", "valid_neg_sample_args", "verbose", "world_size", "xgb_early_stopping_rounds",
)


def _yaml_keys(folder: Path, exclude=()) -> set[str]:
    keys: set[str] = set()
    for path in folder.rglob("*.yaml"):
        if path.name not in exclude:
            values = yaml.safe_load(path.read_text(encoding="utf-8"))
            if isinstance(values, dict):
                keys |= {k for k in values if isinstance(k, str)}
    return keys


@functools.lru_cache(maxsize=None)
def recbole_keys() -> frozenset[str]:
    """Every key RecBole 1.2.1 defines (its ``properties/`` YAMLs, url.yaml and kg_url.yaml list
    dataset names, not keys; its argument lists) or reads without a default (:data:`RECBOLE_READS`)."""
    import recbole
    from recbole.utils import argument_list

    root = Path(recbole.__file__).resolve().parent
    listed = set(RECBOLE_READS)
    for name in ("general_arguments", "training_arguments", "evaluation_arguments", "dataset_arguments"):
        listed |= set(getattr(argument_list, name, []))
    return frozenset(_yaml_keys(root / "properties", exclude=("url.yaml", "kg_url.yaml")) | listed)


def model_keys() -> frozenset[str]:
    """The own keys of every model that checks its own (XSimGCL's ``eps``, ``layer_cl``...)."""
    return frozenset(key for name in checked_models() for key in model_config_checks(name))


def settings_keys() -> frozenset[str]:
    """Every key that is not a loss's: RecBole's, the table's (ours) and the models' own."""
    return recbole_keys() | frozenset(SPECS) | model_keys()


def known_keys() -> frozenset[str]:
    """Every key a run knows: :func:`settings_keys` and every registered loss's keys."""
    return settings_keys() | frozenset(loss_rules())


def _loss_owning(key: str):
    """The registered loss whose prefix ``key`` starts with, or None (prefixes never overlap:
    :func:`recbole_losses.losses.register_loss` refuses it)."""
    return next((cls for cls in LOSSES.values() if key.startswith(cls.prefix)), None)


def check_key_names(sources: dict[str, list[str]]) -> None:
    """``sources``: where the keys were given ("the command line", "config file a.yaml", ...) →
    keys. ValueError for a key with a loss's prefix that is not one of that loss's keys (naming
    them) and for a key close to a known one ("did you mean"); a UserWarning naming the keys close
    to nothing (a key of the user's own code)."""
    known = known_keys()
    errors, unknown = [], []
    for where, keys in sources.items():
        for key in keys:
            owner = _loss_owning(key)
            if owner is not None:
                if key not in owner.config_keys():
                    valid = ", ".join(owner.config_keys()) or "(none)"
                    errors.append(f"unknown config key {key!r} for loss {owner.name}; valid {owner.name} keys: {valid}")
                continue
            if key in known:
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
# Types and ranges: the table of checks
# ---------------------------------------------------------------------------------------------


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _port(v) -> bool:
    if isinstance(v, str) and v.isdigit():
        v = int(v)
    return v is None or (_is_int(v) and 1 <= v <= 65535)


def _clip_grad_norm(v) -> bool:
    if v is None:
        return True
    if not isinstance(v, dict) or "max_norm" not in v:
        return False
    return number(0, closed="neither").accepts(v["max_norm"]) and number(0, closed="neither", none=True).accepts(
        v.get("norm_type"))


_TEXT = custom(lambda v: isinstance(v, str) and v != "", "a non-empty string (a path or name)")
_OPTIONAL_TEXT = custom(lambda v: v is None or (isinstance(v, str) and v != ""), "a non-empty string or None")

# Every checked key of RecBole's and ours, with its rule. Keys a model reads for itself are its
# own (model_rules), a loss's keys come from the loss's own checks (loss_rules); any other key given by
# the user keeps the type of its default (_inferred).
SPECS: dict[str, Rule] = {
    # RecBole: environment, training, evaluation
    "seed": integer(),
    "epochs": integer(0),
    "train_batch_size": integer(1),
    "eval_batch_size": integer(1),
    "learning_rate": number(0, closed="neither"),
    "weight_decay": number(0),
    "eval_step": integer(0),
    "stopping_step": integer(1, none=True),
    "embedding_size": integer(1),
    "n_layers": integer(1),
    "reg_weight": number(0, none=True),
    "node_dropout": number(0, 1, closed="left"),
    "message_dropout": number(0, 1, closed="left"),
    "metric_decimal_place": integer(0),
    "loss_decimal_place": integer(0),
    "worker": integer(0),
    "topk": custom(lambda v: (_is_int(v) and v >= 1)
                   or (isinstance(v, list) and len(v) > 0 and all(_is_int(k) and k >= 1 for k in v)),
                   "an integer >= 1 or a non-empty list of them"),
    "metrics": custom(lambda v: isinstance(v, str) or (isinstance(v, list) and len(v) > 0
                                                       and all(isinstance(m, str) for m in v)),
                      "a metric name or a non-empty list of them"),
    "valid_metric": custom(lambda v: isinstance(v, str), "a metric name such as NDCG@20"),
    "learner": choice(("adam", "adamw", "sgd", "adagrad", "rmsprop", "sparse_adam"), any_case=True),
    "state": choice(("info", "debug", "warning", "error", "critical"), none=True, any_case=True),
    "rm_dup_inter": choice(("first", "last"), none=True),
    "clip_grad_norm": custom(_clip_grad_norm, "None or a dict such as {max_norm: 5} (max_norm a finite number > 0)"),
    "gpu_id": custom(lambda v: isinstance(v, str) or _is_int(v) or (isinstance(v, (tuple, list)) and all(map(_is_int, v))),
                     "a GPU id or ids, e.g. 0 or '0,1'"),
    "checkpoint_dir": _TEXT,
    "data_path": _TEXT,
    **{key: BOOL for key in ("reproducibility", "shuffle", "show_progress", "use_gpu", "repeatable",
                             "save_dataset", "save_dataloaders", "log_wandb", "enable_amp", "enable_scaler",
                             "valid_metric_bigger")},
    # RecBole's multi-process mode (with backend, ours); checked together by check_distributed
    "nproc": integer(1, none=True),
    "world_size": custom(lambda v: v is None or v == -1 or (_is_int(v) and v >= 1),
                         "an integer >= 1 (or -1 or None: nproc)"),
    "offset": integer(0, none=True),
    "local_rank": integer(0),
    "ip": _OPTIONAL_TEXT,
    "port": custom(_port, "a port number in [1, 65535] or None"),
    "backend": choice(("nccl", "gloo"), none=True),
    # ours: the loss (its name is resolved by the registry), the sampled batch mode (checked
    # together by check_sampling), the score, runs
    "loss": _OPTIONAL_TEXT,
    "neg_num": integer(1),
    "pos_num": integer(1),
    "neg_distribution": choice(DISTRIBUTIONS),
    "neg_alpha": number(0),
    "neg_noise_ratio": number(0, 1, closed="left", none=True),
    "compiled_sampler": BOOL,
    "score": choice(SCORE_FUNCTIONS, none=True),
    "preset": _OPTIONAL_TEXT,
    "resume_checkpoint": _OPTIONAL_TEXT,
}


def checked_models() -> list[str]:
    """The models whose own keys have rules (:func:`recbole_losses.models.model_config_checks`)."""
    return [name for names in available_models().values() for name in names if model_config_checks(name)]


def model_rules(model, final: dict | None = None) -> dict[str, Rule]:
    """The rules of model ``model``'s own keys (:func:`recbole_losses.models.model_config_checks`);
    with its settings ``final``, bounds that depend on another key are set (XSimGCL's
    layer_cl <= n_layers)."""
    rules = dict(model_config_checks(str(model)))
    n_layers = (final or {}).get("n_layers")
    if "layer_cl" in rules and SPECS["n_layers"].accepts(n_layers):
        rules["layer_cl"] = rules["layer_cl"].with_high(n_layers, "n_layers")
    return rules


def loss_rules() -> dict[str, tuple[type, str, Rule]]:
    """config key -> (loss class, parameter, rule) for every parameter of every registered loss,
    as the loss's own constructor checks it (read from the registry as it is now: a loss
    registered later extends the table)."""
    return _loss_rules(tuple(LOSSES.values()))


@functools.lru_cache(maxsize=None)
def _loss_rules(classes: tuple[type, ...]) -> dict[str, tuple[type, str, Rule]]:
    table = {}
    for cls in classes:
        for param, rule in recorded_rules(cls).items():
            table[cls.prefix + param] = (cls, param, rule)
    return table


def rules(model=None) -> dict[str, Rule]:
    """The table: config key -> rule, for RecBole's checked keys and ours, model ``model``'s own
    keys and every loss's keys."""
    return {**SPECS, **model_rules(model), **{key: rule for key, (_, _, rule) in loss_rules().items()}}


def _inferred(default) -> Rule | None:
    """The check for a key without a rule, from the type of its default: numbers stay finite
    numbers (or None), booleans stay booleans; other defaults are not inferred."""
    if isinstance(default, bool):
        return BOOL
    if _is_number(default):
        return number(none=True)
    return None


def _is_number(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def check_value(key: str, value, model=None, final: dict | None = None, defaults: dict | None = None) -> None:
    """ValueError, in the form the run reports it, unless ``value`` is valid for config key ``key``:
    by the table (model ``model``'s own keys, with its settings ``final`` for bounds that depend
    on another key; every loss's keys; RecBole's and ours), else by the type of the key's default
    in ``defaults`` (nothing for a key with neither)."""
    own = model_rules(model, final)
    losses = loss_rules()
    if key in own:
        own[key].check(str(model), key, value)
    elif key in losses:
        cls, param, rule = losses[key]
        if not rule.accepts(value):
            raise ValueError(f"invalid loss hyperparameter ({cls.prefix}* config keys): "
                             f"{cls.name}: {param} {rule.problem(value)}")
    else:
        rule = SPECS[key] if key in SPECS else _inferred((defaults or {}).get(key))
        if rule is not None and not rule.accepts(value):
            raise ValueError(f"{key} {rule.problem(value, as_given=True)} ({type(value).__name__})")


def check_sampling(final: dict, given) -> None:
    """The sampled batch mode's keys together: ``neg_alpha`` only means something with
    ``neg_distribution: popularity`` (a warning when it is given for uniform draws); the share
    ``neg_noise_ratio`` of ``neg_num`` must leave a true negative (and should replace at least one)."""
    if "neg_alpha" in given and final.get("neg_distribution") != "popularity":
        warnings.warn(f"neg_alpha = {final['neg_alpha']} is used only with neg_distribution: popularity; "
                      f"with {final.get('neg_distribution')} it is ignored", UserWarning, stacklevel=5)
    ratio, neg_num = final.get("neg_noise_ratio") or 0.0, final.get("neg_num")
    if ratio and final.get("loss") is not None:
        noisy = round(ratio * neg_num)
        if noisy >= neg_num:
            raise ValueError(f"neg_noise_ratio = {ratio} of neg_num = {neg_num} replaces every negative "
                             f"({noisy}); use neg_noise_ratio < {(neg_num - 0.5) / neg_num:.4g} or a larger neg_num")
        if noisy == 0:
            warnings.warn(f"neg_noise_ratio = {ratio} of neg_num = {neg_num} rounds to 0 replaced negatives: "
                          "the run is clean", UserWarning, stacklevel=5)


def check_distributed(final: dict) -> None:
    """RecBole's multi-process keys together, before any process starts or waits: the ranks of this
    machine (offset .. offset + nproc - 1) within world_size, local_rank below nproc, nccl only with
    GPUs, a GPU per process."""
    nproc, offset = final.get("nproc") or 1, final.get("offset") or 0
    world_size = final.get("world_size")
    world_size = nproc + offset if world_size in (None, -1) else world_size
    if "local_rank" not in final and nproc == 1 and final.get("world_size") in (None, -1, 1) and not offset:
        return
    if offset + nproc > world_size:
        raise ValueError(f"ranks offset .. offset + nproc - 1 = {offset} .. {offset + nproc - 1} do not fit in "
                         f"world_size = {world_size}: give world_size >= offset + nproc = {offset + nproc}")
    local_rank = final.get("local_rank")
    if local_rank is not None and local_rank >= nproc:
        raise ValueError(f"local_rank = {local_rank} must be below nproc = {nproc}")
    import torch

    gpu_id = final.get("gpu_id")
    gpus = [g for g in (",".join(map(str, gpu_id)) if isinstance(gpu_id, (list, tuple)) else str(gpu_id or "")).split(",") if g]
    use_cuda = bool(final.get("use_gpu")) and bool(gpus) and torch.cuda.is_available()
    if final.get("backend") == "nccl" and not use_cuda:
        raise ValueError("backend 'nccl' needs GPUs (use_gpu True, gpu_id set, CUDA available); "
                         "use backend 'gloo' on CPU")
    if use_cuda and nproc > len(gpus):
        raise ValueError(f"nproc = {nproc} processes need one GPU each, but gpu_id {gpu_id!r} lists {len(gpus)}: "
                         f"give gpu_id with {nproc} ids, or use_gpu False")


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


def check_folder(key: str, path) -> None:
    """ValueError naming setting ``key`` and ``path`` when files could not be written into folder
    ``path``: a file stands where the folder (or one of its parents) should be, or the nearest
    existing folder is read-only."""
    target = Path(path)
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{key} {str(path)!r} cannot be created: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{key} {str(path)!r} is not writable: no write permission on {existing}")


def check_checkpoint_dir(path) -> None:
    """:func:`check_folder` for ``checkpoint_dir``."""
    check_folder("checkpoint_dir", path)


def check_settings(config) -> None:
    """Every check of this module on a RecBole ``Config`` being built, after its layers are merged
    and before RecBole interprets them (so before any data is loaded or process started): key
    names; every value of a key in the table, whichever layer set it (command line, config files,
    ``config_dict``, preset, our and RecBole's YAMLs), the configured loss's keys included (keys
    of other losses are ignored); the other keys the user gave, by the type of their default; the
    sampling and multi-process keys together; ``valid_metric``; ``checkpoint_dir``. What only the
    loss's constructor can check (its keys together) is checked when it is built
    (:func:`recbole_losses.config.validate`)."""
    where = dict(getattr(config, "file_key_sources", {}))
    where.update({key: "config_dict" for key in config.variable_config_dict})
    where.update({key: "the command line" for key in config.cmd_config_dict})
    by_source: dict[str, list[str]] = {}
    for key in config.external_config_dict:
        by_source.setdefault(where.get(key, "config_dict"), []).append(key)
    check_key_names(by_source)
    final, model = config.final_config_dict, getattr(config, "model", None)
    active = final.get("loss")
    for key in config.external_config_dict:
        owner = _loss_owning(key)
        if owner is not None and owner.name != active:
            warnings.warn(f"config key {key!r} belongs to loss {owner.name}, but the configured loss is {active}: "
                          "it is ignored", UserWarning, stacklevel=4)

    own, losses = model_rules(model, final), loss_rules()
    active_keys = set(LOSSES[active].config_keys()) if active in LOSSES else set()
    for key, value in final.items():
        if key in losses:
            checked = key in active_keys and value is not None  # None: the loss's own default
        else:
            checked = key in SPECS or key in own or key in config.external_config_dict
        if checked:
            check_value(key, value, model, final, config.internal_config_dict)
    check_sampling(final, config.external_config_dict)
    check_distributed(final)
    check_valid_metric(final["metrics"], final["topk"], final["valid_metric"])
    check_checkpoint_dir(final["checkpoint_dir"])


reserve_keys(settings_keys)

__all__ = [
    "RECBOLE_READS", "SPECS", "check_checkpoint_dir", "check_distributed", "check_folder", "check_key_names",
    "check_sampling", "check_settings", "check_valid_metric", "check_value", "checked_models", "computed_metrics",
    "known_keys", "loss_rules", "model_keys", "model_rules", "recbole_keys", "rules", "settings_keys",
]
