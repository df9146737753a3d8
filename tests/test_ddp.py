"""RecBole's multi-process mode (``nproc``/``world_size``/``ip``/``port``), 2 processes over gloo
on CPU, with the sampled batch mode and every stateful loss (conftest.STATEFUL).

One spawn of 2 ranks runs everything the ranks must do (spawning costs ~10 s of imports):
- a full run per loss (8 epochs, fit + best-checkpoint test): the ranks end with identical parameters and
  loss state, each saw a disjoint half of the training rows, and the reduced test metrics agree
  with a single-process run within TRAIN_TOLERANCE;
- two fixed batches split across the ranks (SGD, one step each): parameters and per-user state
  equal a single process stepping on the whole batches, to float rounding;
- RecBole's metric reduction: the DDP test metrics of the final weights equal a single-process
  evaluation of the same weights.
"""

import datetime
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from recbole.data.interaction import Interaction

from recbole_losses.data.dataloader import SAMPLED_POS_ITEM_ID
from recbole_losses.quick_start import build_run
from recbole_losses.data.toy import write_toy_dataset
from conftest import STATE, STATEFUL

LOSSES = ["SL", *STATEFUL]
EPOCHS = 8
LEARNING_RATE = {"LLPAUC": 0.03}  # at 0.1 LLPAUC's variables do not settle in 8 toy epochs
# Largest |DDP - single| of test NDCG@5 allowed after the full toy run, per loss. The two runs
# differ only in their random draws (negatives, sampled positives, row order: 2 ranks have 2 RNG
# streams), like two single-process runs with different seeds; the metric reduction itself is
# exact (test_metric_reduction_is_exact). The difference of two such runs has standard deviation
# sqrt(2)·sd, with sd measured over single-process seeds 2020-2024 on this configuration
# (benchmarks/ddp_seed_spread.py; docs/reliability.md, "Distributed"): tolerance = 3·sqrt(2)·sd,
# rounded up. The DDP run must also beat the untrained model (NDCG@5 0.0215) by more than its
# tolerance, except LLPAUC, which barely learns on this toy set in 8 epochs (singles 0.06-0.11).
TRAIN_TOLERANCE = {"SL": 0.21, "SL@K": 0.23, "DrRL": 0.23, "LLPAUC": 0.09, "AdvInfoNCE": 0.20, "SogCLR": 0.24,
                   "SogSL@K": 0.22, "SONG@K": 0.24, "Talos": 0.22, "GuidedRec": 0.21}


def test_every_tested_loss_has_a_measured_tolerance():
    missing = sorted(set(LOSSES) - set(TRAIN_TOLERANCE))
    assert not missing, f"measure TRAIN_TOLERANCE for {missing} with benchmarks/ddp_seed_spread.py"


def _config(root, loss, **extra):
    return {
        "data_path": str(root), "epochs": EPOCHS, "neg_num": 8, "pos_num": 2, "train_batch_size": 128,
        "eval_step": 2, "show_progress": False, "learning_rate": LEARNING_RATE.get(loss, 0.1), "state": "WARNING",
        "checkpoint_dir": str(root / "saved"), "topk": [5], "valid_metric": "NDCG@5",
        "use_gpu": False, **STATE.get(loss, {}), **extra,
    }


def _rank_config(root, loss, rank, **extra):
    return _config(root, loss, nproc=2, world_size=2, local_rank=rank, **extra)


# On a loaded 2-core machine a rank can fall minutes behind the other at a collective; a hang
# still ends, as an error, instead of holding the suite.
COLLECTIVE_TIMEOUT = datetime.timedelta(seconds=900)


class _Batches(list):
    """Fixed training batches in place of a dataloader (what RecBole's loop reads of one)."""

    shuffle = False


def fixed_batches(train_data, config):
    """Two fixed batches of 8 rows with 8 distinct users each (so that SL@K's "one row wins" is
    the same everywhere), their negatives and sampled positives drawn from a fixed generator."""
    g = torch.Generator().manual_seed(7)
    inter = train_data._dataset.inter_feat
    uid, iid = config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]
    users = torch.unique(inter[uid])
    batches = []
    for b in range(2):
        chosen = users[torch.randperm(users.numel(), generator=g)[:8]]
        rows = torch.stack([torch.nonzero(inter[uid] == u).flatten()[b] for u in chosen])
        batches.append(Interaction({
            uid: inter[uid][rows], iid: inter[iid][rows],
            config["NEG_PREFIX"] + iid: train_data.item_sampler.negatives(chosen, 8, generator=g),
            SAMPLED_POS_ITEM_ID: train_data.item_sampler.positives(chosen, 2, generator=g),
        }))
    return batches


