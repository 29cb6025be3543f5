"""Shapes and conditioning contracts of the cGAN networks at every training resolution."""

from __future__ import annotations

import pytest
import torch

from engine.models.cgan import ConvEncoder, Discriminator, Generator


@pytest.mark.parametrize("res", [32, 64, 128])
def test_shapes(res):
    n, b = 5, 3
    G = Generator(Generator.Config(res, z_dim=16, n_attrs=n, base_channels=8))
    D = Discriminator(Discriminator.Config(res, n_attrs=n, base_channels=8))
    E = ConvEncoder(ConvEncoder.Config(res, out_dim=16, base_channels=8, feature_dim=32))
    z, y = torch.randn(b, 16), torch.ones(b, n)
    x = G(z, y)
    assert x.shape == (b, 3, res, res) and x.abs().max() <= 1
    adv, aux = D(x, y)
    assert adv.shape == (b,) and aux.shape == (b, n)
    assert E(x).shape == (b, 16) and E.features(x).shape == (b, 32)
    assert len(E.feature_maps(x)) == len(E.conv) // 3 + 1


def test_conditioning_paths():
    """G and D's real/fake logit depend on y; D's auxiliary head must not (it would copy y)."""
    G = Generator(Generator.Config(32, z_dim=16, n_attrs=4, base_channels=8)).eval()
    D = Discriminator(Discriminator.Config(32, n_attrs=4, base_channels=8)).eval()
    z, y = torch.randn(2, 16), torch.ones(2, 4)
    assert not torch.allclose(G(z, y), G(z, -y))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    (a1, aux1), (a2, aux2) = D(x, y), D(x, -y)
    assert not torch.allclose(a1, a2) and torch.equal(aux1, aux2)


def test_wrong_shapes_are_refused():
    G = Generator(Generator.Config(32, z_dim=16, n_attrs=4, base_channels=8))
    with pytest.raises(ValueError, match="G expects"):
        G(torch.randn(2, 15), torch.ones(2, 4))
    D = Discriminator(Discriminator.Config(32, n_attrs=4, base_channels=8))
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\)"):
        D(torch.zeros(2, 3, 64, 64), torch.ones(2, 4))
