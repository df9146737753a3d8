"""Inputs checked by their class: every setting by one table of checks, whichever route it takes
(command line, YAML, config_dict, preset, checkpoint, params file); settings that depend on the
data checked against the loaded data before the first step; the multi-process and sampling keys
checked together; one rule for the tensors a loss is handed. Every error is one line."""

import math
import os
import warnings

import pytest
import torch
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import recbole_losses
from recbole_losses import Config, available_losses, available_models, build_loss
from recbole_losses.checkpoint import save_checkpoint
from recbole_losses.cli import main
from recbole_losses.config_checks import SPECS, check_value, loss_rules, model_rules, rules
from recbole_losses.data.dataloader import check_step_memory
from recbole_losses.losses import LOSSES
from recbole_losses.losses._checks import recorded_rules
from recbole_losses.models import model_config_checks
from recbole_losses.tuning import SpaceError, TuneSettings
from recbole_losses.tuning.space import read_params_file
from recbole_losses.tuning.study import check_space

FAST = ["--epochs=1", "--neg_num=4", "--show_progress=False", "--state=ERROR", "--topk=[5]", "--valid_metric=NDCG@5"]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


# ---------------------------------------------------------------------------------------------
# The cases of the issue, each a one-line error before training
# ---------------------------------------------------------------------------------------------


def test_an_infinite_temperature_in_a_yaml_file_is_refused(workdir, capsys):
    (workdir / "run.yaml").write_text("cw_tau: .inf\n")
    assert main(["--model=MF", "--loss=CW", "--config_files=run.yaml", *FAST]) == 2
    assert one_line_error(capsys) == ("error: invalid loss hyperparameter (cw_* config keys): "
                                      "CW: tau must be a finite number > 0, got inf")


@pytest.mark.parametrize("arg,message", [
    ("--sl_tau=1e400", "error: invalid loss hyperparameter (sl_* config keys): SL: tau must be a finite number > 0, got inf"),
    ("--learning_rate=1e400", "error: learning_rate must be a finite number > 0, got inf (float)"),
    ("--learning_rate=-1e400", "error: learning_rate must be a finite number > 0, got -inf (float)"),
    ("--weight_decay=nan", "error: weight_decay must be a number >= 0, got 'nan' (str)"),
])
def test_numbers_that_overflow_to_infinity_on_the_command_line_are_refused(workdir, capsys, arg, message):
    assert main(["--model=MF", "--loss=SL", arg, *FAST]) == 2
    assert one_line_error(capsys) == message
    assert not (workdir / "saved").exists()


def test_a_loss_k_beyond_the_items_of_the_dataset_is_refused_before_training(toy, capsys):
    assert main(["--model=MF", "--loss=SL@K", "--dataset=toy", f"--data_path={toy}", "--slatk_k=100000", *FAST]) == 2
    assert one_line_error(capsys) == ("error: slatk_k = 100000 does not fit dataset 'toy': SL@K: k must be an "
                                      "integer in [1, the dataset's items = 60], got 100000")
    assert not (toy / "saved").exists()


def test_negatives_that_cannot_fit_in_memory_are_refused_before_the_first_step(toy, capsys):
    assert main(["--model=MF", "--loss=SL", "--dataset=toy", f"--data_path={toy}", *FAST, "--neg_num=100000000"]) == 2
    err = one_line_error(capsys)
    assert err.startswith("error: neg_num = 100,000,000 needs about ") and "per training step at train_batch_size = " in err
    assert "free: use neg_num <= " in err
    assert not (toy / "saved").exists()


def test_the_step_memory_check_names_the_largest_neg_num_that_fits(toy):
    config, (train, _, _), _, _ = recbole_losses.quick_start.build_run(
        "MF", "SL", "toy", config_dict={"data_path": str(toy), "neg_num": 8, "train_batch_size": 64, "state": "ERROR"})
    check_step_memory(config, train, available=64 * (1 + 8 + 4) * 32)  # exactly enough
    with pytest.raises(ValueError, match=r"^neg_num = 8 needs about 26\.0 KB per training step at train_batch_size = 64 "
                                         r"\(64 rows x 13 scored items x ~32 bytes\), but cpu has 16\.0 KB free: "
                                         r"use neg_num <= 3 \(or a smaller train_batch_size\)$"):
        check_step_memory(config, train, available=16 * 1024)


