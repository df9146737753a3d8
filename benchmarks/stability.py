r"""Numerical stability over a long run: MF on Health (IR-Benchmark split), each loss at the
smallest temperature published for it, 200 epochs, published N = 1000, batch 1024.

Every loss value and every gradient of every optimiser step is checked for NaN/inf (a forward
hook on the loss, a step pre-hook on the optimiser); the script reports, per loss, the number of
steps, the non-finite counts, the largest |gradient| seen and the final test metrics.

Health is prepared from ``--source`` (the IR-Benchmark ``proc.zip`` of amazon2014-health, or its
unzipped folder) by :func:`recbole_losses.prepare.prepare` into a temporary folder: its
validation rule and seed (``--split_seed``), the released test split. Each run is built by
:func:`recbole_losses.quick_start.build_run`, as ``run_recbole_losses.py`` builds it. Nothing is
written into the repository.

    nice -n 15 python benchmarks/stability.py --source /path/to/amazon2014-health/proc.zip \
        --epochs 200 --losses SL PSL CW BSL SL@K AdvInfoNCE
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time

import torch

from recbole_losses import available_losses
from recbole_losses.prepare import DEFAULT_SEED, prepare
from recbole_losses.quick_start import build_run

# Smallest temperature published for each loss (SL@K paper Tables 11-14, any dataset/backbone),
# on the scale of the loss's default score function. Other losses run at their defaults.
SMALLEST = {
    "SL": {"sl_tau": 0.05},
    "PSL": {"psl_tau": 0.025},
    "CW": {"cw_tau": 0.025},  # CW's tau is PSL's (same scale, outside the activation)
    "BSL": {"bsl_tau1": 0.05, "bsl_tau2": 0.05},
    "SL@K": {"slatk_tau": 0.05, "slatk_tau_w": 0.5, "slatk_t_beta": 5},
    "AdvInfoNCE": {"advinfonce_tau": 0.1},
}
LEARNING_RATE = {"BPR": 1e-3}  # Health MF rows of the tables: 0.1 for every other loss


def run_loss(loss: str, data_root: str, epochs: int, neg_num: int, extra: dict, progress: str | None = None) -> dict:
    settings = SMALLEST.get(loss, {})
    _, (train_data, valid_data, test_data), model, trainer = build_run("MF", loss, "health", config_dict={
        "data_path": data_root, "benchmark_filename": ["train", "valid", "test"],
        "epochs": epochs, "eval_step": 0, "neg_num": neg_num, "learning_rate": LEARNING_RATE.get(loss, 0.1),
        "weight_decay": 0.0, "show_progress": False, "state": "WARNING", "checkpoint_dir": os.path.join(data_root, "saved"),
        **settings, **extra,
    })
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
    return {"loss": loss, "epochs": epochs, **settings, **stats, "params_finite": params_finite,
            "train_seconds": round(seconds, 1), "test": {k: float(v) for k, v in test.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True, help="amazon2014-health proc.zip (IR-Benchmark release) or its folder")
    parser.add_argument("--split_seed", type=int, default=DEFAULT_SEED, help="seed of prepare's validation draw")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--neg-num", type=int, default=1000)
    parser.add_argument("--losses", nargs="+", default=list(SMALLEST), help="registered losses")
    parser.add_argument("--out", default=None, help="append one JSON line per loss to this file")
    parser.add_argument("--progress", default=None, help="append one JSON line per epoch (counts so far) to this file")
    args = parser.parse_args()
    unknown = [loss for loss in args.losses if loss not in available_losses()]
    if unknown:
        parser.error(f"unknown losses {unknown}; valid choices: {available_losses()}")
    out = None if args.out is None else os.path.abspath(args.out)
    progress = None if args.progress is None else os.path.abspath(args.progress)
    with tempfile.TemporaryDirectory() as tmp:
        prepare("health", os.path.abspath(args.source), data_path=tmp, seed=args.split_seed)
        os.chdir(tmp)  # RecBole's log/ and log_tensorboard/ go here, not into the repository
        for loss in args.losses:
            result = run_loss(loss, tmp, args.epochs, args.neg_num, {}, progress)
            line = json.dumps(result)
            print(line, flush=True)
            if out:
                with open(out, "a") as f:
                    f.write(line + "\n")


if __name__ == "__main__":
    main()
