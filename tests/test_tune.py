"""The tuner (recbole_losses.tuning): RecBole params files, resuming, several workers on one study,
pruning, failing trials, RecBole's HyperTuning contract, bad input, and best.yaml. Trials are tiny
runs on ml-100k (MF with BPR, one or two epochs, validation after every epoch)."""

import json
import math
import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from recbole_losses.config import Config
from recbole_losses.tuning import SpaceError, TuneSettings, objective_function, parse_params, run_study
from recbole_losses.tuning.budget import counts_toward_budget, is_surplus
from recbole_losses.tuning.objective import Objective
from recbole_losses.tuning.progress import Progress
from recbole_losses.tuning.report import count_states, trial_rows
from recbole_losses.tuning.command import main
from recbole_losses.tuning.sampling import make_pruner
from recbole_losses.tuning.space import default_params_file, hyper_dir, read_params_file
from recbole_losses.tuning.study import check_space

REPO = Path(__file__).resolve().parent.parent
TINY = ["--epochs=2", "--eval_step=1", "--train_batch_size=8192"]
SPACE = "learning_rate choice [0.01,0.005]\nweight_decay choice [0,1e-6]\n"


def settings(tmp_path, n_trials, space=SPACE, **kw) -> TuneSettings:
    params = tmp_path / "space.hyper"
    params.write_text(space)
    kw.setdefault("overrides", TINY)
    kw.setdefault("plots", False)
    kw.setdefault("sampler", "random")
    return TuneSettings(model="MF", loss="BPR", dataset="ml-100k", n_trials=n_trials, params_file=str(params),
                        output_dir=str(tmp_path / "out"), **kw)


def quiet(*_):
    pass


# --------------------------------------------------------------------------------------------
# Params files
# --------------------------------------------------------------------------------------------

def test_each_kind_of_line_becomes_the_optuna_distribution_recbole_means():
    params = parse_params(
        "# a comment line\n"
        "learning_rate loguniform -8,0      # natural-log bounds, as hyperopt's hp.loguniform\n"
        "cw_beta uniform 0,2\n"
        "slatk_tau_w quniform 0.5,3,0.25\n"
        "embedding_size quniform 32,128,32\n"
        "\n"
        "psl_activation choice [relu, tanh]\n"
        "weight_decay choice [0, 1e-4, None]\n"
        "mlp_hidden_size choice [[64,64],[128]]\n"
    )
    assert list(params) == ["learning_rate", "cw_beta", "slatk_tau_w", "embedding_size", "psl_activation",
                            "weight_decay", "mlp_hidden_size"]
    lr = params["learning_rate"].distribution
    assert isinstance(lr, FloatDistribution) and lr.log
    assert math.isclose(lr.low, math.exp(-8)) and math.isclose(lr.high, 1.0)
    assert params["cw_beta"].distribution == FloatDistribution(0.0, 2.0)
    assert params["slatk_tau_w"].distribution == FloatDistribution(0.5, 3.0, step=0.25)
    assert params["embedding_size"].distribution == IntDistribution(32, 128, step=32)
    assert params["psl_activation"].distribution == CategoricalDistribution(["relu", "tanh"])
    assert params["weight_decay"].distribution == CategoricalDistribution([0, 1e-4, None])
    nested = params["mlp_hidden_size"]
    assert nested.encoded and nested.candidates() == [[64, 64], [128]]

    trial = optuna.create_study().ask()
    values = {name: param.suggest(trial) for name, param in params.items()}
    assert math.exp(-8) <= values["learning_rate"] <= 1
    assert isinstance(values["embedding_size"], int) and values["embedding_size"] % 32 == 0
    assert values["mlp_hidden_size"] in ([64, 64], [128])


def test_a_recbole_hyper_file_reads_unchanged(tmp_path):
    # RecBole's own example (hyper.test in the RecBole repository), quoted strings included.
    path = tmp_path / "hyper.test"
    path.write_text("learning_rate loguniform -8,0\nembedding_size choice [64,96,128]\n"
                    "mlp_hidden_size choice ['[64,64,64]','[128,128]']\n")
    params = read_params_file(path)
    assert params["embedding_size"].candidates() == [64, 96, 128]
    assert params["mlp_hidden_size"].candidates() == ["[64,64,64]", "[128,128]"]


