"""ELEGANT networks and recipe mechanics: shapes, block exchange, residual identity, pairing, reservoir."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import FacetError
from engine.models.elegant import (
    ElegantDecoder,
    ElegantDiscriminator,
    ElegantEncoder,
    block_slice,
    exchange,
    half,
)
from engine.models.registry import build_network, network_spec
from engine.train.recipes.elegant import ElegantRecipe, SampleMemory, attribute_cycle

TINY = dict(n_attrs=3, block_channels=4, base_channels=8, max_channels=32, latent_size=4)


def nets(resolution: int, **kw):
    cfg = {**TINY, "resolution": resolution, **kw}
    enc = ElegantEncoder(ElegantEncoder.Config(**{k: v for k, v in cfg.items() if k not in ("zero_init", "skips", "upsample")}))
    return enc, ElegantDecoder(ElegantDecoder.Config(**cfg))


@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
def test_shapes_at_every_resolution(resolution):
    enc, dec = nets(resolution)
    x = torch.randn(2, 3, resolution, resolution)
    z, skips = enc(x)
    assert z.shape == (2, 3 * 4, 4, 4)
    assert len(skips) == len(dec.ups)
    assert skips[0].shape[-1] == resolution // 2  # finest skip first
    assert dec(x, z, z, skips).shape == x.shape
    y = torch.ones(2, 3)
    full = ElegantDiscriminator(ElegantDiscriminator.Config(resolution, 3, 8, 32))
    halfd = ElegantDiscriminator(ElegantDiscriminator.Config(resolution // 2, 3, 8, 32))
    assert full(x, y)[0].shape == (2, 16) and full(x, y)[1] is None
    assert halfd(half(x), y)[0].shape == (2, 16)
    aux = ElegantDiscriminator(ElegantDiscriminator.Config(resolution, 3, 8, 32, aux_classifier=True))
    logits, attrs = aux(x, y)
    assert logits.shape == (2, 16) and attrs.shape == (2, 3)


def test_auxiliary_classifier_cannot_read_the_labels():
    """The attribute logits depend on the image only; the patch logits on both."""
    torch.manual_seed(0)
    d = ElegantDiscriminator(ElegantDiscriminator.Config(32, 3, 8, 32, aux_classifier=True))
    x = torch.randn(2, 3, 32, 32)
    adv_pos, attrs_pos = d(x, torch.ones(2, 3))
    adv_neg, attrs_neg = d(x, -torch.ones(2, 3))
    assert torch.equal(attrs_pos, attrs_neg)
    assert not torch.allclose(adv_pos, adv_neg)


def test_shape_checks_name_the_module():
    enc, dec = nets(32)
    with pytest.raises(ValueError, match="ElegantEncoder expects images"):
        enc(torch.randn(1, 3, 64, 64))
    z, skips = enc(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="ElegantDecoder expects a new latent"):
        dec(torch.randn(1, 3, 32, 32), z[:, :5], z, skips)
    with pytest.raises(ValueError, match="skip"):
        dec(torch.randn(1, 3, 32, 32), z, z, skips[:0] + [torch.randn(1, 7, 16, 16)])
    d = ElegantDiscriminator(ElegantDiscriminator.Config(32, 3, 8, 32))
    with pytest.raises(ValueError, match="labels"):
        d(torch.randn(2, 3, 32, 32), torch.ones(2, 4))
    with pytest.raises(ValueError, match="resolution"):
        nets(48)


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_zero_initialised_decoder_is_the_identity(upsample):
    enc, dec = nets(64, upsample=upsample)
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    z, skips = enc(x)
    other = torch.randn_like(z)
    assert torch.equal(dec(x, z, z, skips), x)
    assert torch.equal(dec(x, other, z, skips), x)  # zero residual whatever the latent


def test_exchange_moves_only_the_chosen_blocks():
    za, zb = torch.randn(2, 12, 4, 4), torch.randn(2, 12, 4, 4)
    zc = exchange(za, zb, [1], 4)
    assert torch.equal(zc[:, block_slice(1, 4)], zb[:, 4:8])
    assert torch.equal(zc[:, :4], za[:, :4]) and torch.equal(zc[:, 8:], za[:, 8:])
    assert torch.equal(exchange(za, zb, [0, 2], 4, 0.0), za)  # strength 0: identity
    mid = exchange(za, zb, [0, 2], 4, torch.tensor([0.5, 1.5]))
    assert torch.allclose(mid[:, :4], (za[:, :4] + zb[:, :4]) / 2)
    assert torch.allclose(mid[:, 8:], za[:, 8:] + 1.5 * (zb[:, 8:] - za[:, 8:]))  # beyond 1 extrapolates
    assert torch.equal(mid[:, 4:8], za[:, 4:8])


def test_decoder_reads_the_exchanged_block():
    """With a trained-like (non-zero) decoder the output depends on block i of the new latent, and
    feeding the own latent twice is deterministic."""
    torch.manual_seed(1)
    enc, dec = nets(32, zero_init=False, norm="none")
    xa, xb = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    (za, sa), (zb, _) = enc(xa), enc(xb)
    own = dec(xa, za, za, sa)
    swapped = dec(xa, exchange(za, zb, [2], 4), za, sa)
    assert not torch.allclose(own, swapped)
    assert torch.equal(own, dec(xa, za.clone(), za, sa))


def test_networks_rebuild_from_their_manifest_entry():
    for net in (*nets(64), ElegantDiscriminator(ElegantDiscriminator.Config(32, 3, 8, 32))):
        spec = network_spec(net)
        twin = build_network(spec["class"], spec["config"])
        assert type(twin) is type(net) and twin.config == net.config


def test_pick_pairs_splits_the_batch_by_the_step_attribute():
    y = torch.tensor([[1, -1, 1], [-1, -1, 1], [1, -1, 1], [-1, -1, 1], [-1, -1, 1]], dtype=torch.float32)
    i, pos, neg = ElegantRecipe.pick_pairs(y, step=1)  # attribute 0: 2 with, 3 without -> 2 pairs
    assert i == 0 and pos.tolist() == [0, 2] and neg.tolist() == [1, 3]
    i, pos, neg = ElegantRecipe.pick_pairs(y, step=2)  # attribute 1 never present, 2 always: wraps to 0
    assert i == 0 and len(pos) == 2
    i, pos, neg = ElegantRecipe.pick_pairs(torch.ones(4, 3), step=5)
    assert len(pos) == 0 and len(neg) == 0
    i, pos, neg = ElegantRecipe.pick_pairs(y, step=1, max_pairs=1)  # capped: the first pair only
    assert i == 0 and pos.tolist() == [0] and neg.tolist() == [1]


def test_attribute_weights_give_lagging_attributes_more_steps():
    cycle = attribute_cycle(["Smiling", "Bangs", "Male"], {"Male": 3, "Bangs": 2})
    assert cycle == [0, 1, 2, 1, 2, 2]
    y = torch.tensor([[1, 1, 1], [-1, -1, -1]], dtype=torch.float32)  # every attribute splits the batch
    picked = [ElegantRecipe.pick_pairs(y, step=s, cycle=cycle)[0] for s in range(1, 13)]
    assert picked.count(2) == 6 and picked.count(1) == 4 and picked.count(0) == 2
    assert attribute_cycle(["Smiling", "Male"], {"Male": 0}) == [0]  # weight 0 leaves an attribute out
    with pytest.raises(FacetError, match="Mustache"):
        attribute_cycle(["Smiling"], {"Mustache": 2})
    with pytest.raises(FacetError, match="whole numbers"):
        attribute_cycle(["Smiling"], {"Smiling": 0})


def test_sample_memory_is_a_bounded_reservoir():
    mem = SampleMemory(capacity=5, resolution=8, n_attrs=2)
    x = torch.linspace(-1, 1, 3 * 8 * 8).reshape(1, 3, 8, 8).repeat(12, 1, 1, 1)
    y = torch.tensor([[1.0, -1.0]]).repeat(12, 1)
    mem.add(x[:3], y[:3])
    assert mem.size == 3
    mem.add(x[3:], y[3:])
    assert mem.size == 5 and int(mem.seen) == 12
    images, labels = mem.get()
    assert images.shape == (5, 3, 8, 8) and torch.allclose(images, x[:5], atol=1 / 127.5)
    assert torch.equal(labels, y[:5])
    assert set(mem.state_dict()) == {"images", "labels", "seen"}  # checkpointed with the networks


@pytest.mark.parametrize("rec_loss", ["l1", "mse"])
def test_train_step_updates_and_reports(synthetic_dataset, rec_loss):
    from engine.train.recipes import create_recipe

    recipe = create_recipe("elegant", {"resolution": 32, "block_channels": 4, "base_channels": 8, "max_channels": 16,
                                       "disc_channels": 8, "latent_size": 4, "prototype_images": 16,
                                       "rec_loss": rec_loss},
                           synthetic_dataset.attributes)
    recipe.to(torch.device("cpu"), "fp32")
    x, y = zip(*(synthetic_dataset[i] for i in range(16)), strict=True)
    before = recipe.nets["decoder"].out.weight.clone()
    m = recipe.train_step((torch.stack(x), torch.stack(y)), step=1)
    assert set(m) == {"rec", "adv_g", "d_real", "d_fake", "pairs"} and m["pairs"] >= 1
    assert not torch.equal(before, recipe.nets["decoder"].out.weight)
    grid = recipe.sample_grid(1)
    assert grid.dtype == np.uint8 and grid.ndim == 3
    assert grid.shape[1] == 6 * 34 + 2  # columns A, B, C, D, A', B'


def test_unknown_reconstruction_loss_is_refused(synthetic_dataset):
    from engine.errors import FacetError
    from engine.train.recipes import create_recipe

    with pytest.raises(FacetError, match="rec_loss must be l1 or mse"):
        create_recipe("elegant", {"resolution": 32, "rec_loss": "huber"}, synthetic_dataset.attributes)


def test_checkpoint_restores_networks_and_memory(synthetic_dataset, tmp_path):
    from engine.train.checkpoint import load_checkpoint, save_checkpoint
    from engine.train.recipes import create_recipe

    values = {"resolution": 32, "block_channels": 4, "base_channels": 8, "max_channels": 16,
              "disc_channels": 8, "latent_size": 4, "prototype_images": 8}
    recipe = create_recipe("elegant", values, synthetic_dataset.attributes).to(torch.device("cpu"), "fp32")
    x, y = (torch.stack(t) for t in zip(*(synthetic_dataset[i] for i in range(12)), strict=True))
    recipe.train_step((x, y), step=1)
    path = save_checkpoint(tmp_path, 1, recipe, {})
    fresh = create_recipe("elegant", values, synthetic_dataset.attributes, seed=5).to(torch.device("cpu"), "fp32")
    load_checkpoint(path, fresh)
    for role, module in recipe.modules().items():
        for key, value in module.state_dict().items():
            assert torch.equal(value, fresh.modules()[role].state_dict()[key]), (role, key)
    assert fresh.nets["memory"].size == 8