def _state(model):
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _worker(rank, root, rendezvous):
    """Both ranks meet through a file (no port to race for) and join the group before building
    the runs, which reuse it; the group is torn down after a barrier."""
    import torch.distributed as dist

    os.chdir(root)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=2,
                            timeout=COLLECTIVE_TIMEOUT)
    try:
        out = {}
        for loss in LOSSES:
            config, (train, valid, test), model, trainer = build_run("MF", loss, "toy", config_dict=_rank_config(root, loss, rank))
            train.sampler.set_epoch(0)
            rows = torch.tensor(list(train.sampler))
            inter = train._dataset.inter_feat
            seen = torch.stack([inter[config["USER_ID_FIELD"]][rows], inter[config["ITEM_ID_FIELD"]][rows]], 1)
            trainer.fit(train, valid, saved=True)
            final = _state(model)
            test_result = trainer.evaluate(test, load_best_model=False)
            out[loss] = {"rows": seen, "state": final, "test": dict(test_result),
                         "best_test": dict(trainer.evaluate(test, load_best_model=True))}

            config, (train, _, _), model, trainer = build_run(
                "MF", loss, "toy", config_dict=_rank_config(root, loss, rank, learner="sgd"))
            for epoch, batch in enumerate(fixed_batches(train, config)):
                trainer._train_epoch(_Batches([batch[torch.arange(rank, len(batch), 2)]]), epoch)
            out[loss]["stepped"] = _state(model)
        torch.save(out, os.path.join(root, f"rank{rank}.pt"))
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    root = write_toy_dataset(tmp_path_factory.mktemp("ddp"))
    rendezvous = tmp_path_factory.mktemp("rendezvous") / "store"
    mp.spawn(_worker, args=(root, str(rendezvous)), nprocs=2, join=True)
    return root, [torch.load(root / f"rank{r}.pt") for r in range(2)]


def _single(root, loss, **extra):
    return build_run("MF", loss, "toy", config_dict=_config(root, loss, **extra))


@pytest.mark.parametrize("loss", LOSSES)
def test_ranks_hold_identical_model_and_loss_state(ranks, loss):
    _, (r0, r1) = ranks
    assert r0[loss]["state"].keys() == r1[loss]["state"].keys()
    for key, value in r0[loss]["state"].items():
        assert torch.equal(value, r1[loss]["state"][key]), key
    assert r0[loss]["test"] == r1[loss]["test"]


def test_ranks_see_disjoint_halves_of_the_training_rows(workdir, ranks):
    root, (r0, r1) = ranks
    _, (train, _, _), _, _ = _single(root, "SL")
    inter = train._dataset.inter_feat
    everything = sorted(map(tuple, torch.stack([inter["user_id"], inter["item_id"]], 1).tolist()))
    a, b = (sorted(map(tuple, r["SL"]["rows"].tolist())) for r in (r0, r1))
    assert len(a) == len(b) == len(everything) // 2
    assert sorted(a + b) == everything


@pytest.mark.parametrize("loss", LOSSES)
def test_split_batches_step_like_one_process(workdir, ranks, loss):
    """Per-rank half batches with averaged gradients, and per-user state combined across ranks,
    give the single-process step on the whole batch."""
    root, (r0, _) = ranks
    config, (train, _, _), model, trainer = _single(root, loss, learner="sgd")
    initial = _state(model)
    for epoch, batch in enumerate(fixed_batches(train, config)):
        trainer._train_epoch(_Batches([batch]), epoch)
    single = _state(model)
    moved = [k for k in single if not torch.equal(single[k], initial[k])]
    assert any(k.startswith("loss.") for k in moved) or loss == "SL"
    for key, value in single.items():
        torch.testing.assert_close(r0[loss]["stepped"][key], value, rtol=1e-5, atol=1e-6, msg=key)


@pytest.mark.parametrize("loss", LOSSES)
def test_metric_reduction_is_exact(workdir, ranks, loss):
    """RecBole reduces per-rank metrics weighted by batches; with equal shards (40 test users,
    20 a rank) that is the single-process mean: the DDP metrics of the final weights equal a
    single-process evaluation of the same weights (6 decimals, as reported)."""
    root, (r0, _) = ranks
    _, (_, _, test), model, trainer = _single(root, loss)
    model.load_state_dict(r0[loss]["state"])
    single = trainer.evaluate(test, load_best_model=False)
    for key, value in single.items():
        assert abs(r0[loss]["test"][key] - float(value)) <= 2e-6, key