@pytest.mark.parametrize("text,message", [
    ("learning_rate loguniform -8\n", "space, line 1: learning_rate loguniform needs 2 finite numbers low,high, got '-8'"),
    ("lr uniform 1,0\n", "space, line 1: lr uniform has low 1 > high 0"),
    ("q quniform 0,1,0\n", "space, line 1: q quniform step q must be > 0, got 0"),
    ("x normal 0,1\n", "space, line 1: unknown kind 'normal' for x; valid kinds: choice, uniform, quniform, loguniform"),
    ("x choice 3\n", "space, line 1: x choice needs a non-empty list such as [0.1,0.2], got '3'"),
    ("learning_rate 0.1\n", "space, line 1: expected '<config key> <kind> <values>'"),
    ("a choice [1]\na choice [2]\n", "space, line 2: a is searched twice"),
    ("# only a comment\n", "space: no parameters"),
])
def test_params_file_errors_name_the_line(text, message):
    with pytest.raises(SpaceError) as err:
        parse_params(text, "space")
    assert message in str(err.value)


def test_choice_values_are_data_never_evaluated():
    (param,) = parse_params("x choice [__import__('os').getcwd()]\n").values()
    assert param.candidates() == ["__import__('os').getcwd()"]


def test_every_loss_ships_a_space_that_passes_its_validation():
    for path in sorted(hyper_dir().glob("*.hyper")):
        loss = None if path.stem == "stock" else path.stem
        tune = TuneSettings("MF", loss, "ml-100k", 1)
        assert default_params_file(loss) == path
        check_space(read_params_file(path), tune, str(path))


# --------------------------------------------------------------------------------------------
# Bad input: a clear error before any trial runs
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("space,loss,message", [
    ("learnin_rate choice [0.1]\n", "BPR",
     "unknown config key 'learnin_rate' (not a RecBole or recbole-losses key); did you mean learning_rate"),
    ("psl_tau choice [0.0,0.1]\n", "PSL",
     "psl_tau choice [0.0,0.1] reaches psl_tau = 0.0, which a run rejects: invalid loss hyperparameter "
     "(psl_* config keys): PSL: tau must be a number > 0"),
    ("psl_tau uniform -0.1,0.5\n", "PSL", "reaches psl_tau = -0.1, which a run rejects"),
    ("cw_tau choice [0.1]\n", "PSL", "cw_tau is a key of loss CW, but the study's loss is PSL"),
    ("neg_num choice [0,10]\n", "PSL", "reaches neg_num = 0, which a run rejects: neg_num must be an integer >= 1"),
    ("learning_rate choice [0.1]\n", "BPR", "learning_rate is searched and also fixed by --learning_rate=...; drop one"),
    ("learning_rate choice [0.1]\n", "BPR", "the tuner selects on validation: eval_step must be in 1 .. epochs = 2, got 3"),
])
def test_bad_space_is_refused_before_any_trial(workdir, space, loss, message):
    extra = {"fixed": ["--learning_rate=0.01"], "eval_step": ["--eval_step=3"]}
    tune = settings(workdir, 1, space, overrides=[*TINY, *next((v for k, v in extra.items() if k in message), [])])
    tune.loss = loss
    with pytest.raises(SpaceError) as err:
        run_study(tune, log=quiet)
    assert message in str(err.value)
    assert not (workdir / "out" / "study.db").exists()


def test_unwritable_storage_is_refused_before_any_trial(workdir, capsys):
    (workdir / "a_file").write_text("")
    code = main(["--loss=BPR", "--n_trials=1", f"--params_file={REPO / 'properties/hyper/BPR.hyper'}",
                 f"--output_dir={workdir / 'out'}", f"--storage=sqlite:///{workdir / 'a_file' / 'study.db'}", *TINY])
    assert code == 2
    err = capsys.readouterr().err
    assert f"error: study storage sqlite:///{workdir / 'a_file' / 'study.db'}: cannot create the folder" in err
    assert not (workdir / "out" / "trials.csv").exists()


# --------------------------------------------------------------------------------------------
# Resume, several workers, pruning, failures
# --------------------------------------------------------------------------------------------

