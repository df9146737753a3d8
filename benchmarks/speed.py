"""Training speed, sampling share, peak memory and full-sort evaluation time, in one run.

    python benchmarks/speed.py [--datasets ml-100k health gowalla] [--models MF LightGCN]
                               [--steps 20] [--negs 1 64 256 1000] [--losses SL PSL CW]
                               [--device cpu|cuda] [--profile]

For every dataset × backbone it measures, in this one process:

- ``RecBole BPR N=1``: the stock RecBole model (BPR for MF, LightGCN) with RecBole's own pairwise
  sampling, one negative per positive, ``train_batch_size`` 1024;
- ``RecBole pairwise N=1000``: the same with ``sample_num`` 1000 and ``train_batch_size``
  1024·1000 rows, so a step holds the same 1024 positives (RecBole repeats every row N times);
- ``<loss> N=n``: our sampled batch mode, 1024 positive rows with [B, n] negatives and
  [B, 4] sampled positives, for every loss and n; the last loss at the largest n once more with
  RecBole's ``worker: 1`` (batches, sampling included, prepared in a DataLoader worker process).

Per cell: ``--steps`` training steps are timed after two warm-up steps (RecBole's own
``Trainer._train_epoch`` on the first batches of the epoch: collation and sampling, forward,
backward, optimiser step); seconds per epoch = batches per epoch × the mean step time; rows/s =
positive rows per second; ``sampling`` = the share of the step spent drawing negatives and
positives (our sampler, or RecBole's ``_neg_sampling``), ``data wait`` = the share the training
loop waited for its next batch (collation and sampling in the loop's own process; with
``worker=1``, RecBole's DataLoader worker process, what remains after overlap); peak = the process's peak resident
memory during the cell (``VmHWM``, reset per cell through ``/proc/self/clear_refs``; on CUDA the
peak allocated device memory); eval = one full-sort evaluation of the validation split (history
masked), for the stock model and for the first loss at the largest n. Ratios are against
RecBole's pairwise mode at N = 1000 (rows/s) and against SL at the same n (step time).

Health and Gowalla must be prepared first (``python -m recbole_losses.prepare``, see
``docs/datasets.md``; pass the same ``--data_path``); ml-100k ships with RecBole.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import tempfile
import time

import torch

import recbole_losses  # noqa: F401  (compatibility layer)
from recbole.data import create_dataset
from recbole_losses.config import Config
from recbole_losses.quick_start import build_run

BATCH = 1024


class FirstBatches:
    """The first ``n`` batches of a RecBole train loader, looking like the loader to the trainer;
    ``wait`` accumulates the seconds the training loop waited for them."""

    def __init__(self, loader, n):
        self.loader, self.n, self.wait = loader, n, 0.0
        self.shuffle = loader.shuffle

    def __iter__(self):
        batches = iter(self.loader)
        for _ in range(self.n):
            start = time.perf_counter()
            batch = next(batches, None)
            self.wait += time.perf_counter() - start
            if batch is None:
                return
            yield batch

    def __len__(self):
        return self.n


class Stopwatch:
    """Wraps ``obj.name`` so the seconds spent in it accumulate in ``self.seconds``."""

    def __init__(self, obj, name):
        self.seconds, inner = 0.0, getattr(obj, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        setattr(obj, name, timed)


def reset_peak_memory(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # resets VmHWM (Linux >= 4.0)
    except OSError:
        pass


def peak_memory_mib(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return math.nan


def pairwise(n):
    """RecBole's own pairwise sampling with n uniform negatives per positive."""
    return {"distribution": "uniform", "sample_num": n, "alpha": 1.0, "dynamic": False, "candidate_num": 0}


def cells(losses, negs):
    yield "RecBole BPR N=1", None, {"train_neg_sample_args": pairwise(1)}
    yield "RecBole pairwise N=1000", None, {
        "train_neg_sample_args": pairwise(1000),
        "train_batch_size": BATCH * 1000,
    }
    for loss in losses:
        for n in negs:
            yield f"{loss} N={n}", loss, {"neg_num": n}
    yield f"{losses[-1]} N={negs[-1]}, worker=1", losses[-1], {"neg_num": negs[-1], "worker": 1}


