"""Load a trained checkpoint and recommend the top-k items for a user, with RecBole's full_sort_topk.

    python examples/recommend_topk.py --checkpoint saved/LightGCN-....pth --user 196 --k 10
    python examples/recommend_topk.py --user 196             # trains a small MF + PSL model first

(installed from a wheel: ``python -m recbole_losses.examples.recommend_topk ...``)

Items the user already interacted with (in training and validation) are never recommended. For
ml-100k the movie titles are read from RecBole's ml-100k.item file beside the interactions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
from recbole.utils.case_study import full_sort_topk

import recbole_losses
from recbole_losses.cli import CommandParser, checked
from recbole_losses.data.datasets import did_you_mean
from recbole_losses.losses._checks import integer


def train_small_model(checkpoint_dir: str, epochs: int, neg_num: int) -> Path:
    """Train MF + PSL on ml-100k and return the best-validation checkpoint it wrote."""
    before = set(Path(checkpoint_dir).glob("*.pth"))
    recbole_losses.run(model="MF", loss="PSL", dataset="ml-100k", config_dict={
        "epochs": epochs, "neg_num": neg_num, "checkpoint_dir": checkpoint_dir,
        "show_progress": False, "state": "WARNING"})
    (written,) = set(Path(checkpoint_dir).glob("*.pth")) - before
    return written


def item_titles(config) -> dict[str, str]:
    """item token -> title, from ``<dataset>.item`` when the dataset has one with a title column."""
    path = os.path.join(config["data_path"], f"{config['dataset']}.item")
    if not os.path.isfile(path):
        return {}
    items = pd.read_csv(path, sep="\t", dtype=str, encoding="latin-1")
    title = next((c for c in items.columns if c.split(":")[0] in ("movie_title", "title")), None)
    return dict(zip(items.iloc[:, 0], items[title])) if title else {}


def recommend(checkpoint: str | os.PathLike, user: str, k: int) -> tuple[list[tuple[str, float]], dict[str, str]]:
    """The ``k`` best (item token, score) pairs for the user with external id ``user``, and the
    titles; ValueError for a user the data does not hold or a ``k`` beyond the items the user can
    be recommended (those not already interacted with)."""
    config, model, dataset, _, _, test_data = recbole_losses.load_data_and_model(checkpoint, {"state": "WARNING"})
    users = dataset.field2token_id[dataset.uid_field]
    if user not in users:
        known = [str(u) for u in users if u != "[PAD]"]
        raise ValueError(f"user {user!r} is not in dataset {config['dataset']}{did_you_mean(user, known)}; "
                         f"its {len(known)} users are ids such as {', '.join(known[:5])}")
    uid = dataset.token2id(dataset.uid_field, [user])
    candidates = dataset.item_num - 1 - len(set(test_data.uid2history_item[uid[0]].tolist()))
    if k > candidates:
        raise ValueError(f"k = {k} is more than the {candidates} items user {user} can be recommended "
                         f"({dataset.item_num - 1} in the catalogue, minus those already interacted with): "
                         f"use k <= {candidates}")
    scores, index = full_sort_topk(uid, model, test_data, k=k, device=config["device"])
    items = dataset.id2token(dataset.iid_field, index.cpu())[0]
    return list(zip(items.tolist(), scores[0].tolist())), item_titles(config)


def main(argv=None) -> int:
    parser = CommandParser(prog=os.path.basename(__file__), description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="a .pth written by recbole-losses (default: train one first)")
    parser.add_argument("--user", default="196", help="the user's id as in the .inter file (default 196)")
    parser.add_argument("--k", type=checked(integer(1)), default=10, help="how many items (default 10)")
    parser.add_argument("--checkpoint-dir", default="saved", help="where the small model is saved (default saved)")
    parser.add_argument("--epochs", type=checked(integer(1)), default=20, help="epochs of the small model (default 20)")
    parser.add_argument("--neg-num", type=checked(integer(1)), default=1000,
                        help="negatives per row of the small model (default 1000)")
    args = parser.parse_args(argv)
    try:
        checkpoint = args.checkpoint or train_small_model(args.checkpoint_dir, args.epochs, args.neg_num)
        ranked, titles = recommend(checkpoint, args.user, args.k)
    except (ValueError, FileNotFoundError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    print(f"top {args.k} items for user {args.user} ({checkpoint}):")
    for rank, (item, score) in enumerate(ranked, 1):
        print(f"{rank:>3}. item {item:>6}  score {score:.4f}  {titles.get(item, '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