def counted(study):
    return [t for t in study.get_trials() if counts_toward_budget(t)]


def test_rerun_completes_the_budget_without_duplicates(workdir):
    first = run_study(settings(workdir, 2), log=quiet)
    assert [t.state for t in first.study.get_trials()] == [TrialState.COMPLETE] * 2
    # An interrupted trial (Ctrl-C: FAIL without an error message) does not count.
    study = first.study
    study.tell(study.ask(), state=TrialState.FAIL)

    second = run_study(settings(workdir, 3, plots=True), log=quiet)
    trials = second.study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 + [TrialState.FAIL, TrialState.COMPLETE]
    assert len(counted(second.study)) == 3
    out = workdir / "out"
    for name in ("trials.csv", "trials.md", "summary.json", "best.yaml", "history.png"):
        assert (out / name).is_file(), name
    assert (out / "importance.png").is_file() or "importance" in (out / "importance.txt").read_text()
    assert "interrupted (does not count; run again)" in (out / "trials.md").read_text()
    test = second.test_result
    assert test["trial"] == second.best.number and set(test["metrics"]) >= {"recall@20", "ndcg@20"}

    third = run_study(settings(workdir, 3), log=quiet)  # nothing missing: no trial, the same test
    assert len(third.study.get_trials()) == 4 and third.test_result == test


def test_a_finished_study_holds_no_idle_connections_and_reads_heartbeat_ages(workdir):
    """A study run inside a longer process (a notebook tuning several losses against one server)
    gives its pooled connections back when it ends; the waiting line's heartbeat ages are read
    through Optuna's cache wrapper (they were never found behind it)."""
    from recbole_losses.tuning.storage import heartbeat_ages, study_engine

    outcome = run_study(settings(workdir, 1), log=quiet)
    engine = study_engine(outcome.study)
    assert engine is not None and engine.pool.checkedin() == 0
    trial = outcome.study.ask()  # still usable: it connects again
    outcome.study._storage.record_heartbeat(trial._trial_id)
    ages = heartbeat_ages(outcome.study)
    assert set(ages) == {trial.number} and 0 <= ages[trial.number] < 60


def test_an_interrupted_trial_continues_from_its_last_epoch(workdir, interrupt_at_epoch):
    """Ctrl-C in a trial's third epoch, then the same command again: the next trial takes the
    interrupted trial's settings and checkpoint folder, resumes at its last epoch and ends with the
    validation score an uninterrupted study gets."""
    kw = dict(overrides=["--epochs=4", "--eval_step=1", "--train_batch_size=8192"], sampler_seed=3)
    (workdir / "reference").mkdir()
    reference = run_study(settings(workdir / "reference", 1, **kw), log=quiet)
    interrupt_at_epoch(2)
    with pytest.raises(KeyboardInterrupt):
        run_study(settings(workdir, 1, **kw), log=quiet)
    interrupt_at_epoch(None)
    lines = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no step reported twice
        resumed = run_study(settings(workdir, 1, **kw), log=lines.append)
    stopped, continued = resumed.study.get_trials()
    assert stopped.state == TrialState.FAIL and continued.state == TrialState.COMPLETE
    assert continued.user_attrs["resumes"] == 0 and continued.params == stopped.params
    assert continued.user_attrs["checkpoint_dir"] == stopped.user_attrs["checkpoint_dir"]
    assert any("continuing interrupted trial(s) [0]" in line for line in lines)
    expected = reference.study.get_trials()[0]
    assert continued.params == expected.params and continued.value == expected.value
    assert continued.intermediate_values == expected.intermediate_values


