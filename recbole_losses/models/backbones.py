"""Backbone adapters: how to get the embeddings out of each supported RecBole model, whose
``forward`` signatures differ.

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

from .graph import FastLightGCN, FastNGCF
from .xsimgcl import XSimGCL

Embeddings = tuple[torch.Tensor, torch.Tensor]  # (all users [U, d], all items [I, d])


@dataclass(frozen=True)
class Backbone:
    """``embeddings(module)``: all (user, item) embeddings used for ranking (evaluation too).
    ``training_embeddings(module, user, pos_item)``, optional: the training-time version,
    returning (user_all, item_all, extra_losses) where extra_losses is a tuple of scalar terms the
    backbone adds to the loss (e.g. a contrastive term); by default ``embeddings`` with no extra
    terms. :meth:`ego_embeddings`: the embedding tables (layer 0), what ``reg_weight`` regularises.
    ``extra_terms``: the names of those extra terms, in order (the train loss line shows them)."""

    name: str
    recbole_class: type
    embeddings: Callable[[torch.nn.Module], Embeddings]
    aliases: tuple[str, ...] = ()
    training_embeddings: Callable | None = None
    extra_terms: tuple[str, ...] = ()

    def __post_init__(self):
        if self.training_embeddings is None:
            embeddings = self.embeddings

            def without_extra_terms(module, user, pos_item):
                return (*embeddings(module), ())

            object.__setattr__(self, "training_embeddings", without_extra_terms)

    @staticmethod
    def ego_embeddings(module: torch.nn.Module) -> Embeddings:
        return module.user_embedding.weight, module.item_embedding.weight


def _forward_embeddings(module) -> Embeddings:
    return module.forward()


def _clean_embeddings(module) -> Embeddings:
    return module.forward(perturbed=False)


def _xsimgcl_training_embeddings(module, user, pos_item):
    return module.training_embeddings(user, pos_item)


BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        Backbone("MF", BPR, Backbone.ego_embeddings, aliases=("BPR",)),
        Backbone("LightGCN", FastLightGCN, _forward_embeddings),
        Backbone("NGCF", FastNGCF, _forward_embeddings),
        Backbone("XSimGCL", XSimGCL, _clean_embeddings, training_embeddings=_xsimgcl_training_embeddings,
                 extra_terms=("contrastive",)),
    )
}
