"""Bad input gets a clear error, and nothing is silently wrong: every case of docs/reliability.md
("Bad input") that is not already tested elsewhere (the doc names those tests)."""

import math
import warnings

import pytest
import torch
from recbole.data.interaction import Interaction

import recbole_losses
from recbole_losses import LOSSES, Config, build_loss
from recbole_losses.data.dataloader import check_trainable
from recbole_losses.data.sampler import TrainingItemSampler
from recbole_losses.quick_start import build_run

HEADER = "user_id:token\titem_id:token\n"


def rows(users=10, per_user=6, items=12):
    return "".join(f"u{u}\ti{(3 * u + k) % items}\n" for u in range(users) for k in range(per_user))


def write(root, name, files):
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for filename, text in files.items():
        (folder / filename).write_text(text)
    return root


def settings(root, **extra):
    return {"data_path": str(root), "epochs": 1, "neg_num": 8, "pos_num": 2, "train_batch_size": 16,
            "show_progress": False, "state": "ERROR", "topk": [5], "valid_metric": "NDCG@5",
            "checkpoint_dir": str(root / "saved"), **extra}


BENCH = {"benchmark_filename": ["train", "valid", "test"]}

# ---------------------------------------------------------------------------------------------
# Missing or malformed atomic files
# ---------------------------------------------------------------------------------------------

MALFORMED = [
    ("nointer", {"notes.txt": "x"}, {}, r"File .*nointer\.inter not exist"),
    ("notypes", {"notypes.inter": "user_id\titem_id\n" + rows()}, {},
     r"notypes\.inter: header 'user_id\\titem_id' must be name:type columns .*bad column\(s\): \['user_id', 'item_id'\]"),
    ("comma", {"comma.inter": HEADER.replace("\t", ",") + rows().replace("\t", ",")}, {},
     r"comma\.inter: header .* separated by field_separator '\\t'"),
    ("badtype", {"badtype.inter": "user_id:token\titem_id:int\n" + rows()}, {}, r"types one of \['token', 'token_seq', 'float', 'float_seq'\]"),
    ("wrongcols", {"wrongcols.inter": "uid:token\tiid:token\n" + rows()}, {},
     r"no \['user_id', 'item_id'\] column \(USER_ID_FIELD/ITEM_ID_FIELD\); the header has \['uid', 'iid'\]"),
    ("headeronly", {"headeronly.inter": HEADER}, {}, r"headeronly\.inter has a header but no interactions"),
    ("badfloat", {"badfloat.inter": "user_id:token\titem_id:token\trating:float\n" + rows().replace("\n", "\tabc\n")},
     {"load_col": {"inter": ["user_id", "item_id", "rating"]}}, r"Unable to convert column rating:float to type float64"),
    ("missingpart", {"missingpart.train.inter": HEADER + rows(), "missingpart.valid.inter": HEADER + rows()}, BENCH,
     r"File .*missingpart\.test\.inter not exist"),
    ("emptytrain", {"emptytrain.inter": HEADER + rows()},
     {"eval_args": {"split": {"RS": [0.0, 0.5, 0.5]}, "order": "RO", "group_by": "user", "mode": "full"}},
     r"the training split of dataset 'emptytrain' is empty: nothing to train on"),
]


