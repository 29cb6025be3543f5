"""Training: one :class:`Trainer` loop and one :class:`Recipe` per model family (see ``engine.train.recipes``)."""

from engine.train.recipe import Recipe
from engine.train.trainer import TrainConfig, Trainer, TrainResult

__all__ = ["Recipe", "TrainConfig", "TrainResult", "Trainer"]
