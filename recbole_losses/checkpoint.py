r"""Checkpoints: what a file holds, how it is written, how it is read and checked.

RecBole 1.2.1 pickles its whole ``Config`` into a checkpoint and reads it back with a bare
``torch.load``, which torch >= 2.6 refuses (``weights_only=True``) and which, on older torch or with
``weights_only=False``, runs any code a file carries. A checkpoint here holds tensors and plain
values only:

- RecBole's entries: ``epoch``, ``cur_step``, ``best_valid_score``, ``state_dict`` (the loss's
  state included), ``other_parameter``, ``optimizer``; plus ``best_valid_result``;
- ``config``: :func:`plain_config` (model, loss, dataset, the user's settings as plain values);
- ``rng``: :func:`get_rng_state` (torch, CUDA, NumPy, Python, the training loader's generator),
  so a resumed run continues exactly as the uninterrupted one; ``rank_rng``: every rank's, in
  global rank order, for a multi-process run (None otherwise);
- ``data``: :func:`data_fingerprint` of the training split (the user and item token -> id maps
  and a SHA-256 of the training interactions), checked by :func:`check_data` before a checkpoint
  is applied to data, so saved ids never silently point at other users or items.

Writing (:func:`save_checkpoint`) goes to a temporary file in the same folder, then
``os.replace``: an interrupted write leaves the previous file whole. A Ctrl-C during the write is
held until the file is in place, then raised (torch's zip writer would turn a ``KeyboardInterrupt``
raised inside it into a ``RuntimeError``, so the interrupt would read as a failed run). Names
(:func:`checkpoint_filename`) carry the time and a random part, so concurrent runs never share a
file. Reading (:func:`load_checkpoint`) uses torch's safe ``weights_only`` loader; a missing,
truncated or foreign file is a ``ValueError``/``FileNotFoundError`` naming it. Nothing read from
a checkpoint is ever evaluated: stored settings are passed on as the typed values they are.
"""

from __future__ import annotations

import hashlib
import os
import contextlib
import pickle
import random
import signal
import threading
import tempfile
import uuid
import warnings
import zipfile

import numpy as np
import torch

__all__ = [
    "RESUME_SUFFIX",
    "check_compatible",
    "check_data",
    "checkpoint_filename",
    "data_fingerprint",
    "find_resume_point",
    "get_rng_state",
    "load_checkpoint",
    "plain_config",
    "save_checkpoint",
    "set_rng_state",
]

# Keys of a run's settings that describe how it was launched, not what it trains: left out of
# the stored settings, so a checkpoint rebuilds the run in one process and never resumes itself.
LAUNCH_KEYS = ("local_rank", "nproc", "world_size", "ip", "port", "offset", "backend", "resume_checkpoint")


# The ending of a run's resume point (trainer.RecBoleFixes.resume_point_file): not ".pth".
RESUME_SUFFIX = ".resume.pt"
# RecBole's entries, which loading and resuming read.
TRAINER_ENTRIES = ("epoch", "cur_step", "best_valid_score", "state_dict", "optimizer")


def checkpoint_filename(model: str, time: str) -> str:
    """``<model>-<time>-<8 random hex digits>.pth``: RecBole's ``<model>-<time>.pth`` names two runs
    started in the same second alike; the random part (a UUID4's) keeps them apart."""
    return f"{model}-{time}-{uuid.uuid4().hex[:8]}.pth"