def test_two_workers_share_one_sqlite_study(workdir):
    space = workdir / "space.hyper"
    space.write_text(SPACE)
    cmd = [sys.executable, "-m", "recbole_losses.tune", "--loss=BPR", "--n_trials=3", f"--params_file={space}",
           "--output_dir=out", "--sampler=random", "--no-plots", *TINY]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(2)]
    outputs = [w.communicate(timeout=1200)[0] for w in workers]  # two workers training on a loaded 2-core machine
    assert [w.returncode for w in workers] == [0, 0], outputs
    study = optuna.load_study(study_name="MF-BPR-ml-100k", storage=f"sqlite:///{workdir / 'out' / 'study.db'}")
    kept = counted(study)
    assert len(kept) == 3 and all(t.state == TrialState.COMPLETE for t in kept)
    assert sorted(t.number for t in kept) == sorted({t.number for t in kept})
    # no trial was run by both workers, none by neither (which worker ran how many depends on timing)
    ran = [{int(line.split("trial ")[1].split(":")[0]) for line in out.splitlines() if ": COMPLETE |" in line}
           for out in outputs]
    assert not ran[0] & ran[1] and ran[0] | ran[1] == {t.number for t in kept}
    # the worker that finished last tested the selected trial
    summary = json.loads((workdir / "out" / "summary.json").read_text())
    assert summary["best_trial"] == study.best_trial.number == summary["test"]["trial"]


def test_a_trial_started_for_a_place_already_taken_ends_before_it_runs(workdir):
    # Two workers finishing at the same moment each start a trial for the last of 3 places.
    study = optuna.create_study(direction="maximize")
    for value in (0.1, 0.2):
        study.tell(study.ask(), value)
    first, second = study.ask(), study.ask()
    assert not is_surplus(study, first.number, 3) and is_surplus(study, second.number, 3)
    objective = Objective(TuneSettings("MF", "BPR", "ml-100k", 3), {}, workdir / "checkpoints")
    with pytest.raises(optuna.TrialPruned, match="surplus: the study already holds 3 trials"):
        objective(second)  # ends before it draws settings or builds a run
    study.tell(second, state=TrialState.PRUNED)
    surplus = study.get_trials()[second.number]
    assert surplus.params == {} and not counts_toward_budget(surplus)
    assert [row["trial"] for row in trial_rows(study, {})] == [0, 1, first.number]
    assert count_states(study) == {"complete": 2, "pruned": 0, "failed": 0}
    lines = []
    Progress(3, "ndcg@10", lines.append)(study, surplus)
    assert lines == []
    # A queued continuation of an interrupted trial is never surplus: its place is the one it continues.
    study.enqueue_trial({}, user_attrs={"replaces": 0})
    assert not is_surplus(study, study.ask().number, 3)


def test_pruned_trials_stop_at_the_first_report(workdir):
    outcome = run_study(settings(workdir, 2), pruner=optuna.pruners.ThresholdPruner(lower=1.0), log=quiet)
    trials = outcome.study.get_trials()
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2
    assert all(t.last_step == 1 and t.user_attrs["epochs"] == 1 for t in trials)  # of epochs=2
    assert outcome.best is None
    assert "pruned after epoch 1" in (workdir / "out" / "trials.md").read_text()
    assert not list((workdir / "out" / "checkpoints").glob("trial-*"))


def test_median_pruner_waits_for_its_warm_up():
    config = {"epochs": 200}
    pruner = make_pruner(TuneSettings("MF", "BPR", "ml-100k", 1), config)
    assert isinstance(pruner, optuna.pruners.MedianPruner)
    assert pruner._n_warmup_steps == 50 and pruner._n_startup_trials == 5
    assert make_pruner(TuneSettings("MF", "BPR", "ml-100k", 1, warmup_epochs=10), config)._n_warmup_steps == 10
    assert isinstance(make_pruner(TuneSettings("MF", "BPR", "ml-100k", 1, pruner="none"), config),
                      optuna.pruners.NopPruner)


def test_a_diverging_trial_is_recorded_failed_and_the_study_goes_on(workdir):
    tune = settings(workdir, 2, "learning_rate choice [1e30,0.01]\n")
    (workdir / "out").mkdir()
    study = optuna.create_study(study_name=tune.study_name, storage=tune.storage, direction="maximize")
    study.enqueue_trial({"learning_rate": 1e30})
    study.enqueue_trial({"learning_rate": 0.01})
    outcome = run_study(tune, log=quiet)
    failed, complete = outcome.study.get_trials()
    assert failed.state == TrialState.FAIL and failed.params == {"learning_rate": 1e30}
    assert failed.user_attrs["error"].startswith("ValueError: training loss is nan")
    assert complete.state == TrialState.COMPLETE and outcome.best.number == complete.number
    table = (workdir / "out" / "trials.md").read_text()
    assert "| 0 | FAIL |" in table and "training loss is nan" in table


