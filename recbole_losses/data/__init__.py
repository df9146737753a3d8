"""Data side of the sampled batch mode: the vectorised sampler and RecBole dataloader glue."""

from .sampler import DISTRIBUTIONS, TrainingItemSampler

__all__ = ["DISTRIBUTIONS", "TrainingItemSampler"]
