"""Every script in examples/ runs on tiny settings and prints what its docstring promises, and
answers a bad argument, a bad checkpoint, an unknown user or a k out of range with one line and
exit status 2."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import recbole_losses

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def run_example(name, *args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_every_example_is_tested():
    tested = {"compare_losses.py", "recommend_topk.py", "plain_pytorch_loop.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} - {"__init__.py"} == tested
    assert set(BAD_ARGUMENTS) == tested


def example(name):
    """The example module ``name``, imported from its file (as ``python examples/<name>`` runs it)."""
    spec = importlib.util.spec_from_file_location(f"example_{name[:-3]}", EXAMPLES / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_in_process(name, args, capsys):
    """(exit status, stderr) of ``main(args)`` of example ``name``."""
    try:
        status = example(name).main(list(args))
    except SystemExit as done:
        status = done.code
    return status, capsys.readouterr().err.strip()


@pytest.fixture(scope="module")
def toy_checkpoint(tmp_path_factory):
    """A checkpoint of MF + PSL trained one epoch on the toy dataset (60 items)."""
    from recbole_losses.data.toy import write_toy_dataset

    root = write_toy_dataset(tmp_path_factory.mktemp("examples"))
    cwd = os.getcwd()
    os.chdir(root)
    try:
        recbole_losses.run("MF", "PSL", "toy", config_dict={
            "data_path": str(root), "epochs": 1, "neg_num": 4, "topk": [5], "valid_metric": "NDCG@5",
            "show_progress": False, "state": "ERROR", "checkpoint_dir": str(root / "saved")})
    finally:
        os.chdir(cwd)
    (checkpoint,) = (root / "saved").glob("*.pth")
    return root, checkpoint


BAD_ARGUMENTS = {
    "recommend_topk.py": [
        (["--k", "0"], r"argument --k: must be an integer >= 1, got 0"),
        (["--k", "ten"], r"argument --k: must be an integer >= 1, got 'ten'"),
        (["--epochs", "-1"], r"argument --epochs: must be an integer >= 1, got -1"),
        (["--neg-num", "0"], r"argument --neg-num: must be an integer >= 1, got 0"),
        (["--checkpoint", "missing.pth"], r"error: checkpoint missing.pth not found"),
        (["--checkpoint", "garbage.pth"], r"error: checkpoint garbage.pth is not a complete torch checkpoint"),
    ],
    "compare_losses.py": [
        (["--epochs", "-1"], r"argument --epochs: must be an integer >= 1, got -1"),
        (["--neg-num", "0"], r"argument --neg-num: must be an integer >= 1, got 0"),
        (["--losses", "PSL", "XYZ"], r"error: unknown loss 'XYZ'; valid choices: "),
        (["--dataset", "toy", "--data_path", "nowhere", "--epochs", "1"], r"error: dataset 'toy' not found"),
    ],
    "plain_pytorch_loop.py": [
        (["--loss-args", "{tau: 0.1}"], r"error: --loss-args '\{tau: 0.1\}' is not JSON \(Expecting property name"),
        (["--loss-args", '{"tua": 0.1}'], r"error: unknown hyperparameter 'tua' for loss PSL \(did you mean 'tau'\?\)"),
        (["--loss-args", '{"tau": -1}'], r"error: PSL: tau must be a number > 0, got -1.0"),
        (["--loss-args", "[0.1]"], r"error: --loss-args must be a JSON object"),
        (["--loss", "XYZ"], r"error: unknown loss 'XYZ'; valid choices: "),
        (["--neg-num", "0"], r"argument --neg-num: must be an integer >= 1, got 0"),
        (["--batch-size", "0"], r"argument --batch-size: must be an integer >= 1, got 0"),
        (["--epochs", "-1"], r"argument --epochs: must be an integer >= 1, got -1"),
    ],
}
CASES = [(name, args, message) for name, cases in BAD_ARGUMENTS.items() for args, message in cases]


@pytest.mark.parametrize("name,args,message", CASES, ids=[f"{n}:{' '.join(a)}" for n, a, _ in CASES])
def test_a_bad_argument_is_one_line_with_exit_status_2(workdir, capsys, name, args, message):
    (workdir / "garbage.pth").write_text("not a checkpoint")
    status, err = run_in_process(name, args, capsys)
    assert status == 2 and "\n" not in err and "Traceback" not in err, err
    assert re.search(message, err), err


def test_recommend_topk_refuses_an_unknown_user_and_a_k_beyond_the_catalogue(toy_checkpoint, capsys):
    root, checkpoint = toy_checkpoint
    status, err = run_in_process("recommend_topk.py", ["--checkpoint", str(checkpoint), "--user", "u999"], capsys)
    assert status == 2 and "\n" not in err, err
    assert err.endswith("error: user 'u999' is not in dataset toy (did you mean 'u9'?); its 40 users are ids such as "
                        "u0, u1, u2, u3, u4"), err
    status, err = run_in_process("recommend_topk.py", ["--checkpoint", str(checkpoint), "--user", "u0", "--k", "61"], capsys)
    assert status == 2 and "\n" not in err, err
    assert re.search(r"error: k = 61 is more than the \d+ items user u0 can be recommended \(60 in the catalogue, "
                     r"minus those already interacted with\): use k <= \d+$", err), err
    status, _ = run_in_process("recommend_topk.py", ["--checkpoint", str(checkpoint), "--user", "u0", "--k", "3"], capsys)
    assert status == 0


def test_compare_losses_reads_a_dataset_from_data_path(toy_checkpoint, tmp_path, capsys):
    root, _ = toy_checkpoint
    status = example("compare_losses.py").main(["--losses", "PSL", "--dataset", "toy", "--data_path", str(root),
                                                "--epochs", "1", "--neg-num", "4"])
    assert status == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| loss | valid ndcg@20 |") and lines[2].startswith("| PSL |")


def test_compare_two_losses(tmp_path):
    out = run_example("compare_losses.py", "--losses", "PSL", "cw", "--epochs", "1", "--neg-num", "8",
                      cwd=tmp_path).stdout.strip().splitlines()
    assert out[0].startswith("| loss | valid ndcg@20 | test recall@10 |")
    assert [line.split("|")[1].strip() for line in out[2:]] == ["PSL", "CW"]
    for line in out[2:]:
        values = [float(v) for v in line.strip("|").split("|")[1:]]
        assert all(0.0 <= v <= 1.0 for v in values)


def test_recommend_topk_for_a_user(tmp_path):
    done = run_example("recommend_topk.py", "--user", "196", "--k", "5", "--epochs", "1", "--neg-num", "8",
                       "--checkpoint-dir", "ckpt", cwd=tmp_path)
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("top 5 items for user 196 (ckpt")
    ranked = [re.match(r"\s*(\d)\. item\s+(\d+)\s+score (-?[\d.]+)", line) for line in lines[1:]]
    assert [int(m.group(1)) for m in ranked] == [1, 2, 3, 4, 5]
    scores = [float(m.group(3)) for m in ranked]
    assert scores == sorted(scores, reverse=True)
    assert len({m.group(2) for m in ranked}) == 5
    # the titles come from ml-100k.item
    assert all(len(line.split("  ")) >= 3 for line in lines[1:])


@pytest.mark.parametrize("loss", ["CW"])  # CW also takes sampled_pos_score
def test_loss_in_a_plain_pytorch_loop(tmp_path, loss):
    out = run_example("plain_pytorch_loop.py", "--loss", loss, "--epochs", "1", "--neg-num", "8",
                      cwd=tmp_path).stdout
    assert re.search(rf"epoch 1: {loss} loss \d+\.\d+", out)
    recall = float(re.search(r"test Recall@20 = ([\d.]+)", out).group(1))
    assert 0.0 < recall <= 1.0