# ---------------------------------------------------------------------------------------------
# The table: one rule per key, the same for runs and the tuner
# ---------------------------------------------------------------------------------------------


def test_every_parameter_of_every_loss_has_a_rule_from_its_own_checks():
    for cls in LOSSES.values():
        assert set(recorded_rules(cls)) == set(cls.param_names()), cls.name
    assert set(loss_rules()) == {key for cls in LOSSES.values() for key in cls.config_keys()}


def test_the_defaults_of_every_model_and_loss_pass_the_table(workdir):
    models = available_models()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for model in [*models["without a loss (RecBole general models)"], "XSimGCL"]:
            Config(model, "ml-100k")
        for model in models["with a loss"]:
            for loss in available_losses():
                Config(model, "ml-100k", None, {"loss": loss})


def test_the_tuner_checks_a_space_with_the_runs_table(workdir):
    """A range a run rejects is refused before any trial, for RecBole's keys too (the tuner used
    to check only the loss's keys and the sampled batch mode's)."""
    space = workdir / "space.hyper"
    space.write_text("learning_rate choice [0,0.1]\n")
    tune = TuneSettings(model="MF", loss="PSL", dataset="ml-100k", n_trials=1, params_file=str(space))
    with pytest.raises(SpaceError, match=r"learning_rate choice \[0,0.1\] reaches learning_rate = 0, which a run "
                                         r"rejects: learning_rate must be a number > 0, got 0 \(int\)"):
        check_space(read_params_file(space), tune, "space.hyper")


# ---------------------------------------------------------------------------------------------
# The property: every numeric key, every route, out of range -> a one-line error before training
# ---------------------------------------------------------------------------------------------


def _numeric_keys():
    """(model, loss, key) for every numeric key of the table: RecBole's and ours, every loss's,
    every model's own."""
    keys = [("MF", "PSL", key) for key, rule in SPECS.items() if rule.numeric]
    keys += [("MF", cls.name, key) for key, (cls, _, rule) in loss_rules().items() if rule.numeric]
    models = available_models()["with a loss"]
    keys += [(model, "PSL", key) for model in models for key, rule in model_config_checks(model).items() if rule.numeric]
    return keys


NUMERIC_KEYS = _numeric_keys()
ROUTES = ("command line", "yaml", "config_dict", "preset", "checkpoint", "params file")


def outside(rule):
    """Values outside ``rule``: ±inf (1e400 on the command line) and nan, outside every numeric
    key's range whatever its rule says; non-integral numbers for an integer; below the low end
    (negatives, zero where excluded) and above the high end (huge) of the rule's range."""
    finite = {"allow_nan": False, "allow_infinity": False}
    by_range = []
    if rule.kind == "integer":
        by_range.append(st.floats(min_value=-1e12, max_value=1e12, **finite).filter(lambda x: not x.is_integer()))
    if rule.low is not None:
        if rule.kind == "integer":
            by_range.append(st.integers(max_value=int(rule.low) - 1))
        else:
            by_range.append(st.floats(max_value=rule.low, exclude_max=not rule.low_open, **finite))
    if rule.high is not None:
        if rule.kind == "integer":
            by_range.append(st.integers(min_value=int(rule.high) + 1))
        else:
            by_range.append(st.floats(min_value=rule.high, exclude_min=not rule.high_open, **finite))
    never = st.sampled_from([math.inf, -math.inf, math.nan])
    if not by_range:
        return never
    return st.one_of(never, st.one_of(by_range).filter(lambda v: not rule.accepts(v)))  # -0.0 is >= 0


def _text(value) -> str:
    """The command-line text of ``value``: an infinity as 1e400, which Python reads as inf."""
    if isinstance(value, float) and math.isinf(value):
        return "1e400" if value > 0 else "-1e400"
    return repr(value)


