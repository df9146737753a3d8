"""Every script in examples/ runs on tiny settings and prints what its docstring promises."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


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
