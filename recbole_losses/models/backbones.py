"""Backbone adapters: how to get (all user embeddings, all item embeddings) and the ego
(layer-0) embeddings out of each supported RecBole model, whose ``forward`` signatures differ.

A backbone is a RecBole ``GeneralRecommender`` subclass used as is (its parameters, initialisation
and propagation); the adapter only reads from it. Add a model by registering one more
:class:`Backbone` in ``BACKBONES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from recbole.model.general_recommender import BPR, NGCF, LightGCN


@dataclass(frozen=True)
class Backbone:
    name: str
    recbole_class: type
    embed: Callable[[torch.nn.Module], tuple[torch.Tensor, torch.Tensor]]
    aliases: tuple[str, ...] = ()

    def ego(self, module: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        return module.user_embedding.weight, module.item_embedding.weight


def _embedding_tables(module):
    return module.user_embedding.weight, module.item_embedding.weight


def _propagate(module):
    return module.forward()


BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        Backbone("MF", BPR, _embedding_tables, aliases=("BPR",)),
        Backbone("LightGCN", LightGCN, _propagate),
        Backbone("NGCF", NGCF, _propagate),
    )
}