def _umask() -> int:
    """The process's umask: read from /proc where it is shown (setting it to read it back would
    briefly change it for every thread), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o077)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def _sigint_held():
    """Hold a Ctrl-C (SIGINT at Python's default handler, in the main thread) until the block ends,
    then raise it as the ``KeyboardInterrupt`` it would have been."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    received = []
    signal.signal(signal.SIGINT, lambda *args: received.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if received:
        signal.default_int_handler(*received[0])


def save_checkpoint(state: dict, path) -> None:
    """Write ``state`` to ``path`` atomically: into a temporary file in the same folder, flushed to
    disk, then renamed over ``path`` (``os.replace``). An interruption leaves the previous file; a
    Ctrl-C during the write is raised once the file is in place. The file's mode follows the umask
    (0644 under the usual 022), like the run's logs."""
    with _sigint_held():
        _write_atomically(state, path)


def _write_atomically(state: dict, path) -> None:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        # mkstemp creates the file 0600; a checkpoint follows the umask, as every other output does.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path, map_location=None, trusted: bool = False) -> dict:
    """Read a checkpoint with torch's safe ``weights_only`` loader, which reads the checkpoints this
    library writes (tensors and plain values) and refuses files holding pickled objects, such as
    stock RecBole checkpoints (a pickled ``Config``), without running any of their code.
    ``trusted=True`` uses the full unpickler: only for files from a source you trust (it can run
    arbitrary code). A missing, truncated or unreadable file is an error naming it."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} not found" + (" (it is a folder)" if os.path.isdir(path) else ""))
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"checkpoint {path} is not a complete torch checkpoint (truncated, e.g. by an interrupted "
            f"copy, or not written by torch.save; {os.path.getsize(path)} bytes)"
        )
    if trusted:
        return torch.load(path, map_location=map_location, weights_only=False)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"checkpoint {path} holds pickled Python objects (stock RecBole checkpoints, or files "
            "from elsewhere, do), which are not unpickled unless trusted: if you trust its source, "
            "load it with recbole_losses.checkpoint.load_checkpoint(path, trusted=True). "
            f"torch said: {str(err).splitlines()[0]}"
        ) from None
    except (RuntimeError, EOFError, OSError) as err:
        raise ValueError(f"checkpoint {path} cannot be read (damaged or truncated): {str(err).splitlines()[0]}") from None


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return float(value) if hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0 else str(value)


def plain_config(config) -> dict:
    """What a checkpoint keeps of a ``Config``, as plain values: ``model``, ``dataset``, ``loss``,
    ``external`` (the user's settings from files, dict and command line, :data:`LAUNCH_KEYS` left
    out: enough to rebuild the run) and ``final`` (every resolved key; values that are not plain
    become their ``str``)."""
    external = {k: v for k, v in config.external_config_dict.items() if k not in LAUNCH_KEYS}
    return {
        "model": config["model"], "dataset": config["dataset"], "loss": config["loss"],
        "external": _plain(external), "final": _plain(config.final_config_dict),
    }


def check_compatible(checkpoint: dict, config, path) -> None:
    """ValueError naming both sides unless ``checkpoint`` was written by a run of the same model,
    loss and dataset as ``config`` (and holds RecBole's entries, :data:`TRAINER_ENTRIES`)."""
    saved = checkpoint.get("config")
    if not isinstance(saved, dict) or "model" not in saved:
        raise ValueError(f"checkpoint {path} was not written by a recbole_losses trainer (no plain config)")
    missing = [k for k in TRAINER_ENTRIES if k not in checkpoint]
    if missing:
        raise ValueError(f"checkpoint {path} lacks {', '.join(missing)}: not a whole recbole_losses checkpoint")

    def describe(c):
        return f"model {c.get('model')} with loss {c.get('loss')} on dataset {c.get('dataset')}"

    current = {k: config[k] for k in ("model", "loss", "dataset")}
    if any(str(saved.get(k)) != str(v) for k, v in current.items()):
        raise ValueError(
            f"checkpoint {path} was written by a run of {describe(saved)}, but this run is "
            f"{describe(current)}: resume or load a checkpoint of the same model, loss and dataset"
        )


def data_fingerprint(dataset) -> dict:
    """What identifies the data a model was trained on, for the training split ``dataset`` (a
    RecBole dataset): the user and item token lists in id order (the token -> id maps) and a
    SHA-256 over the maps and the training (user id, item id) pairs in their order."""
    uid, iid = dataset.uid_field, dataset.iid_field
    users = [str(t) for t in dataset.field2id_token[uid]]
    items = [str(t) for t in dataset.field2id_token[iid]]
    digest = hashlib.sha256()
    for tokens in (users, items):
        digest.update("\x1f".join(tokens).encode() + b"\x1e")
    inter = dataset.inter_feat
    for field in (uid, iid):
        digest.update(np.ascontiguousarray(inter[field].cpu().numpy().astype(np.int64)).tobytes())
    return {"user_tokens": users, "item_tokens": items, "interactions": len(inter), "sha256": digest.hexdigest()}


def check_data(saved: dict | None, current: dict, path, data_path: str) -> None:
    """ValueError unless the data a checkpoint was trained on (``saved``, its ``data`` entry) is
    the data now loaded (``current``): same token -> id maps, same training interactions. A
    checkpoint without the entry (older files) gets a warning saying it cannot be checked."""
    if saved is None:
        warnings.warn(
            f"checkpoint {path} holds no fingerprint of its training data (written by an older "
            f"recbole_losses), so it cannot be checked against the data now loaded from {data_path}: "
            "make sure that data is unchanged (same rows in the same order)", UserWarning, stacklevel=3,
        )
        return
    if saved["sha256"] == current["sha256"]:
        return
    if saved["user_tokens"] != current["user_tokens"] or saved["item_tokens"] != current["item_tokens"]:
        what = "the user/item token -> id maps differ (rows reordered, added or removed, or other ids)"
    else:
        what = (f"the training interactions differ ({saved['interactions']} saved, "
                f"{current['interactions']} now: rows changed, or another split)")
    raise ValueError(
        f"checkpoint {path} does not match the data now loaded from {data_path}: {what}, so its "
        "weights would be applied to other users and items. Use the data it was trained on, or retrain"
    )


def get_rng_state(generator=None) -> dict:
    """The random states a training run draws from, as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": list(random.getstate()),
        "generator": None if generator is None else generator.get_state(),
    }


def set_rng_state(state: dict, generator=None) -> None:
    """Restore what :func:`get_rng_state` saved (the loader's generator into ``generator``)."""
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if generator is not None and state["generator"] is not None:
        generator.set_state(state["generator"].cpu())


def find_resume_point(config) -> str | None:
    """The newest resume point (``*.resume.pt``) in ``config['checkpoint_dir']`` written by a run of
    the same model, loss and dataset with the same settings (launch keys aside), or None: what
    ``resume_checkpoint: last`` resumes, so the same command run again continues where it stopped."""
    folder = config["checkpoint_dir"]
    if not os.path.isdir(folder):
        return None
    wanted = plain_config(config)
    candidates = sorted(
        (os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(RESUME_SUFFIX)),
        key=os.path.getmtime, reverse=True,
    )
    for path in candidates:
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("config") or {}
        except Exception:  # unreadable or foreign: not this run's
            continue
        if all(saved.get(k) == wanted[k] for k in ("model", "loss", "dataset", "external")):
            return path
    return None
