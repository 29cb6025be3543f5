"""Hair colour edits recolour the face's own hair (engine.face.hair), not the background and not the skin."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.face.hair import _opponent, hair_colour, hair_colour_edit
from engine.face.regions import region_map

SIDE = 128
BACKGROUND, SKIN = (0.55, 0.75, 0.95), (0.45, 0.05, -0.25)  # sky blue; skin tone (engine units, [-1, 1])
DARK, GOLD = (-0.8, -0.82, -0.85), (0.6, 0.3, -0.3)


def head(hair: tuple[float, float, float], bald: bool = False, seed: int = 0) -> torch.Tensor:
    """A head crop: background, a hair cap around an inner face of skin (the template's places), light noise."""
    g = torch.Generator().manual_seed(seed)
    img = torch.tensor(BACKGROUND).view(3, 1, 1).expand(3, SIDE, SIDE).clone()
    yy, xx = torch.meshgrid(torch.arange(SIDE), torch.arange(SIDE), indexing="ij")
    cap = ((xx - 64) / 46.0) ** 2 + ((yy - 66) / 58.0) ** 2 < 1  # the head and its hair
    face = torch.from_numpy(region_map("hair", SIDE) < 0.5)  # the inner face
    img[:, cap] = torch.tensor(SKIN if bald else hair).view(3, 1)
    img[:, face] = torch.tensor(SKIN).view(3, 1)
    return (img + torch.randn(3, SIDE, SIDE, generator=g) * 0.03)[None]


def mean_colour(x: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    return x[0][:, where].mean(dim=1)


def test_the_hair_colour_is_the_hairs_not_the_backgrounds_or_the_skins():
    for hair in (DARK, GOLD):
        found = hair_colour(head(hair))
        expected = _opponent(torch.tensor(hair).view(1, 3, 1, 1))[0, :, 0, 0]
        assert torch.allclose(found.mean[0], expected, atol=0.05)


def test_recolouring_moves_the_hair_to_the_exemplars_colour_and_leaves_the_rest():
    source, exemplar = head(DARK), head(GOLD, seed=1)
    yy, xx = torch.meshgrid(torch.arange(SIDE), torch.arange(SIDE), indexing="ij")
    cap = ((xx - 64) / 46.0) ** 2 + ((yy - 66) / 58.0) ** 2 < 1
    face = torch.from_numpy(region_map("hair", SIDE) == 0)  # where the mask is shut
    mask = torch.from_numpy(region_map("hair", SIDE))[None, None]
    out = hair_colour_edit(source, exemplar, mask)
    inner_cap = ((xx - 64) / 40.0) ** 2 + ((yy - 66) / 52.0) ** 2 < 1  # away from the soft edges
    hair = inner_cap & torch.from_numpy(region_map("hair", SIDE) > 0.99)
    assert torch.allclose(mean_colour(out, hair), torch.tensor(GOLD), atol=0.08)  # the hair is gold now
    assert (out - source)[0][:, face].abs().max() < 1e-6  # the face: outside the mask, untouched
    background = ~cap & torch.from_numpy(region_map("hair", SIDE) > 0.99)
    assert (out - source)[0][:, background].abs().mean() < 0.01  # the sky: not like the hair, kept
    # a quarter-open mask moves a quarter of the way
    quarter = hair_colour_edit(source, exemplar, mask * 0.25)
    assert torch.allclose(quarter - source, (out - source) * 0.25, atol=1e-5)


def test_a_bald_crown_is_skin_and_stays_skin():
    source, exemplar = head(DARK, bald=True), head(GOLD, seed=1)
    mask = torch.ones(1, 1, SIDE, SIDE)
    out = hair_colour_edit(source, exemplar, mask)
    skin = (torch.linalg.vector_norm(source[0] - torch.tensor(SKIN).view(3, 1, 1), dim=0) < 0.1)
    assert (out - source)[0][:, skin].abs().mean() < 0.02


@pytest.mark.parametrize("side", [96, 256])
def test_masks_and_exemplars_of_another_size_are_resized(side):
    source = torch.nn.functional.interpolate(head(DARK), size=(side, side), mode="bilinear")
    out = hair_colour_edit(source, head(GOLD, seed=1), torch.zeros(1, 1, 32, 32))
    assert out.shape == source.shape and torch.equal(out, source)
    assert np.isfinite(hair_colour_edit(source, head(GOLD), torch.ones(1, 1, 32, 32)).numpy()).all()
