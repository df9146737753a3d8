r"""What a study is, kept with it, and the folder its outputs own.

A study is one model, loss and dataset, one set of fixed settings (config files and
``--key=value`` overrides), one evaluation protocol (:data:`PROTOCOL_KEYS`, as resolved from every
config layer) and one search space: :func:`study_identity`. The first run stores it in the study
(an Optuna user attribute); every later run, on any worker, must match it, else
:func:`check_identity` refuses the run naming each difference: trials trained under other
settings would otherwise be compared and one of them reported under the wrong name.

The output folder is claimed by one study (:data:`OWNER_FILE`): :func:`claim_output_dir` refuses
a folder that holds another study's outputs, or files of the same names as the tuner's outputs
that no study wrote, unless ``overwrite``.
"""

from __future__ import annotations

import json
from pathlib import Path

# Keys that decide where or how verbosely a run works, not what it learns: not part of a study's
# identity, and left out of best.yaml.
PLUMBING_KEYS = frozenset({
    "data_path", "checkpoint_dir", "gpu_id", "use_gpu", "show_progress", "state", "log_wandb",
    "wandb_project", "nproc", "world_size", "offset", "ip", "port", "backend", "local_rank", "save_dataset",
    "save_dataloaders", "dataset_save_path", "dataloaders_save_path", "resume_checkpoint", "worker",
})
# What decides how a trial is trained and scored, whatever layer set it: stored with the study and
# written into best.yaml.
PROTOCOL_KEYS = ("epochs", "eval_step", "stopping_step", "eval_args", "metrics", "topk", "valid_metric",
                 "valid_metric_bigger", "seed", "reproducibility")
NAME_KEYS = ("model", "loss", "dataset")
# The files a study writes into its output folder.
OUTPUT_FILES = ("trials.csv", "trials.md", "best.yaml", "summary.json", "history.png", "importance.png",
                "importance.txt")
OWNER_FILE = ".study.json"


def plain(value):
    """``value`` as JSON data (what a study's attributes can hold); other objects as their text."""
    return json.loads(json.dumps(value, default=str))


def study_identity(config, params) -> dict:
    """The identity of the study ``config`` (the study's Config without any searched value) and
    the search space ``params`` describe."""
    fixed = {k: v for k, v in config.external_config_dict.items()
             if k not in PLUMBING_KEYS and k not in NAME_KEYS and k not in params}
    return plain({
        **{key: config[key] for key in NAME_KEYS},
        "fixed": dict(sorted(fixed.items())),
        "protocol": {key: config[key] for key in PROTOCOL_KEYS if key not in params},
        "space": {name: f"{param.kind} {param.spec}" for name, param in params.items()},
    })


def differences(stored: dict, current: dict) -> list[str]:
    """``key: stored -> current`` for every part of two identities that differs."""
    lines = []
    for part in (*NAME_KEYS, "fixed", "protocol", "space"):
        old, new = stored.get(part), current.get(part)
        if part in NAME_KEYS:
            if old != new:
                lines.append(f"{part} {old!r} -> {new!r}")
            continue
        old, new = old or {}, new or {}
        for key in dict.fromkeys([*old, *new]):
            if old.get(key, "(unset)") != new.get(key, "(unset)"):
                label = {"fixed": "fixed setting", "protocol": "protocol", "space": "searched"}[part]
                lines.append(f"{label} {key}: {old.get(key, '(unset)')!r} -> {new.get(key, '(unset)')!r}")
    return lines


def check_identity(study, identity: dict, storage: str) -> None:
    """Store ``identity`` in a study that has none; ValueError naming every difference when the
    study was made with another."""
    stored = study.user_attrs.get("identity")
    if stored is None:  # a new study, or one made before identities were stored: what it recorded
        attrs = study.user_attrs
        legacy = {key: attrs[key] for key in NAME_KEYS if key in attrs}
        if "valid_metric" in attrs:
            legacy["protocol"] = {"valid_metric": attrs["valid_metric"]}
        stored = {**identity, **legacy, "protocol": {**identity["protocol"], **legacy.get("protocol", {})}}
    changed = differences(stored, identity)
    if changed:
        raise ValueError(
            f"study {study.study_name} in {storage} was made with other settings than this run "
            f"(study -> this run): {'; '.join(changed)}. Run it with the study's settings, or start another "
            "study (--study_name and --output_dir)")
    if study.user_attrs.get("identity") is None:
        study.set_user_attr("identity", identity)


def claim_output_dir(folder, study_name: str, storage: str, overwrite: bool) -> None:
    """Make ``folder`` this study's output folder (:data:`OWNER_FILE`). Refused, unless
    ``overwrite``, when it belongs to another study or holds files named as the tuner's outputs
    (:data:`OUTPUT_FILES`) that no study wrote."""
    folder = Path(folder)
    owner_file = folder / OWNER_FILE
    owner = None
    if owner_file.is_file():
        try:
            owner = json.loads(owner_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            owner = {}
    me = {"study_name": study_name, "storage": storage}
    if owner is not None and owner.get("study_name") == study_name:
        if owner != me:
            owner_file.write_text(json.dumps(me) + "\n", encoding="utf-8")
        return
    if not overwrite:
        if owner is not None:
            raise ValueError(
                f"output folder {folder} holds the outputs of study {owner.get('study_name')!r} "
                f"({owner.get('storage')}); give this study its own --output_dir, or --overwrite to replace them")
        present = [name for name in OUTPUT_FILES if (folder / name).exists()]
        if present:
            raise ValueError(
                f"output folder {folder} holds {', '.join(present)}, which no study of this tuner wrote; "
                "give the study another --output_dir, or --overwrite to replace them")
    folder.mkdir(parents=True, exist_ok=True)
    owner_file.write_text(json.dumps(me) + "\n", encoding="utf-8")


__all__ = ["NAME_KEYS", "OUTPUT_FILES", "OWNER_FILE", "PLUMBING_KEYS", "PROTOCOL_KEYS", "check_identity",
           "claim_output_dir", "differences", "plain", "study_identity"]
