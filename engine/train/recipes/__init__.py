"""Registry of training recipes: ``facet train NAME`` and the app list exactly what is in :data:`RECIPES`.

Adding a model family is one module with a :class:`~engine.train.recipe.Recipe` subclass and one line
below. Build recipes with :func:`create_recipe` (it seeds torch so initial weights are repeatable, and
takes resolution/attributes from a base bundle when the recipe builds on one).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from engine.errors import FacetError
from engine.train.recipe import Recipe
from engine.train.recipes.cgan import CganRecipe
from engine.train.recipes.domain import DomainEncoderRecipe
from engine.train.recipes.elegant import ElegantRecipe
from engine.train.recipes.elegant_mask import MaskElegantRecipe
from engine.train.recipes.encoders import ClassifierRecipe, EncoderYRecipe, EncoderZRecipe

RECIPES: dict[str, type[Recipe]] = {
    "cgan": CganRecipe,
    "encoder-z": EncoderZRecipe,
    "encoder-y": EncoderYRecipe,
    "classifier": ClassifierRecipe,
    "encoder-domain": DomainEncoderRecipe,
    "elegant": ElegantRecipe,
    "elegant-mask": MaskElegantRecipe,
}


def recipe_config(name: str, values: dict[str, Any], base: Any = None) -> Any:
    """The recipe's Config dataclass from ``values`` (unknown keys refused); resolution defaults to the base's."""
    cls = get_recipe(name)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise FacetError(f"recipe {name!r} has no setting(s) {', '.join(unknown)}; it has {', '.join(sorted(fields))}")
    values = dict(values)
    if base is not None and values.get("resolution") is None:
        values["resolution"] = base.resolution
    values = {k: v for k, v in values.items() if v is not None}
    return cls.Config(**values)


def get_recipe(name: str) -> type[Recipe]:
    try:
        return RECIPES[name]
    except KeyError:
        raise FacetError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}") from None


def create_recipe(
    name: str, values: dict[str, Any], attributes: list[str] | None = None, base: Any = None, seed: int = 0
) -> Recipe:
    """Seed torch, then build recipe ``name`` (attributes default to the base bundle's)."""
    config = recipe_config(name, values, base)
    if attributes is None:
        if base is None:
            raise FacetError(f"recipe {name!r} needs attribute names (from the data or a base bundle)")
        attributes = base.attributes
    torch.manual_seed(seed)
    return get_recipe(name)(config, list(attributes), base=base)
