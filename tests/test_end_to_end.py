"""End to end on ml-100k through the runner: a few epochs on CPU must beat the most-popular
ranking, measured in the same test on the same split (RecBole's Pop model). Pop is the simplest
non-personalised ranker; a trained model that cannot beat it has learned nothing."""

import ast

import pytest

from recbole_losses import run
from recbole_losses.cli import main

SMALL = {"epochs": 2, "eval_step": 2, "neg_num": 100, "show_progress": False}
MARGIN = 1.2  # the trained models must beat Pop's NDCG@10 by 20 %


@pytest.mark.parametrize("model,loss", [("MF", "CW"), ("LightGCN", "CW")])
def test_model_with_loss_beats_most_popular(workdir, popularity_ndcg10, model, loss):
    result = run(model, loss, "ml-100k", config_dict=SMALL)
    assert set(result) >= {"best_valid_score", "best_valid_result", "test_result"}
    assert result["best_valid_score"] == result["best_valid_result"]["ndcg@20"]
    for value in result["test_result"].values():
        assert 0.0 <= value <= 1.0
    assert result["test_result"]["ndcg@10"] > MARGIN * popularity_ndcg10
    assert list((workdir / "saved").glob(f"{model}-*.pth"))  # RecBole's checkpointing still works
    # RecBole's logging and TensorBoard, per run although the Pop fixture ran first in this process
    (log_file,) = (workdir / "log" / model).glob("*.log")
    assert "test result" in log_file.read_text()
    assert list((workdir / "log_tensorboard" / log_file.stem).glob("events.out.tfevents.*"))


def test_stock_lightgcn_through_the_cli_beats_most_popular(workdir, popularity_ndcg10, capsys):
    code = main(["--model=LightGCN", "--dataset=ml-100k", "--epochs=3", "--eval_step=3", "--learning_rate=0.01", "--show_progress=False", "--state=WARNING"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("best valid (LightGCN, loss=None, ml-100k): ")
    test_metrics = ast.literal_eval(lines[1].split(": ", 1)[1])
    assert set(test_metrics) == {"recall@10", "recall@20", "ndcg@10", "ndcg@20"}
    assert test_metrics["ndcg@10"] > MARGIN * popularity_ndcg10