@pytest.mark.parametrize("loss", LOSSES)
def test_metrics_agree_with_a_single_process_run(workdir, ranks, loss):
    root, (r0, _) = ranks
    _, (train, valid, test), _, trainer = _single(root, loss)
    untrained = float(trainer.evaluate(test, load_best_model=False)["ndcg@5"])
    trainer.fit(train, valid, saved=True)
    single = float(trainer.evaluate(test, load_best_model=True)["ndcg@5"])
    ddp = r0[loss]["best_test"]["ndcg@5"]
    assert abs(ddp - single) <= TRAIN_TOLERANCE[loss]
    if loss != "LLPAUC":
        assert ddp - untrained > TRAIN_TOLERANCE[loss]


def test_config_starts_no_process_group_the_quick_start_does(workdir):
    """Building a rank's Config resolves its settings only; the process group is joined by
    recbole_losses.distributed.init_process_group (called by the quick start before any data)."""
    import torch.distributed as dist

    from recbole_losses import Config, distributed

    root = write_toy_dataset(workdir)
    for attempt in range(5):  # a free port can be taken by another program before it is bound again
        with socket.socket() as s:
            s.bind(("localhost", 0))
            port = s.getsockname()[1]
        settings = {**_config(root, "SL"), "loss": "SL", "local_rank": 0, "nproc": 1, "world_size": 1, "port": str(port)}
        config = Config("MF", "toy", config_dict=settings)
        assert not dist.is_initialized()
        assert config["backend"] == "gloo" and config["device"].type == "cpu" and not config["single_spec"]
        try:
            distributed.init_process_group(config)
            assert dist.is_initialized() and dist.get_world_size() == 1
            break
        except ValueError as err:
            assert f"port {port} on localhost is in use" in str(err)
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()
    else:
        pytest.fail("no free port in 5 attempts")


def test_run_spawns_the_ranks_and_resumes_in_multi_process_mode(workdir):
    """recbole_losses.run with nproc = 2 spawns the ranks itself (distributed.spawn) and returns
    rank 0's result; resuming its checkpoint (resume_checkpoint) continues in multi-process mode,
    saving into the resumed run's own checkpoint_dir, with each rank's own random streams: 2 epochs
    + 1 resumed end bit for bit where 3 uninterrupted epochs end."""
    import recbole_losses

    root = write_toy_dataset(workdir)
    # No port: the ranks of one machine meet through a file (distributed.spawn), nothing to race for.
    settings = {**_config(root, "DrRL", eval_step=0), "nproc": 2}  # eval_step 0: saves every epoch

    def run(folder, epochs, **extra):
        result = recbole_losses.run("MF", "DrRL", "toy", config_dict={
            **settings, "epochs": epochs, "checkpoint_dir": str(root / folder), **extra})
        (saved,) = (root / folder).glob("*.pth")  # the best checkpoint (beside its .resume.pt)
        return result, saved

    full, full_file = run("full", 3)
    first, first_file = run("first", 2)
    assert len(full["train_epoch_seconds"]) == 3 and len(first["train_epoch_seconds"]) == 2
    original = first_file.read_bytes()
    resumed, resumed_file = run("resumed", 3, resume_checkpoint=str(first_file))
    assert len(resumed["train_epoch_seconds"]) == 1  # epoch 2 only
    assert first_file.read_bytes() == original
    assert resumed["test_result"] == full["test_result"]
    end, expected = torch.load(resumed_file)["state_dict"], torch.load(full_file)["state_dict"]
    for key, value in expected.items():
        assert torch.equal(end[key], value), key


def test_each_rank_runs_its_share_of_the_cores(monkeypatch):
    """nproc ranks of torch's full thread count each oversubscribe the cores (OpenMP's spinning
    threads then wait on descheduled ones): a rank runs cores // nproc threads unless the user set
    OMP_NUM_THREADS, as torchrun does."""
    from recbole_losses import distributed

    assert distributed.rank_threads(16, 2, {}) == 8
    assert distributed.rank_threads(2, 2, {}) == 1
    assert distributed.rank_threads(2, 4, {}) == 1
    assert distributed.rank_threads(16, 2, {"OMP_NUM_THREADS": "3"}) == 16  # the user's own choice
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    results = []

    class Queue:
        put = results.append

    try:
        torch.set_num_threads(4)
        distributed._run_rank(0, lambda config: (config["local_rank"], torch.get_num_threads()), (),
                              {"nproc": 2, "offset": 0, "world_size": 2}, Queue())
    finally:
        torch.set_num_threads(before)
    assert results == [(0, 2)]