def _through(route, model, loss, key, value, folder, monkeypatch):
    """Give ``key: value`` to a run of ``model`` x ``loss`` by ``route``; returns the error."""
    base = {"show_progress": False, "state": "ERROR"}
    if route == "params file":
        space = folder / "space.hyper"
        space.write_text(f"{key} choice {yaml.safe_dump([value], default_flow_style=True).strip()}\n")
        tune = TuneSettings(model=model, loss=loss, dataset="ml-100k", n_trials=1, params_file=str(space))
        with pytest.raises(ValueError) as err:
            check_space(read_params_file(space), tune, str(space))
        return err.value
    if route == "checkpoint":
        path = folder / "run.pth"
        external = {"loss": loss, **base, key: value}
        save_checkpoint({"config": {"model": model, "loss": loss, "dataset": "ml-100k", "external": external}}, path)
        with pytest.raises(ValueError) as err:
            recbole_losses.load_data_and_model(path)
        return err.value
    files, cmd, config_dict = None, None, dict(base)
    if route == "command line":
        cmd = [f"--{key}={_text(value)}"]
    elif route == "yaml":
        (folder / "run.yaml").write_text(yaml.safe_dump({key: value}))
        files = [str(folder / "run.yaml")]
    elif route == "config_dict":
        config_dict[key] = value
    else:  # preset
        (folder / "preset.yaml").write_text(yaml.safe_dump({key: value}))
        monkeypatch.setattr("recbole_losses.config.preset_file", lambda *names: folder / "preset.yaml")
        config_dict["preset"] = "paper"
    with pytest.raises(ValueError) as err:
        recbole_losses.run(model, loss, "ml-100k", config_file_list=files, config_dict=config_dict, cmd_args=cmd)
    return err.value


@pytest.mark.parametrize("model,loss,key", NUMERIC_KEYS, ids=[f"{m}-{k}" for m, _, k in NUMERIC_KEYS])
@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_numeric_key_out_of_range_is_a_one_line_error_by_every_route(workdir, monkeypatch, model, loss, key, data):
    rule = rules(model)[key]
    value = data.draw(outside(rule), label="value")
    route = data.draw(st.sampled_from(ROUTES), label="route")

    def no_data(*args, **kwargs):
        raise AssertionError(f"{key} = {value!r} ({route}) reached the data loading")

    monkeypatch.setattr("recbole_losses.runner.Run.build", no_data)
    if route == "params file":
        base = recbole_losses.quick_start.run_config(model, loss, "ml-100k", None, {"state": "ERROR"})
        assume(key in base.final_config_dict or key in loss_rules())  # the tuner searches known keys only
    error = _through(route, model, loss, key, value, workdir, monkeypatch)
    message = str(error)
    assert "\n" not in message, message
    name = loss_rules()[key][1] if key in loss_rules() else key
    assert name in message, message
    with pytest.raises(ValueError):  # the table agrees, wherever the value came from
        check_value(key, value, model)


# ---------------------------------------------------------------------------------------------
# Keys that depend on each other, checked together before anything starts
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("settings_,message", [
    ({"nproc": 2, "world_size": 1}, r"^ranks offset \.\. offset \+ nproc - 1 = 0 \.\. 1 do not fit in world_size = 1: "
                                     r"give world_size >= offset \+ nproc = 2$"),
    ({"nproc": 2, "offset": 1, "world_size": 2}, r"^ranks offset \.\. offset \+ nproc - 1 = 1 \.\. 2 do not fit"),
    ({"nproc": 2, "port": 70000}, r"^port must be a port number in \[1, 65535\] or None, got 70000 \(int\)$"),
    ({"nproc": 0}, r"^nproc must be an integer >= 1 or None, got 0 \(int\)$"),
    ({"nproc": 2, "backend": "mpi"}, r"^backend must be one of \['nccl', 'gloo'\] or None, got 'mpi' \(str\)$"),
    ({"local_rank": 2, "nproc": 2}, r"^local_rank = 2 must be below nproc = 2$"),
])
def test_multi_process_settings_are_checked_together_before_any_process_starts(workdir, monkeypatch, settings_, message):
    monkeypatch.setattr("recbole_losses.distributed.spawn", lambda *a: pytest.fail("a process was spawned"))
    with pytest.raises(ValueError, match=message):
        recbole_losses.run("MF", "SL", "ml-100k", config_dict=settings_)


@pytest.mark.skipif(torch.cuda.is_available(), reason="nccl is valid with GPUs")
def test_nccl_without_gpus_is_refused_before_any_process_starts(workdir):
    with pytest.raises(ValueError, match=r"^backend 'nccl' needs GPUs .*; use backend 'gloo' on CPU$"):
        Config("MF", "ml-100k", None, {"loss": "SL", "nproc": 2, "backend": "nccl"})