@pytest.mark.parametrize("name,files,extra,message", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_atomic_files_are_named(workdir, name, files, extra, message):
    write(workdir, name, files)
    with pytest.raises(ValueError, match=message):
        build_run("MF", "SL", name, config_dict=settings(workdir, **extra))


def test_row_with_an_empty_item_id_is_dropped(workdir):
    """RecBole drops rows whose user or item id is empty (``_filter_nan_user_or_item``)."""
    write(workdir, "holes", {"holes.inter": HEADER + rows() + "u3\t\n"})
    _, (train, valid, test), _, _ = build_run("MF", "SL", "holes", config_dict=settings(workdir))
    assert sum(len(d._dataset) for d in (train, valid, test)) == 60


# ---------------------------------------------------------------------------------------------
# Users and items at the edges of the sampled batch mode
# ---------------------------------------------------------------------------------------------


def test_user_without_training_items_is_evaluated_not_sampled(workdir):
    """u99 appears only in test: it gets no training row (so no positive is ever sampled for it)
    and is evaluated with nothing masked."""
    write(workdir, "coldu", {"coldu.train.inter": HEADER + rows(), "coldu.valid.inter": HEADER + rows(10, 1),
                             "coldu.test.inter": HEADER + rows(10, 1) + "u99\ti5\n"})
    result = recbole_losses.run("MF", "SL", "coldu", config_dict=settings(workdir, **BENCH))
    assert 0.0 <= result["test_result"]["ndcg@5"] <= 1.0
    _, (train, _, test), _, _ = build_run("MF", "SL", "coldu", config_dict=settings(workdir, **BENCH))
    cold = int(test._dataset.token2id("user_id", "u99"))
    assert cold not in train._dataset.inter_feat["user_id"].tolist()
    assert int(train.item_sampler.degree[cold]) == 0
    with pytest.raises(ValueError, match=rf"users \[{cold}\] have no training items"):
        train.item_sampler.positives(torch.tensor([cold]), 2)


def test_user_with_every_item_fails_before_training(workdir):
    """RecBole's evaluation samplers refuse such a user first (full-sort mode); our training
    loader refuses it too, naming the user, for modes without those samplers."""
    write(workdir, "greedy", {"greedy.inter": HEADER + rows() + "".join(f"u0\ti{i}\n" for i in range(12))})
    with pytest.raises(ValueError, match=r"Some users have interacted with all items.*user_inter_num_interval"):
        build_run("MF", "SL", "greedy", config_dict=settings(workdir))
    write(workdir, "plain", {"plain.inter": HEADER + rows()})
    _, (train, _, _), _, _ = build_run("MF", "SL", "plain", config_dict=settings(workdir))
    data = train._dataset
    u0 = int(data.token2id("user_id", "u0"))
    everything = TrainingItemSampler(
        torch.cat([data.inter_feat["user_id"], torch.full((data.item_num - 1,), u0)]),
        torch.cat([data.inter_feat["item_id"], torch.arange(1, data.item_num)]), data.user_num, data.item_num)
    with pytest.raises(ValueError, match=r"users \['u0'\] \(1 in all\) interacted with every item in training"):
        check_trainable(data, everything)


def test_user_with_fewer_free_items_than_n_gets_them_with_replacement(workdir):
    """u0 has 10 of the 12 items in training: its N = 8 negatives are the 2 free items."""
    write(workdir, "almost", {"almost.train.inter": HEADER + rows() + "".join(f"u0\ti{i}\n" for i in range(10)),
                              "almost.valid.inter": HEADER + "u0\ti10\n", "almost.test.inter": HEADER + "u1\ti11\n"})
    _, (train, valid, _), _, trainer = build_run("MF", "SL", "almost", config_dict=settings(workdir, **BENCH))
    u0 = int(train._dataset.token2id("user_id", "u0"))
    free = {int(train._dataset.token2id("item_id", t)) for t in ("i10", "i11")}
    negatives = train.item_sampler.negatives(torch.full((5,), u0), 8)
    assert set(negatives.flatten().tolist()) == free
    trainer.fit(train, valid, saved=False)


def test_items_only_in_valid_or_test(workdir):
    """i50/i51 never occur in training: popularity counts them 0 (never a popularity negative),
    uniform negatives may draw them, and evaluation ranks them like any item."""
    write(workdir, "newitems", {"newitems.train.inter": HEADER + rows(), "newitems.valid.inter": HEADER + "u1\ti50\n",
                                "newitems.test.inter": HEADER + "u2\ti51\n" + rows(10, 1)})
    config = settings(workdir, **BENCH, neg_distribution="popularity")
    _, (train, valid, test), model, trainer = build_run("MF", "CW", "newitems", config_dict={**config, "cw_tau_plus": "pop"})
    new = [int(train._dataset.token2id("item_id", t)) for t in ("i50", "i51")]
    assert train.item_sampler.item_counts[new].tolist() == [0.0, 0.0]
    assert model.loss.item_prior[new].tolist() == [0.0, 0.0]
    users = train._dataset.inter_feat["user_id"]
    assert not torch.isin(train.item_sampler.negatives(users, 50), torch.tensor(new)).any()
    _, (uniform, _, _), _, _ = build_run("MF", "SL", "newitems", config_dict=settings(workdir, **BENCH))
    assert torch.isin(uniform.item_sampler.negatives(users, 50), torch.tensor(new)).any()
    trainer.fit(train, valid, saved=False)
    assert 0.0 <= trainer.evaluate(test, load_best_model=False)["ndcg@5"] <= 1.0


# ---------------------------------------------------------------------------------------------
# Non-finite scores, extreme temperatures and weights, empty batches
# ---------------------------------------------------------------------------------------------

NONFINITE = {"nan_pos": ("pos", math.nan), "nan_neg": ("neg", math.nan), "inf_pos": ("pos", math.inf),
             "inf_neg": ("neg", math.inf), "minus_inf_neg": ("neg", -math.inf), "nan_sampled": ("spos", math.nan)}


@pytest.mark.parametrize("case", sorted(NONFINITE))
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_non_finite_scores_give_a_nan_loss(name, case):
    """Never a finite value computed from NaN/inf scores (AdvInfoNCE at r_ui = +inf would give a
    finite loss with a NaN gradient): the loss is NaN, which the trainer stops on."""
    where, value = NONFINITE[case]
    scores = {"pos": torch.rand(3) - 0.5, "neg": torch.rand(3, 5) - 0.5, "spos": torch.rand(3, 2) - 0.5}
    scores[where].view(-1)[0] = value
    loss = build_loss(name)
    assert math.isnan(loss(scores["pos"], scores["neg"], sampled_pos_score=scores["spos"]).item())


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_trainer_stops_on_a_non_finite_loss_with_a_clear_error(workdir, value):
    write(workdir, "plain", {"plain.inter": HEADER + rows()})
    _, (train, valid, _), model, trainer = build_run("MF", "BPR", "plain", config_dict=settings(workdir, score="dot"))
    with torch.no_grad():
        model.net.user_embedding.weight[:] = value
    with pytest.raises(ValueError, match=r"training loss is (nan|inf): non-finite scores or parameters .* lower learning_rate"):
        trainer.fit(train, valid, saved=False)


EXTREME = [
    ("SL", {"tau": 1e-3}), ("PSL", {"tau": 1e-3}), ("PSL", {"tau": 1e-3, "activation": "tanh"}),
    ("CW", {"tau": 1e-3}), ("CW", {"tau": 1e-3, "beta": 100.0, "tau_plus": 0.99}),
    ("BSL", {"tau1": 1e-3, "tau2": 1e-3, "positives": "sampled"}), ("BSL", {"tau1": 1e-3, "tau2": 1.0}),
    ("SL@K", {"tau": 1e-3, "tau_w": 1e-3}), ("AdvInfoNCE", {"tau": 1e-3, "neg_weight": 1e6}),
    ("CCL", {"neg_weight": 1e6, "margin": -1.0}), ("DrRL", {"gamma": 1.0 + 1e-6}), ("DrRL", {"gamma": 1e6, "c": 1e3}),
    ("LLPAUC", {"alpha": 1e-3, "beta": 1e-3, "kappa": 1e3}),
]


@pytest.mark.parametrize("name,params", EXTREME, ids=[f"{n}-{p}" for n, p in EXTREME])
def test_extreme_temperatures_and_weights_stay_finite(name, params):
    """Cosine-range scores, ties and ±1 extremes, float32: finite loss and gradient."""
    g = torch.Generator().manual_seed(0)
    pos = torch.cat([torch.tensor([1.0, -1.0, 0.0]), torch.rand(61, generator=g) * 2 - 1]).requires_grad_()
    neg = torch.cat([torch.tensor([[-1.0] * 50, [1.0] * 50, [0.0] * 50]), torch.rand(61, 50, generator=g) * 2 - 1]).requires_grad_()
    spos = (torch.rand(64, 4, generator=g) * 2 - 1).requires_grad_()
    loss = build_loss(name, **params)
    out = loss(pos, neg, sampled_pos_score=spos)
    out.backward()
    assert torch.isfinite(out)
    for t in (pos, neg, spos):
        assert t.grad is None or torch.isfinite(t.grad).all()


def test_empty_batch_through_the_sampler_and_the_model(workdir):
    """The sampler and the composed model take a batch of 0 rows (the loss alone: see
    tests/test_losses_contract.py::test_empty_batch_is_a_connected_zero)."""
    write(workdir, "plain", {"plain.inter": HEADER + rows()})
    config, (train, _, _), model, _ = build_run("MF", "CW", "plain", config_dict=settings(workdir))
    users = torch.zeros(0, dtype=torch.long)
    neg, pos = train.item_sampler.negatives(users, 8), train.item_sampler.positives(users, 2)
    assert neg.shape == (0, 8) and pos.shape == (0, 2)
    batch = Interaction({"user_id": users, "item_id": users, "neg_item_id": neg, "sampled_pos_item_id": pos})
    value = model.calculate_loss(batch)
    value.backward()
    assert value.item() == 0.0


# ---------------------------------------------------------------------------------------------
# Configuration: loss name case, another loss's keys
# ---------------------------------------------------------------------------------------------


def test_loss_name_in_any_case_builds_the_same_loss():
    """(Config: tests/test_config.py::test_loss_from_yaml_and_any_case.)"""
    assert type(build_loss("cw")) is type(build_loss("CW")) is LOSSES["CW"]
    assert type(build_loss("slatk")) is LOSSES["SL@K"]
    with pytest.raises(ValueError, match=r"unknown loss 'cww'; valid choices"):
        build_loss("cww")


def test_another_losses_key_warns_that_it_is_ignored(workdir):
    with pytest.warns(UserWarning, match=r"config key 'cw_tau' belongs to loss CW, but the configured loss is SL: it is ignored"):
        Config("MF", "ml-100k", config_dict={"loss": "SL", "cw_tau": 0.2})
    with pytest.warns(UserWarning, match=r"'psl_tau' belongs to loss PSL, but the configured loss is None"):
        Config("BPR", "ml-100k", config_dict={"psl_tau": 0.2})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Config("MF", "ml-100k", config_dict={"loss": "CW", "cw_tau": 0.2})  # its own key: no warning


@pytest.mark.parametrize("reproducibility", [True, False])
def test_determinism_turns_on_deterministic_algorithms_on_cpu_without_the_nan_fill(reproducibility):
    from recbole_losses.runner import init_determinism

    before = torch.are_deterministic_algorithms_enabled(), torch.utils.deterministic.fill_uninitialized_memory
    try:
        init_determinism({"reproducibility": reproducibility, "device": torch.device("cpu")})
        assert torch.are_deterministic_algorithms_enabled() is reproducibility
        assert torch.utils.deterministic.fill_uninitialized_memory is False  # torch.empty is not NaN-filled
        init_determinism({"reproducibility": True, "device": torch.device("cuda")})
        assert torch.are_deterministic_algorithms_enabled() is False  # RecBole's cuDNN setting only
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.utils.deterministic.fill_uninitialized_memory = before[1]
