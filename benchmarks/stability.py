r"""Numerical stability over a long run: MF on Health (IR-Benchmark split), each loss at the
smallest temperature published for it, 200 epochs, published N = 1000, batch 1024.

Every loss value and every gradient of every optimiser step is checked for NaN/inf (a forward
hook on the loss, a step pre-hook on the optimiser); the script reports, per loss, the number of
steps, the non-finite counts, the largest |gradient| seen and the final test metrics.

Health is read from ``/work/shared/datasets/amazon2014-health/proc.zip`` (or ``--zip``) and
written as RecBole benchmark atomic files in a temporary folder: ``train``/``valid`` are a seeded
random 90 % / 10 % per user of ``train.tsv`` (the papers' validation protocol), ``test`` is
``test.tsv``. Nothing is written into the repository.

    nice -n 15 python benchmarks/stability.py --epochs 200 --losses SL PSL CW BSL SL@K AdvInfoNCE
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import tempfile
import time
import zipfile

import numpy as np
import torch

import recbole_losses  # noqa: F401  (compatibility layer)
from recbole.data import create_dataset
from recbole.utils import init_seed

from recbole_losses.config import Config
from recbole_losses.data.dataloader import data_preparation
from recbole_losses.trainer import get_trainer

# Smallest temperature published for each loss (SL@K paper Tables 11-14, any dataset/backbone;
# /work/shared/research/losses.md §3), on the scale of the loss's default score function.
SMALLEST = {
    "SL": {"sl_tau": 0.05},
    "PSL": {"psl_tau": 0.025},
    "CW": {"cw_tau": 0.025},  # CW's tau is PSL's (same scale, outside the activation)
    "BSL": {"bsl_tau1": 0.05, "bsl_tau2": 0.05},
    "SL@K": {"slatk_tau": 0.05, "slatk_tau_w": 0.5, "slatk_t_beta": 5},
    "AdvInfoNCE": {"advinfonce_tau": 0.1},
    "LLPAUC": {},
    "DrRL": {},
    "CCL": {},
    "BPR": {},
}
LEARNING_RATE = {"BPR": 1e-3}  # Health MF rows of the tables: 0.1 for every other loss


def write_health(zip_path: str, folder: str, seed: int = 2020) -> None:
    with zipfile.ZipFile(zip_path) as z:
        train = np.loadtxt(io.BytesIO(z.read("train.tsv")), dtype=np.int64, skiprows=1, delimiter="\t")
        test = np.loadtxt(io.BytesIO(z.read("test.tsv")), dtype=np.int64, skiprows=1, delimiter="\t")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    train = train[order][np.argsort(train[order][:, 0], kind="stable")]  # shuffled within user
    starts = np.r_[0, np.flatnonzero(np.diff(train[:, 0])) + 1]
    lengths = np.diff(np.r_[starts, len(train)])
    rank = np.arange(len(train)) - np.repeat(starts, lengths)
    valid_mask = rank < np.repeat(np.floor(0.1 * lengths).astype(np.int64), lengths)
    os.makedirs(os.path.join(folder, "health"), exist_ok=True)
    for part, rows in (("train", train[~valid_mask]), ("valid", train[valid_mask]), ("test", test)):
        with open(os.path.join(folder, "health", f"health.{part}.inter"), "w") as f:
            f.write("user_id:token\titem_id:token\n")
            f.writelines(f"u{u}\ti{i}\n" for u, i in rows)


def run_loss(loss: str, data_root: str, epochs: int, neg_num: int, extra: dict, progress: str | None = None) -> dict:
    config = Config("MF", "health", None, {
        "loss": loss, "data_path": data_root, "benchmark_filename": ["train", "valid", "test"],
        "epochs": epochs, "eval_step": 0, "neg_num": neg_num, "learning_rate": LEARNING_RATE.get(loss, 0.1),
        "weight_decay": 0.0, "show_progress": False, "state": "WARNING", "checkpoint_dir": os.path.join(data_root, "saved"),
        **SMALLEST[loss], **extra,
    })
    init_seed(config["seed"], config["reproducibility"])
    train_data, valid_data, test_data = data_preparation(config, create_dataset(config))
    init_seed(config["seed"], config["reproducibility"])
    model = config.model_class(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config)(config, model)
    stats = {"steps": 0, "nonfinite_loss": 0, "nonfinite_grad_steps": 0, "max_abs_grad": 0.0,
             "min_loss": math.inf, "max_loss": -math.inf}

    def check_loss(_module, _args, output):
        value = output.detach()
        if not torch.isfinite(value).all():
            stats["nonfinite_loss"] += 1
        else:
            stats["min_loss"] = min(stats["min_loss"], float(value))
            stats["max_loss"] = max(stats["max_loss"], float(value))

    def check_grads(optimizer, _args, _kwargs):
        stats["steps"] += 1
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        finite = all(bool(torch.isfinite(g).all()) for g in grads)
        if not finite:
            stats["nonfinite_grad_steps"] += 1
        elif grads:
            stats["max_abs_grad"] = max(stats["max_abs_grad"], max(float(g.abs().max()) for g in grads))

    model.loss.register_forward_hook(check_loss)
    trainer.optimizer.register_step_pre_hook(check_grads)
    start = time.perf_counter()
    callback = None
    if progress:
        def callback(epoch, _score):  # one line per epoch: the counts so far
            with open(progress, "a") as f:
                f.write(json.dumps({"loss": loss, "epoch": epoch, **stats}) + "\n")
        trainer.eval_step = 1  # fit calls callback_fn only after a validation
        trainer._valid_epoch = lambda *_args, **_kwargs: (0.0, {})
    trainer.fit(train_data, valid_data if progress else None, saved=False, verbose=False, callback_fn=callback)
    seconds = time.perf_counter() - start
    params_finite = all(bool(torch.isfinite(p).all()) for p in model.parameters())
    test = trainer.evaluate(test_data, load_best_model=False)
    return {"loss": loss, "epochs": epochs, **SMALLEST[loss], **stats, "params_finite": params_finite,
            "train_seconds": round(seconds, 1), "test": {k: float(v) for k, v in test.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zip", default="/work/shared/datasets/amazon2014-health/proc.zip")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--neg-num", type=int, default=1000)
    parser.add_argument("--losses", nargs="+", default=["SL", "PSL", "CW", "BSL", "SL@K", "AdvInfoNCE"])
    parser.add_argument("--out", default=None, help="append one JSON line per loss to this file")
    parser.add_argument("--progress", default=None, help="append one JSON line per epoch (counts so far) to this file")
    args = parser.parse_args()
    unknown = [loss for loss in args.losses if loss not in SMALLEST]
    if unknown:
        parser.error(f"unknown losses {unknown}; valid choices: {list(SMALLEST)}")
    with tempfile.TemporaryDirectory() as tmp:
        write_health(args.zip, tmp)
        os.chdir(tmp)  # RecBole's log/ and log_tensorboard/ go here, not into the repository
        for loss in args.losses:
            result = run_loss(loss, tmp, args.epochs, args.neg_num, {}, args.progress)
            line = json.dumps(result)
            print(line, flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(line + "\n")


if __name__ == "__main__":
    main()