# --------------------------------------------------------------------------------------------
# RecBole's contract and best.yaml
# --------------------------------------------------------------------------------------------

def test_recbole_hypertuning_drives_objective_function(workdir, monkeypatch):
    # RecBole's HyperTuning imports hyperopt (not a dependency here): a stand-in module supplies
    # the names it touches, so RecBole's own trial() calls our objective_function.
    fake = types.ModuleType("hyperopt")
    fake.STATUS_OK = "ok"
    fake.rand = types.SimpleNamespace(suggest=None)
    early_stop = types.ModuleType("hyperopt.early_stop")
    early_stop.no_progress_loss = lambda n: None
    monkeypatch.setitem(sys.modules, "hyperopt", fake)
    monkeypatch.setitem(sys.modules, "hyperopt.early_stop", early_stop)
    from recbole.trainer.hyper_tuning import HyperTuning

    fixed = workdir / "fixed.yaml"
    fixed.write_text("model: MF\nloss: BPR\ndataset: ml-100k\nepochs: 1\neval_step: 1\ntrain_batch_size: 8192\n"
                     "show_progress: False\nstate: WARNING\n")
    tuner = HyperTuning(objective_function, space={"learning_rate": None}, fixed_config_file_list=[str(fixed)],
                        algo="random")
    answer = tuner.trial({"learning_rate": 0.01})
    (result,) = tuner.params2result.values()
    assert set(result) == {"model", "best_valid_score", "valid_score_bigger", "best_valid_result", "test_result"}
    assert result["model"] == "MF" and result["valid_score_bigger"] is True
    assert answer == {"loss": -result["best_valid_score"], "status": "ok"}
    assert result["best_valid_score"] == result["best_valid_result"]["ndcg@20"]
    assert 0 < result["test_result"]["ndcg@20"] <= 1


def test_best_yaml_runs_with_config_files(workdir, capsys):
    outcome = run_study(settings(workdir, 1, overrides=[*TINY, "--stopping_step=None", f"--data_path={workdir}"]),
                        log=quiet)
    best_yaml = workdir / "out" / "best.yaml"
    config = Config("MF", "ml-100k", [str(best_yaml)], {"loss": "BPR"})
    for key, value in outcome.best.user_attrs["config"].items():
        assert config[key] == value
    assert config["epochs"] == 2 and config["train_batch_size"] == 8192  # the study's fixed overrides
    text = best_yaml.read_text()
    assert "stopping_step: null" in text and "\ndata_path:" not in text  # paths stay out
    from recbole_losses.cli import main as run_main

    assert run_main(["--model=MF", "--loss=BPR", f"--config_files={best_yaml}", "--state=WARNING",
                     "--show_progress=False"]) == 0
    assert "test" in capsys.readouterr().out


