"""The training command (``recbole-losses`` / ``python -m recbole_losses`` / run_recbole_losses.py):
help from the registries, names resolved command line > config files > defaults and reported from
the run's configuration, dataset names checked before the configuration dump, RecBole's known
third-party warnings filtered inside our entry points and Python API only."""

import argparse
import os
import subprocess
import sys
import urllib.error
import warnings
from pathlib import Path

import pytest

from recbole_losses import available_losses, available_models
from recbole_losses.cli import KNOWN_WARNINGS, known_warnings_filtered, main, resolve_arguments
from recbole_losses.config import Config
from recbole_losses.data.datasets import DOWNLOAD_PROBE_TIMEOUT, benchmark_names, check_dataset

REPO = Path(__file__).resolve().parents[1]
TINY = ["--epochs=1", "--neg_num=8", "--show_progress=False", "--state=WARNING"]


def run_module(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_help_lists_every_registered_loss_backbone_and_benchmark(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in [*available_losses(), *available_models()["with a loss"], *benchmark_names(), "ml-100k"]:
        assert name in text, name


@pytest.mark.parametrize("module", [["recbole_losses"], ["recbole_losses.cli"], ["recbole_losses", "prepare"]])
def test_module_entry_points_answer_help(module, tmp_path):
    done = run_module(*module, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ")
    assert ("--config_files" in done.stdout) != (module[-1] == "prepare")  # training vs preparation


def test_tune_subcommand_answers_help(tmp_path):
    done = run_module("recbole_losses", "tune", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ")


def test_names_come_from_the_command_line_then_the_config_files_then_the_defaults(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("model: NGCF\ndataset: ml-100k\n")
    second.write_text("model: LightGCN\nloss: PSL\n")
    files = [str(first), str(second)]
    none = argparse.Namespace(model=None, loss=None, dataset=None)
    assert resolve_arguments(none, files) == {"model": "LightGCN", "loss": None, "dataset": "ml-100k"}
    given = argparse.Namespace(model="MF", loss="CW", dataset="health")
    assert resolve_arguments(given, files) == {"model": "MF", "loss": "CW", "dataset": "health"}
    assert resolve_arguments(none, None) == {"model": "MF", "loss": None, "dataset": "ml-100k"}


def test_a_config_file_chooses_model_and_loss_and_the_summary_says_so(workdir, capsys):
    (workdir / "run.yaml").write_text("model: LightGCN\nloss: psl\n")
    assert main(["--config_files=run.yaml", *TINY, "--state=INFO"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("best valid (LightGCN, loss=PSL, ml-100k): ")
    assert lines[1].startswith("test       (LightGCN, loss=PSL, ml-100k): ")
    (log_file,) = (workdir / "log" / "LightGCN").glob("*.log")
    assert "run: model=LightGCN, loss=PSL, dataset=ml-100k, preset=None" in log_file.read_text()


def _fails_before_the_config_dump(workdir, capsys, argv) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert not (workdir / "log").exists()  # RecBole's logger (and its 120-line dump) never started
    return captured.err


def test_benchmark_names_in_any_case_and_did_you_mean(workdir, capsys):
    err = _fails_before_the_config_dump(workdir, capsys, ["--dataset=Health", "--loss=CW"])
    assert "benchmark dataset 'health' is not prepared" in err
    err = _fails_before_the_config_dump(workdir, capsys, ["--dataset=helth", "--loss=CW"])
    assert "dataset 'helth' not found (did you mean 'health'?)" in err
    err = _fails_before_the_config_dump(workdir, capsys, ["--dataset=gowala", "--loss=CW"])
    assert "did you mean 'gowalla'" in err


def test_recbole_catalogue_offline_fails_fast_saying_how_to_provide_the_files(workdir, capsys, monkeypatch):
    calls = []

    def offline(request, timeout=None):
        calls.append((request.full_url, timeout))
        raise urllib.error.URLError("simulated: no network")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    err = _fails_before_the_config_dump(workdir, capsys, ["--dataset=ml-1m", "--loss=CW"])
    assert calls == [("https://recbole.s3-accelerate.amazonaws.com/ProcessedDatasets/MovieLens/ml-1m.zip",
                      DOWNLOAD_PROBE_TIMEOUT)]
    assert "dataset 'ml-1m' is in RecBole's catalogue" in err and "simulated: no network" in err
    assert "Download https://recbole.s3-accelerate.amazonaws.com/ProcessedDatasets/MovieLens/ml-1m.zip" in err
    assert os.path.join("dataset", "ml-1m", "ml-1m.inter") in err and "--data_path" in err


def test_recbole_catalogue_online_is_left_to_recbole_download(workdir, monkeypatch):
    class Answer:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr("urllib.request.urlopen", lambda request, timeout=None: Answer())
    check_dataset(Config("MF", "ml-1m", config_dict={"loss": "CW"}))  # no error: RecBole downloads it


def test_known_warnings_are_filtered_inside_our_entry_points_only():
    def raise_known(message):
        warnings.warn_explicit(message, UserWarning, "dataset.py", 1, module="recbole.data.dataset.dataset")

    samples = [pattern.replace("\\", "") for pattern in KNOWN_WARNINGS]
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with known_warnings_filtered():
            for sample in samples:
                raise_known(sample)
            warnings.warn_explicit(samples[0], UserWarning, "mine.py", 1, module="mycode")  # not RecBole's
        for sample in samples:  # outside our entry points (RecBole used directly): shown
            raise_known(sample)
    assert [str(w.message) for w in shown] == [samples[0], *samples]


def test_prepare_takes_a_benchmark_name_in_any_case_and_checks_its_counts(tmp_path, capsys):
    from recbole_losses.cli import prepare_main

    src = tmp_path / "src"
    src.mkdir()
    for name, header, rows in (("train.tsv", "user_procid\titem_procid", ["0\t0", "0\t1"]),
                               ("test.tsv", "user_procid\titem_procid", ["0\t2"]),
                               ("user_list.tsv", "user_orgid\tuser_procid", ["U0\t0"]),
                               ("item_list.tsv", "item_orgid\titem_procid", ["I0\t0", "I1\t1", "I2\t2"])):
        (src / name).write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    assert prepare_main(["--dataset=Health", f"--source={src}", f"--data_path={tmp_path / 'out'}"]) == 2
    assert "the source does not hold the health split" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_module_subcommands_dispatch_to_their_entry_points(monkeypatch):
    import types

    from recbole_losses.__main__ import main as module_main

    seen = []
    fake = types.ModuleType("recbole_losses.tuning.command")
    fake.main = lambda argv=None, prog=None: seen.append((argv, prog)) or 0  # main(argv, prog) -> int
    monkeypatch.setitem(sys.modules, "recbole_losses.tuning.command", fake)
    assert module_main(["tune", "--study=x"]) == 0
    assert seen == [(["--study=x"], "python -m recbole_losses tune")]
