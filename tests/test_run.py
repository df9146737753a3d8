"""One run, one object: every entry point closes what it opened (RecBole's TensorBoard writer and
the run's log files), and a tuner trial builds its configuration once."""

import logging

import pytest
import torch.utils.tensorboard

import recbole_losses
from recbole_losses import config as config_module
from recbole_losses.tuning import TuneSettings, objective_function, run_study

TINY = {"epochs": 1, "eval_step": 1, "train_batch_size": 8192, "show_progress": False, "state": "WARNING"}


@pytest.fixture
def writers(monkeypatch):
    """Counts of TensorBoard writers opened and closed (RecBole opens one per trainer)."""
    counts = {"opened": 0, "closed": 0}
    cls = torch.utils.tensorboard.SummaryWriter
    init, close = cls.__init__, cls.close

    def counted_init(self, *args, **kwargs):
        counts["opened"] += 1
        init(self, *args, **kwargs)

    def counted_close(self):
        if not getattr(self, "_counted_closed", False):
            self._counted_closed = True
            counts["closed"] += 1
        close(self)

    monkeypatch.setattr(cls, "__init__", counted_init)
    monkeypatch.setattr(cls, "close", counted_close)
    return counts


def open_log_files():
    """RecBole's run log files (log/<model>/...) still attached to the root logger."""
    return [h for h in logging.getLogger().handlers
            if isinstance(h, logging.FileHandler) and "/log/" in h.baseFilename]


def test_run_closes_its_tensorboard_writer_and_log_file(workdir, writers):
    result = recbole_losses.run("MF", "BPR", "ml-100k", config_dict=TINY)
    assert result["best_valid_result"] is not None
    assert writers["opened"] > 0 and writers["closed"] == writers["opened"]
    assert not open_log_files()


def test_objective_function_closes_what_it_opened(workdir, writers):
    result = objective_function({"model": "MF", "dataset": "ml-100k", "loss": "BPR", **TINY})
    assert result["test_result"] and writers["opened"] > 0 and writers["closed"] == writers["opened"]
    assert not open_log_files()


def test_a_run_is_closed_once_as_a_context_manager(workdir, writers):
    from recbole_losses.runner import Run

    with Run("MF", "BPR", "ml-100k", config_dict=TINY) as run:
        score, result = run.fit()
        test = run.test()
        assert open_log_files()  # RecBole's log file, open while the run is
    assert score == run.best_valid_score and result["ndcg@20"] == score and test["ndcg@20"] > 0
    assert writers["opened"] > 0 and writers["closed"] == writers["opened"] and not open_log_files()
    run.close()  # idempotent
    assert writers["closed"] == writers["opened"]
    with pytest.raises(RuntimeError, match="this Run is closed"):
        run.build()


def test_load_data_and_model_closes_what_it_opened(workdir, writers):
    recbole_losses.run("MF", "BPR", "ml-100k", config_dict=TINY)
    (checkpoint,) = (workdir / "saved").glob("*.pth")
    config, model, *_ = recbole_losses.load_data_and_model(str(checkpoint))
    assert config["loss"] == "BPR" and not model.training
    assert writers["opened"] > 0 and writers["closed"] == writers["opened"] and not open_log_files()


def test_a_tuner_trial_builds_its_configuration_once(workdir, monkeypatch):
    """Per trial one Config (its Run's); per study two more: the study's own (the space's checks
    and identity) and the test of the selected trial."""
    built = []
    init = config_module.Config.__init__

    def counted(self, *args, **kwargs):
        built.append(1)
        init(self, *args, **kwargs)

    monkeypatch.setattr(config_module.Config, "__init__", counted)
    space = workdir / "space.hyper"
    space.write_text("learning_rate choice [0.01,0.005]\nweight_decay choice [0,1e-6]\n")
    settings = TuneSettings("MF", "BPR", "ml-100k", 3, params_file=str(space), output_dir=str(workdir / "out"),
                            overrides=["--epochs=1", "--eval_step=1", "--train_batch_size=8192"], plots=False,
                            sampler="random", sampler_seed=0)
    outcome = run_study(settings, log=lambda *_: None)
    assert len(outcome.study.trials) == 3
    assert len(built) == 3 + 2