def test_tune_study_builds_one_tuner_command_per_variant(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import tune_study
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    assert tune_study.parse_variant("CW-hcl: loss=CW cw_weighting=hcl pruner=none") == (
        "CW-hcl", {"loss": "CW", "cw_weighting": "hcl", "pruner": "none"})
    with pytest.raises(ValueError, match="needs a name and loss=LOSS"):
        tune_study.parse_variant("CW: cw_beta=0.5")
    args = tune_study.parse_args(["--dataset=health", "--n_trials=30", "--preset=paper", f"--out={tmp_path}",
                                  "--set", "stopping_step=20"])
    cw, _ = tune_study.study_args(args, "CW-hcl", {"loss": "CW", "cw_weighting": "hcl", "pruner": "none"})
    assert cw == ["--model=MF", "--loss=CW", "--dataset=health", "--n_trials=30", "--study_name=health-MF-CW-hcl",
                  "--output_dir=CW-hcl", "--pruner=none", "--preset=paper", "--stopping_step=20", "--cw_weighting=hcl"]
    assert tune_study.format_command(args, ["--loss=CW", "--data_path=/home/me/data"]).endswith(
        "recbole_losses.tune --loss=CW --data_path=DATA")  # reports never carry the machine's folder
    drrl, _ = tune_study.study_args(args, "DrRL", {"loss": "DrRL"})
    assert "--preset=paper" not in drrl  # the paper preset has no DrRL settings
    rows = tune_study.collect(args, [("CW-hcl", {"loss": "CW"}), ("PSL", {"loss": "PSL"})])  # nothing run yet
    tune_study.write_report(args, rows, {})
    report = (tmp_path / "results.md").read_text()
    assert "| CW-hcl | median |" in report and "grid points: CW-hcl 2520, PSL 60" in report
    # A relative params file is the tuner's, which runs inside --out: it is read from there.
    (tmp_path / "spaces").mkdir()
    (tmp_path / "MF").mkdir()
    (tmp_path / "spaces" / "small.hyper").write_text("cw_tau choice [0.1,0.2]\n")
    args = tune_study.parse_args(["--dataset=health", "--n_trials=2", f"--out={tmp_path / 'MF'}"])
    (row,) = tune_study.collect(args, [("CW", {"loss": "CW", "params": "../spaces/small.hyper"})])
    assert row["grid size"] == "2" and row["searched"] == "cw_tau"


def _study_folder(tune_study, folder, model, rows):
    """A tune_study output folder as tune_study writes it (results.csv from each variant's
    summary.json), without running a trial."""
    args = tune_study.parse_args(["--dataset=health", f"--model={model}", "--n_trials=4", f"--out={folder}"])
    for variant, loss, complete, valid, test, settings in rows:
        (folder / variant).mkdir(parents=True)
        summary = {"trials": {"complete": complete}, "best_settings": settings}
        if valid is not None:
            summary |= {"best_valid_result": {"ndcg@20": valid},
                        "test": {"metrics": {"recall@20": test, "ndcg@20": test}}}
        (folder / variant / "summary.json").write_text(json.dumps(summary))
    tune_study.write_report(args, tune_study.collect(args, [(r[0], {"loss": r[1]}) for r in rows]), {})


def test_tune_combine_selects_each_variant_on_validation_over_the_folders(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import tune_combine
        import tune_study
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    _study_folder(tune_study, tmp_path / "MF", "MF", [("CW", "CW", 4, 0.08, 0.13, {"cw_tau": 0.1}),
                                                      ("PSL", "PSL", 4, 0.09, 0.12, {"psl_tau": 0.2})])
    _study_folder(tune_study, tmp_path / "MF-lr0.1", "MF", [("CW", "CW", 2, 0.085, 0.11, {"learning_rate": 0.1}),
                                                            ("PSL", "PSL", 2, None, None, {})])  # PSL: nothing finished
    assert tune_combine.main([str(tmp_path / "MF"), str(tmp_path / "MF-lr0.1"), f"--out={tmp_path / 'all'}"]) == 0
    report = (tmp_path / "all" / "results.md").read_text()
    # CW: the lr 0.1 slice is better on validation (0.085 > 0.08), so its lower test figure is the one shown.
    assert "| MF | CW | 6 (4 + 2) | 0.0850 | 0.1100 | 0.1100 | 0.1908 / 0.1481 | -42.3% / -25.7% | MF-lr0.1 |" in report
    assert "| MF | PSL | 6 (4 + 2) | 0.0900 | 0.1200 | 0.1200 |" in report and '`{"psl_tau": 0.2}`' in report
    with pytest.raises(SystemExit, match="results.csv not found"):
        tune_combine.main([str(tmp_path / "missing"), f"--out={tmp_path / 'all'}"])


def test_grid_sampler_visits_every_point_once(workdir):
    outcome = run_study(settings(workdir, 2, "learning_rate choice [0.01,0.005]\n", sampler="grid"), log=quiet)
    assert sorted(t.params["learning_rate"] for t in outcome.study.get_trials()) == [0.005, 0.01]
    with pytest.raises(SpaceError, match=r"the grid has 2 points; --n_trials=3 would repeat some"):
        run_study(settings(workdir, 3, "learning_rate choice [0.01,0.005]\n", sampler="grid"), log=quiet)
    with pytest.raises(SpaceError, match="--sampler=grid needs a finite space; continuous: learning_rate loguniform"):
        run_study(settings(workdir, 1, "learning_rate loguniform -8,0\n", sampler="grid"), log=quiet)
    (param,) = parse_params("slatk_tau_w quniform 0.5,3,0.25\n").values()
    assert param.grid() == [0.5 + 0.25 * k for k in range(11)]
