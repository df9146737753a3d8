"""A recbole-losses loss in a plain PyTorch training loop: no RecBole trainer, model or sampler.

    python examples/plain_pytorch_loop.py --loss PSL --epochs 20
    python examples/plain_pytorch_loop.py --loss CW --loss-args '{"beta": 0.8, "tau_plus": 0.1}'

(installed from a wheel: ``python -m recbole_losses.examples.plain_pytorch_loop ...``)

Matrix factorisation on ml-100k's interactions (read from RecBole's copy), a random 80/20 split,
uniform negatives, the half-cosine score most of the losses are designed for, and Recall@20 with
the training items masked. The loss sees only score tensors: pos_score [B], neg_score [B, N] and,
for losses that use them (CW), sampled_pos_score [B, M].
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pandas as pd
import recbole
import torch
import torch.nn.functional as F

from recbole_losses import build_loss
from recbole_losses.cli import CommandParser, checked
from recbole_losses.losses._checks import integer


def load_ml100k() -> tuple[np.ndarray, int, int]:
    """(user, item) index pairs of ml-100k with 0-based contiguous ids, and the two counts."""
    path = os.path.join(os.path.dirname(recbole.__file__), "dataset_example", "ml-100k", "ml-100k.inter")
    frame = pd.read_csv(path, sep="\t", usecols=[0, 1], dtype=str)
    users, items = pd.factorize(frame.iloc[:, 0])[0], pd.factorize(frame.iloc[:, 1])[0]
    return np.stack([users, items], axis=1), int(users.max()) + 1, int(items.max()) + 1


class MF(torch.nn.Module):
    def __init__(self, n_users: int, n_items: int, dim: int):
        super().__init__()
        self.user = torch.nn.Embedding(n_users, dim)
        self.item = torch.nn.Embedding(n_items, dim)
        torch.nn.init.normal_(self.user.weight, std=0.1)
        torch.nn.init.normal_(self.item.weight, std=0.1)

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Half cosine, in [-1/2, 1/2]; ``items`` is [B] or [B, N]."""
        u = F.normalize(self.user(users), dim=-1)
        v = F.normalize(self.item(items), dim=-1)
        return 0.5 * (v * (u.unsqueeze(1) if v.dim() == 3 else u)).sum(-1)


def sample_positives(train: torch.Tensor, users: torch.Tensor, m: int, generator) -> torch.Tensor:
    """[B, M] items drawn from each row user's training items (for CW's sampled_pos_score)."""
    order = torch.argsort(train[:, 0], stable=True)
    sorted_items = train[order, 1]
    counts = torch.bincount(train[:, 0], minlength=int(users.max()) + 1)
    starts = torch.cumsum(counts, 0) - counts
    offsets = (torch.rand(users.shape[0], m, generator=generator) * counts[users].unsqueeze(1)).long()
    return sorted_items[starts[users].unsqueeze(1) + offsets]


def recall_at(model: MF, train: torch.Tensor, test: torch.Tensor, n_users: int, n_items: int, k: int = 20) -> float:
    with torch.no_grad():
        u = F.normalize(model.user.weight, dim=-1)
        v = F.normalize(model.item.weight, dim=-1)
        scores = u @ v.T
        scores[train[:, 0], train[:, 1]] = -float("inf")
        top = torch.topk(scores, k, dim=1).indices
        relevant = torch.zeros(n_users, n_items, dtype=torch.bool)
        relevant[test[:, 0], test[:, 1]] = True
        hits = relevant.gather(1, top).sum(1).float()
        n_test = relevant.sum(1)
        has_test = n_test > 0
        return float((hits[has_test] / n_test[has_test].clamp(max=k)).mean())


def train(loss_name: str, loss_args: dict, epochs: int, neg_num: int, batch_size: int, seed: int = 2024) -> float:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    pairs, n_users, n_items = load_ml100k()
    pairs = torch.from_numpy(pairs).long()
    in_test = torch.rand(pairs.shape[0], generator=generator) < 0.2
    train_pairs, test_pairs = pairs[~in_test], pairs[in_test]
    model = MF(n_users, n_items, dim=64)
    loss_fn = build_loss(loss_name, **loss_args)
    optimizer = torch.optim.Adam([*model.parameters(), *loss_fn.parameters()], lr=1e-3)
    for epoch in range(epochs):
        total = 0.0
        for batch in torch.randperm(train_pairs.shape[0], generator=generator).split(batch_size):
            users, pos = train_pairs[batch, 0], train_pairs[batch, 1]
            neg = torch.randint(n_items, (users.shape[0], neg_num), generator=generator)
            sampled_pos = sample_positives(train_pairs, users, 4, generator)
            loss = loss_fn(model.score(users, pos), model.score(users, neg),
                           sampled_pos_score=model.score(users, sampled_pos), user=users, pos_item=pos, neg_item=neg)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach().item() * users.shape[0]
        print(f"epoch {epoch + 1}: {loss_name} loss {total / train_pairs.shape[0]:.4f}")
    recall = recall_at(model, train_pairs, test_pairs, n_users, n_items)
    print(f"{loss_fn!r}: test Recall@20 = {recall:.4f}")
    return recall


def loss_arguments(text: str) -> dict:
    """``--loss-args``: a JSON object of hyperparameters; ValueError saying what is wrong."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"--loss-args {text!r} is not JSON ({err.msg} at column {err.colno}); "
                         'give an object such as \'{"tau": 0.1}\'') from None
    if not isinstance(value, dict):
        raise ValueError(f"--loss-args must be a JSON object such as '{{\"tau\": 0.1}}', got {text!r}")
    return value


def main(argv=None) -> int:
    parser = CommandParser(prog=os.path.basename(__file__), description=__doc__.split("\n\n")[0])
    parser.add_argument("--loss", default="PSL", help="any registered loss (default PSL)")
    parser.add_argument("--loss-args", default="{}", help='its hyperparameters as JSON, e.g. \'{"tau": 0.1}\'')
    parser.add_argument("--epochs", type=checked(integer(1)), default=20)
    parser.add_argument("--neg-num", type=checked(integer(1)), default=256)
    parser.add_argument("--batch-size", type=checked(integer(1)), default=1024)
    args = parser.parse_args(argv)
    try:
        params = loss_arguments(args.loss_args)
        build_loss(args.loss, **params)  # the loss and its settings checked before any data is read
    except ValueError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    train(args.loss, params, args.epochs, args.neg_num, args.batch_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
