"""Backbone adapters: how to get (all user embeddings, all item embeddings) and the ego
(layer-0) embeddings out of each supported RecBole model, whose ``forward`` signatures differ.

A backbone is a RecBole ``GeneralRecommender`` subclass used as is (its parameters, initialisation
and propagation); the adapter only reads from it. Add a model by registering one more
:class:`Backbone` in ``BACKBONES``. LightGCN and NGCF are RecBole's with only the adjacency builder
swapped for the vectorised one of :mod:`.graph` (the same matrix); XSimGCL (:mod:`.xsimgcl`)
trains on its noise-perturbed embeddings and adds its contrastive term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from recbole.model.general_recommender import BPR

from .graph import NGCF, LightGCN
from .xsimgcl import XSimGCL


@dataclass(frozen=True)
class Backbone:
    """``embed(module)``: all (user, item) embeddings used for ranking (evaluation too).
    ``train_embed(module, user, pos_item)``, optional: the training-time version, returning
    (user_all, item_all, extra_losses) where extra_losses is a tuple of scalar terms the backbone
    adds to the loss (e.g. a contrastive term); defaults to ``embed`` with no extra terms."""

    name: str
    recbole_class: type
    embed: Callable[[torch.nn.Module], tuple[torch.Tensor, torch.Tensor]]
    aliases: tuple[str, ...] = ()
    train_embed: Callable | None = None

    def embed_for_training(self, module, user, pos_item):
        if self.train_embed is not None:
            return self.train_embed(module, user, pos_item)
        return (*self.embed(module), ())

    def ego(self, module: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        return module.user_embedding.weight, module.item_embedding.weight


def _embedding_tables(module):
    return module.user_embedding.weight, module.item_embedding.weight


def _propagate(module):
    return module.forward()


def _clean_propagation(module):
    return module.forward(perturbed=False)


def _xsimgcl_train_embed(module, user, pos_item):
    return module.train_embed(user, pos_item)


BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        Backbone("MF", BPR, _embedding_tables, aliases=("BPR",)),
        Backbone("LightGCN", LightGCN, _propagate),
        Backbone("NGCF", NGCF, _propagate),
        Backbone("XSimGCL", XSimGCL, _clean_propagation, train_embed=_xsimgcl_train_embed),
    )
}