def test_sampling_settings_are_checked_together(workdir):
    with pytest.warns(UserWarning, match=r"neg_alpha = 0\.5 is used only with neg_distribution: popularity; "
                                         r"with uniform it is ignored"):
        Config("MF", "ml-100k", None, {"loss": "SL", "neg_alpha": 0.5})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Config("MF", "ml-100k", None, {"loss": "SL", "neg_alpha": 0.5, "neg_distribution": "popularity"})
    with pytest.raises(ValueError, match=r"^neg_alpha must be a number >= 0, got -1 \(int\)$"):
        Config("MF", "ml-100k", None, {"loss": "SL", "neg_alpha": -1, "neg_distribution": "popularity"})
    with pytest.raises(ValueError, match=r"^neg_noise_ratio = 0\.99 of neg_num = 8 replaces every negative \(8\)"):
        Config("MF", "ml-100k", None, {"loss": "SL", "neg_noise_ratio": 0.99, "neg_num": 8})
    with pytest.warns(UserWarning, match=r"neg_noise_ratio = 0\.01 of neg_num = 8 rounds to 0 replaced negatives"):
        Config("MF", "ml-100k", None, {"loss": "SL", "neg_noise_ratio": 0.01, "neg_num": 8})


def test_a_settings_error_inside_the_ranks_is_one_line_naming_the_rank(toy):
    with pytest.raises(ValueError, match=r"^rank [01]: topk \[100\] asks for top-100 lists but dataset 'toy' has only "
                                         r"60 items; use topk values <= 60"):
        recbole_losses.run("MF", "SL", "toy", config_dict={
            "data_path": str(toy), "nproc": 2, "use_gpu": False, "epochs": 1, "neg_num": 4, "topk": [100],
            "valid_metric": "NDCG@100", "show_progress": False, "state": "ERROR"})


# ---------------------------------------------------------------------------------------------
# Tensors handed to a loss: one rule, one error text, for every loss
# ---------------------------------------------------------------------------------------------


def _inputs(b=4, n=3, m=2):
    g = torch.Generator().manual_seed(0)
    return {"pos_score": torch.rand(b, generator=g), "neg_score": torch.rand(b, n, generator=g),
            "sampled_pos_score": torch.rand(b, m, generator=g), "user": torch.arange(b), "pos_item": torch.arange(b),
            "neg_item": torch.randint(5, (b, n), generator=g)}


BAD_INPUTS = [
    ("pos_score", lambda t: t.tolist(), r"pos_score must be a torch\.Tensor \[B\], got list"),
    ("pos_score", lambda t: t.long(), r"pos_score must be a floating-point tensor, got dtype torch\.int64"),
    ("pos_score", lambda t: t.unsqueeze(1), r"pos_score must be \[B\], got shape \(4, 1\)"),
    ("neg_score", lambda t: t.double(), r"neg_score must be a floating-point tensor of pos_score's dtype torch\.float32, "
                                        r"got dtype torch\.float64"),
    ("neg_score", lambda t: t[:3], r"neg_score must be \[B, N\] with B = 4 and N >= 1, got shape \(3, 3\)"),
    ("neg_score", lambda t: t.to("meta"), r"neg_score must be on (pos_score's|the loss's) device cpu, got device meta"),
    ("sampled_pos_score", lambda t: t[:, :0], r"sampled_pos_score must be \[B, M\] with B = 4 and M >= 1, got shape \(4, 0\)"),
    ("user", lambda t: t.float(), r"user must be an integer tensor \(ids\), got dtype torch\.float32"),
    ("neg_item", lambda t: t[:, :2], r"neg_item must be \[B, N\] with B = 4 and N = 3, got shape \(4, 2\)"),
]


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("arg,spoil,message", BAD_INPUTS, ids=[f"{a}-{i}" for i, (a, _, _) in enumerate(BAD_INPUTS)])
def test_every_loss_checks_what_it_is_handed_by_one_rule(loss, arg, spoil, message):
    fn = build_loss(loss)
    fn.setup(n_users=4, n_items=61, item_counts=torch.ones(61))
    inputs = _inputs()
    inputs[arg] = spoil(inputs[arg])
    pos, neg = inputs.pop("pos_score"), inputs.pop("neg_score")
    with pytest.raises(ValueError, match=rf"^{loss}: {message}$"):
        fn(pos, neg, **inputs)


def test_build_loss_names_a_misspelled_hyperparameter():
    with pytest.raises(ValueError, match=r"^unknown hyperparameter 'tua' for loss PSL \(did you mean 'tau'\?\); "
                                         r"valid: tau, activation$"):
        build_loss("PSL", tua=0.1)
