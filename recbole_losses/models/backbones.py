"""Backbone adapters: how to get the embeddings out of each supported RecBole model, whose
``forward`` signatures differ.

A backbone is a RecBole ``GeneralRecommender`` subclass used as is (its parameters, initialisation
and propagation); the adapter only reads from it. Add a model by registering one more
:class:`Backbone` in ``BACKBONES``. LightGCN and NGCF are RecBole's with only the adjacency builder
swapped for the vectorised one of :mod:`.graph` (the same matrix); XSimGCL (:mod:`.xsimgcl`) and
SimGCL (:mod:`.simgcl`) train on noise-perturbed embeddings and add their contrastive terms;
LightGCN++ (:mod:`.lightgcnpp`) is LightGCN with its own normalisation and layer weighting.
``BACKBONES`` are our own (fast) versions; RecBole's other general recommenders are adapted in
:mod:`.adapter` with the same :class:`Backbone` record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from recbole.model.general_recommender import BPR

from .graph import FastLightGCN, FastNGCF
from .lightgcnpp import LightGCNPP
from .simgcl import SimGCL
from .xsimgcl import XSimGCL

Embeddings = tuple[torch.Tensor, torch.Tensor]  # (all users [U, d], all items [I, d])


@dataclass(frozen=True)
class Backbone:
    """``embeddings(module)``: all (user, item) embeddings used for ranking (evaluation too).
    ``training_embeddings(module, user, pos_item)``, optional: the training-time version,
    returning (user_rows, item_all, extra_losses): the [B, d] embeddings of the batch users
    ``user``, all item embeddings, and a tuple of scalar terms the backbone adds to the loss (e.g.
    a contrastive term, already weighted); by default ``embeddings`` with no extra terms.
    ``ego_embeddings(module)``: the embedding tables (layer 0), what ``reg_weight`` regularises
    (by default ``user_embedding`` and ``item_embedding``). ``extra_terms``: the names of the
    extra terms, in order (the train loss line shows them).

    ``pair_scores(module, user [P], item [P]) -> [P]``, for a model whose score is not a product
    of representations (NeuMF, ConvNCF, ...): its own scorer of (user, item) pairs, which then
    scores the candidates (``embeddings`` is unused; the score function is always ``dot``).
    ``kept``: what of the model's own training objective is kept beside the loss (for the docs)."""

    name: str
    recbole_class: type
    embeddings: Callable[[torch.nn.Module], Embeddings] | None = None
    aliases: tuple[str, ...] = ()
    training_embeddings: Callable | None = None
    extra_terms: tuple[str, ...] = ()
    ego_embeddings: Callable[[torch.nn.Module], Embeddings] | None = None
    pair_scores: Callable | None = None
    kept: str = ""

    def __post_init__(self):
        if self.ego_embeddings is None:
            object.__setattr__(self, "ego_embeddings", embedding_tables)
        if self.training_embeddings is None and self.embeddings is not None:
            embeddings = self.embeddings

            def without_extra_terms(module, user, pos_item):
                user_all, item_all = embeddings(module)
                return user_all[user], item_all, ()

            object.__setattr__(self, "training_embeddings", without_extra_terms)


def embedding_tables(module: torch.nn.Module) -> Embeddings:
    """The ``user_embedding`` and ``item_embedding`` tables of RecBole's models."""
    return module.user_embedding.weight, module.item_embedding.weight


def _forward_embeddings(module) -> Embeddings:
    return module.forward()


def _clean_embeddings(module) -> Embeddings:
    return module.forward(perturbed=False)


def _own_training_embeddings(module, user, pos_item):
    user_all, item_all, extra = module.training_embeddings(user, pos_item)
    return user_all[user], item_all, extra


BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        Backbone("MF", BPR, embedding_tables, aliases=("BPR",)),
        Backbone("LightGCN", FastLightGCN, _forward_embeddings),
        Backbone("NGCF", FastNGCF, _forward_embeddings),
        Backbone("XSimGCL", XSimGCL, _clean_embeddings, training_embeddings=_own_training_embeddings,
                 extra_terms=("contrastive",), kept="λ · InfoNCE (final vs layer l*)"),
        Backbone("SimGCL", SimGCL, _clean_embeddings, training_embeddings=_own_training_embeddings,
                 extra_terms=("contrastive",), kept="λ · InfoNCE (two perturbed views)"),
        Backbone("LightGCN++", LightGCNPP, _forward_embeddings, aliases=("LightGCNpp", "LightGCNPP")),
    )
}