def measure(model, loss, dataset_name, data, overrides, steps, device, eval_now, profile, data_path):
    config_dict = {
        **({"data_path": data_path} if data_path else {}),
        "train_batch_size": BATCH,
        "show_progress": False,
        "state": "ERROR",
        "use_gpu": device.type == "cuda",
        **overrides,
    }
    config, (train, valid, _), recommender, trainer = build_run(
        model, loss, dataset_name, config_dict=config_dict, data=copy.deepcopy(data)  # build() changes it in place
    )
    # Sampling: RecBole's pairwise negative sampling, or our sampler's negatives and positives.
    # Every cell holds BATCH positive rows a step (RecBole's pairwise loader: batch_size // N).
    if loss is None:
        watches = [Stopwatch(train, "_neg_sampling")]
    else:
        watches = [Stopwatch(train.item_sampler, "negatives"), Stopwatch(train.item_sampler, "positives")]
    trainer._train_epoch(FirstBatches(train, 2), 0)  # warm-up
    for watch in watches:
        watch.seconds = 0.0
    reset_peak_memory(device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    context = profiler(profile)
    start = time.perf_counter()
    batches = FirstBatches(train, steps)
    with context as prof:
        trainer._train_epoch(batches, 0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    step = (time.perf_counter() - start) / steps
    sampled = sum(watch.seconds for watch in watches)
    row = {
        "epoch_s": step * len(train),
        "step_ms": step * 1e3,
        "rows_per_s": BATCH / step,
        "sampling": math.nan if overrides.get("worker") else sampled / steps / step,  # not seen in a worker
        "data_wait": batches.wait / steps / step,
        "peak_mib": peak_memory_mib(device),
        "eval_s": math.nan,
    }
    if eval_now:
        start = time.perf_counter()
        trainer.evaluate(valid, load_best_model=False)
        row["eval_s"] = time.perf_counter() - start
    if prof is not None:
        print(f"\n### profile: {model} {loss or 'stock'} {dataset_name} {overrides}\n", file=sys.stderr)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15), file=sys.stderr)
    return row


def profiler(enabled):
    if not enabled:
        from contextlib import nullcontext

        return nullcontext()
    return torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])


def fmt(value, spec):
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def percent(share):
    return "—" if math.isnan(share) else f"{100 * share:.1f}%"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "health", "gowalla"])
    parser.add_argument("--models", nargs="+", default=["MF", "LightGCN"])
    parser.add_argument("--losses", nargs="+", default=["SL", "PSL", "CW"])
    parser.add_argument("--negs", nargs="+", type=int, default=[1, 64, 256, 1000])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--data_path", default=None, help="where the prepared datasets are (RecBole's data_path)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--profile", action="store_true", help="print a torch.profiler table per cell to stderr")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    data_path = os.path.abspath(args.data_path) if args.data_path else None
    os.chdir(tempfile.mkdtemp(prefix="recbole-losses-speed-"))  # RecBole's log/ and saved/
    print(f"device: {device} ({torch.get_num_threads()} CPU threads), torch {torch.__version__}, "
          f"{args.steps} timed steps of {BATCH} positive rows per cell\n")
    header = ("| dataset | model | mode | s/epoch | ms/step | rows/s | × pairwise@1000 | × SL same N "
              "| sampling | data wait | peak MiB | eval s |")
    print(header)
    print("| --- | --- | --- |" + " ---: |" * 9)
    for dataset_name in args.datasets:
        base = {"state": "ERROR", **({"data_path": data_path} if data_path else {})}
        data = create_dataset(Config("BPR", dataset_name, config_dict=base))
        for model in args.models:
            rows, last_loss_cell = {}, f"{args.losses[0]} N={max(args.negs)}"
            for label, loss, overrides in cells(args.losses, args.negs):
                eval_now = label in ("RecBole BPR N=1", last_loss_cell)
                rows[label] = row = measure(model, loss, dataset_name, data, overrides, args.steps, device, eval_now, args.profile, data_path)
                pairwise = rows.get("RecBole pairwise N=1000")
                n = overrides.get("neg_num")
                sl = rows.get(f"SL N={n}") if n is not None and label != f"SL N={n}" else None
                print(
                    f"| {dataset_name} | {model} | {label} | {fmt(row['epoch_s'], '.1f')} | {fmt(row['step_ms'], '.1f')} "
                    f"| {fmt(row['rows_per_s'], ',.0f')} "
                    f"| {fmt(row['rows_per_s'] / pairwise['rows_per_s'] if pairwise else None, '.1f')} "
                    f"| {fmt(row['step_ms'] / sl['step_ms'] if sl else None, '.2f')} "
                    f"| {percent(row['sampling'])} | {percent(row['data_wait'])} "
                    f"| {fmt(row['peak_mib'], ',.0f')} | {fmt(row['eval_s'], '.2f')} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
