"""Masked ELEGANT: the mask decides where an edit may change pixels, and nothing else changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import transfer as T
from engine.bundle import load_bundle
from engine.errors import FacetError, NumericalError
from engine.face.regions import synthetic_region
from engine.models.elegant_mask import MASK_FLOOR, MaskDecoder, MaskEncoder, hard_mask
from engine.train.recipes import create_recipe
from engine.train.recipes.elegant_mask import TRAINING_FOLDER, MaskGuard
from tests.conftest import train_tiny

TINY_MASK = {"resolution": 32, "latent_size": 4, "base_channels": 8, "max_channels": 32, "disc_channels": 8,
             "block_channels": 4, "region_prior": "synthetic", "lr": 1e-3, "disc_lr": 2e-3, "guard_after": 10_000,
             "min_pairs": 0}


@pytest.fixture(scope="module")
def mask_bundle(tmp_path_factory, synthetic_dataset) -> Path:
    root = tmp_path_factory.mktemp("tiny_mask")
    return train_tiny("elegant-mask", TINY_MASK, synthetic_dataset, root / "run", steps=400)


def test_hard_mask_is_exactly_zero_below_the_floor_and_still_passes_gradients():
    soft = torch.tensor([0.0, MASK_FLOOR / 2, MASK_FLOOR, 0.5], requires_grad=True)
    hard = hard_mask(soft)
    assert hard.tolist()[:2] == [0.0, 0.0] and hard[2] == MASK_FLOOR and hard[3] == 0.5
    hard.sum().backward()
    assert soft.grad.tolist() == [1.0, 1.0, 1.0, 1.0]  # straight-through: a closed region can open again


def test_an_untrained_decoder_leaves_a_face_almost_alone():
    cfg = dict(resolution=32, latent_size=4, n_attrs=5, block_channels=4, base_channels=8, max_channels=32)
    enc, dec = MaskEncoder(MaskEncoder.Config(**cfg)), MaskDecoder(MaskDecoder.Config(**cfg))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    z, skips = enc(x)
    out = dec(x, z, z, skips)
    assert (out - x).abs().max() < 0.05  # under 7 grey levels before any training
    # with the floor above the closed mask's sigmoid(-3) ≈ 0.047 the untrained decoder changes nothing at all
    closed = MaskDecoder(MaskDecoder.Config(**cfg, mask_floor=0.06))
    closed.load_state_dict(dec.state_dict())
    mask, _ = closed.edit(z, z, skips)
    assert torch.count_nonzero(mask) == 0 and torch.equal(closed(x, z, z, skips), x)


def test_pixels_outside_the_mask_keep_their_bytes_at_the_photos_resolution(mask_bundle, synthetic_dataset):
    bundle = load_bundle(mask_bundle)
    assert T.is_masked(bundle) and bundle.manifest["edit"] == "masked"
    faces = [synthetic_dataset.item_uint8(i)[0] for i in range(12)]
    big = [np.asarray(np.kron(f, np.ones((3, 3, 1))), np.uint8) for f in faces]  # a 96 px "photo" of each face
    outside = 0
    for src, ex in zip(big[:6], big[6:], strict=True):
        code = T.encode(bundle, src)
        z = T.exchanged_latent(bundle, code, [T.encode(bundle, ex).block(1)], ["Eyeglasses"], 1.0)
        r = T.render(bundle, code, z)
        assert r.image.shape == src.shape and r.mask.shape == src.shape[:2]
        zero = r.mask == 0
        outside += zero.mean()
        assert np.array_equal(r.image[zero], src[zero])  # bit for bit, not "within a grey level"
    assert outside / 6 > 0.3  # the mask does leave most of the face alone


def test_masks_move_onto_their_attributes_regions(mask_bundle, synthetic_dataset):
    """Trained briefly, each attribute's mask already puts more of its weight inside that attribute's region
    than a uniform mask would (the region prior at work)."""
    bundle = load_bundle(mask_bundle)
    faces = [synthetic_dataset.item_uint8(i)[0] for i in range(16)]
    codes = [T.encode(bundle, f) for f in faces]
    for i, name in enumerate(bundle.attributes):
        region = synthetic_region(name, 32) > 0
        if region.mean() > 0.5:  # blond hair: nearly the whole synthetic face, nothing to localise
            continue
        weight = np.zeros((32, 32))
        for a, b in zip(codes[:8], codes[8:], strict=True):
            z = T.exchanged_latent(bundle, a, [b.block(i)], [name], 1.0)
            weight += T.render(bundle, a, z).mask
        inside = weight[region].sum() / max(weight.sum(), 1e-9)
        assert inside > 1.5 * region.mean(), (name, inside, region.mean())  # 400 steps: 2.1x to 3.2x


def test_the_guard_detects_masks_collapsed_to_all_0_or_all_1(synthetic_dataset):
    guard = MaskGuard(low=1e-3, high=0.9, after=2, decay=0.5)
    assert guard.update(0.05, 1) is None and guard.update(0.04, 2) is None
    assert guard.update(0.0, 3) is None  # one odd step is smoothed away
    said = [guard.update(0.0, step) for step in range(4, 12)]
    assert any(m and "all 0" in m for m in said)
    assert "all 1" in MaskGuard(after=0, decay=0.0).update(0.99, 1)
    assert "nan" in MaskGuard().update(float("nan"), 7)
    for bias, word in ((-30.0, "all 0"), (30.0, "all 1")):  # the recipe stops a collapsed run with the reason
        recipe = create_recipe("elegant-mask", {**TINY_MASK, "guard_after": 0, "area_weight": 0.0},
                               synthetic_dataset.attributes)
        recipe.to(torch.device("cpu"), "fp32")
        recipe.guard.decay = 0.0
        with torch.no_grad():
            recipe.nets["decoder"].head.bias[0] = bias
        x, y = synthetic_dataset.as_arrays()
        batch = (torch.from_numpy(x[:32]).permute(0, 3, 1, 2).float() / 127.5 - 1, torch.from_numpy(y[:32]).float())
        with pytest.raises(NumericalError, match=word):
            recipe.train_step(batch, 1)


def test_a_nan_in_the_decoder_is_an_error_not_a_black_face(mask_bundle, synthetic_dataset, tmp_path):
    bundle = load_bundle(mask_bundle)
    with torch.no_grad():
        bundle.network("decoder").head.weight.fill_(float("nan"))
    face = synthetic_dataset.item_uint8(0)[0]
    with pytest.raises(NumericalError, match="NaN"):
        T.dial(bundle, face, {"Smiling": 1.0})


def test_an_export_keeps_its_discriminator_so_a_new_machine_trains_on(mask_bundle, synthetic_dataset, tmp_path):
    assert (mask_bundle / TRAINING_FOLDER / "manifest.json").is_file()
    shipped = tmp_path / "shipped"
    shutil.copytree(mask_bundle, shipped)
    recipe = create_recipe("elegant-mask", TINY_MASK, synthetic_dataset.attributes)
    roles = recipe.warm_start(load_bundle(shipped))
    assert roles == ["encoder", "decoder", "disc"]
    trained = load_bundle(shipped / TRAINING_FOLDER).network("disc").state_dict()
    for k, v in recipe.nets["disc"].state_dict().items():
        assert torch.equal(v, trained[k].float())


def test_a_teacher_classifier_asks_for_the_labels_and_is_recorded(tiny_classifier_bundle, synthetic_dataset, tmp_path):
    from engine.errors import FacetError

    out = train_tiny("elegant-mask", {**TINY_MASK, "teacher": str(tiny_classifier_bundle)}, synthetic_dataset,
                     tmp_path / "run", steps=3)
    assert load_bundle(out).manifest["training"]["elegant-mask"]["teacher"]
    with pytest.raises(FacetError, match="teacher"):
        create_recipe("elegant-mask", {**TINY_MASK, "teacher": str(tiny_classifier_bundle)},
                      synthetic_dataset.attributes[:3])


def test_each_attribute_gets_a_minimum_mask_area_from_its_own_region():
    from engine.train.recipes.elegant_mask import min_areas, region_penalty

    names = ["Eyeglasses", "Blond_Hair", "Male"]
    penalty = region_penalty(names, 128, "head")
    floors = min_areas(penalty, 0.01, 0.25)
    eyes = 1.0 - float(penalty[0].mean())
    assert floors[0] == pytest.approx(0.25 * eyes)  # a quarter of the eye band
    assert floors[1] == pytest.approx(0.15) and floors[2] == pytest.approx(0.15)  # hair and global: the cap
    assert torch.equal(min_areas(penalty, 0.01, 0.0), torch.full((3,), 0.01))  # off: the crop-wide floor


@pytest.fixture(scope="module")
def pixel_bundle(tmp_path_factory, synthetic_dataset) -> Path:
    root = tmp_path_factory.mktemp("tiny_pixels")
    return train_tiny("elegant-mask", {**TINY_MASK, "content": "exemplar", "min_region_area": 0.25}, synthetic_dataset,
                      root / "run", steps=150)


def test_a_model_that_takes_the_exemplars_pixels_changes_only_inside_its_mask(pixel_bundle, synthetic_dataset):
    from engine.models.elegant_mask import exemplar_edit

    bundle = load_bundle(pixel_bundle)
    assert T.takes_exemplar_pixels(bundle) and bundle.manifest["content"] == "exemplar"
    faces = [synthetic_dataset.item_uint8(i)[0] for i in range(12)]
    big = [np.asarray(np.kron(f, np.ones((3, 3, 1))), np.uint8) for f in faces]  # 96 px "photos"
    changed = 0.0
    for src, ex in zip(big[:6], big[6:], strict=True):
        code, ex_code = T.encode(bundle, src), T.encode(bundle, ex)
        out = T.transfer_codes(bundle, code, ex_code, ["Eyeglasses"])
        z = T.exchanged_latent(bundle, code, [ex_code.block(1)], ["Eyeglasses"], 1.0)
        with T._fast(bundle), torch.inference_mode():  # as the transfer runs it
            mask, _ = bundle.network("decoder").edit(z, code.latent, code.skips)
        big_mask = torch.nn.functional.interpolate(mask.float(), size=(96, 96), mode="bilinear")[0, 0].numpy()
        assert out.shape == src.shape
        assert np.array_equal(out[big_mask == 0], src[big_mask == 0])  # outside: the photo's own bytes
        changed += (np.abs(out.astype(int) - src).max(-1) > 2).mean()
        # with the mask fully open and only the detail band taken, the face becomes the exemplar's detail on its
        # own low frequencies: where both are flat (no detail), nothing changes
        flat = torch.zeros(1, 3, 8, 8)
        same = exemplar_edit(flat, flat + 0.5, torch.ones(1, 1, 8, 8), torch.tensor([0.0, 1.0]).view(1, 2, 1, 1))
        assert torch.allclose(same, flat, atol=1e-6)
    assert changed / 6 > 0.005  # the transfer does change something
    # the own latent opens no mask at all: a strength-0 or self transfer is the identity
    assert np.array_equal(T.transfer_codes(bundle, code, code, ["Eyeglasses"]), T.to_uint8(code.image))
    assert np.array_equal(T.transfer_codes(bundle, code, ex_code, ["Eyeglasses"], 0.0), T.to_uint8(code.image))


def test_a_pixel_model_can_recolour_the_sources_own_hair_inside_its_mask(pixel_bundle, synthetic_dataset):
    from engine.face.hair import hair_colour_edit
    from engine.face.layout import get_layout

    bundle = load_bundle(pixel_bundle)
    src, ex = synthetic_dataset.item_uint8(0)[0], synthetic_dataset.item_uint8(7)[0]
    code, ex_code = T.encode(bundle, src), T.encode(bundle, ex)
    assert np.array_equal(T.transfer_codes(bundle, code, ex_code, ["Blond_Hair"]),  # the default: pixels
                          T.transfer_codes(bundle, code, ex_code, ["Blond_Hair"], hair_colour="pixels"))
    out = T.transfer_codes(bundle, code, ex_code, ["Blond_Hair"], hair_colour="recolour")
    z = T.exchanged_latent(bundle, code, [ex_code.block(2)], ["Blond_Hair"], 1.0)
    with T._fast(bundle), torch.inference_mode():
        mask, _ = bundle.network("decoder").edit(z, code.latent, code.skips)
    expected = hair_colour_edit(code.image, ex_code.image, mask.float(), get_layout(bundle.manifest.get("layout")))
    assert np.array_equal(out, T.to_uint8(expected))  # recoloured, not the exemplar's pixels
    # with another attribute at once: that one's pixels first, then the hair colour with its own mask
    both = T.transfer_codes(bundle, code, ex_code, ["Eyeglasses", "Blond_Hair"], hair_colour="recolour")
    glasses = T.transfer_codes(bundle, code, ex_code, ["Eyeglasses"])
    assert both.shape == src.shape and not np.array_equal(both, out)
    assert np.abs(both.astype(int) - glasses).max() <= np.abs(out.astype(int) - src).max() + 1
    with pytest.raises(FacetError, match="hair_colour"):
        T.transfer_codes(bundle, code, ex_code, ["Blond_Hair"], hair_colour="paint")


def test_a_model_that_takes_the_exemplars_pixels_has_no_dial_and_takes_no_slider(pixel_bundle, synthetic_dataset):
    from engine.errors import FacetError
    from engine.session_models import SessionModels

    bundle = load_bundle(pixel_bundle)
    code = T.encode(bundle, synthetic_dataset.item_uint8(0)[0])
    with pytest.raises(FacetError, match="no exemplar-free dial"):
        T.dial_codes(bundle, code, {"Eyeglasses": 1.0})
    assert SessionModels(elegant=bundle).slider_routes() == {}


def test_a_colour_weight_takes_the_exemplars_colour_under_the_faces_own_detail():
    from engine.models.elegant_mask import exemplar_edit, gaussian_lowpass

    g = torch.Generator().manual_seed(0)
    face = torch.rand(1, 3, 64, 64, generator=g) * 0.2 - 0.5  # dark, textured
    exemplar = torch.rand(1, 3, 64, 64, generator=g) * 0.2 + 0.4  # light, other texture
    colour = exemplar_edit(face, exemplar, torch.ones(1, 1, 64, 64), torch.tensor([1.0, 0.0]).view(1, 2, 1, 1))
    assert torch.allclose(gaussian_lowpass(colour, 2.56), gaussian_lowpass(exemplar, 2.56), atol=0.05)
    assert torch.allclose(colour - gaussian_lowpass(colour, 2.56), face - gaussian_lowpass(face, 2.56), atol=0.05)


def test_the_teachers_augmentation_is_checked_and_leaves_faces_where_they_are(synthetic_dataset):
    from engine.errors import FacetError

    recipe = create_recipe("elegant-mask", TINY_MASK, synthetic_dataset.attributes, seed=0)
    assert "translation" not in recipe.teacher_policy  # the teacher judges shifted faces at chance
    with pytest.raises(FacetError, match="teacher_augment"):
        create_recipe("elegant-mask", {**TINY_MASK, "teacher_augment": "rotate"}, synthetic_dataset.attributes, seed=0)


def test_the_prior_opens_the_attributes_region_but_keeps_the_eyes_behind_glasses():
    from engine.face.layout import get_layout
    from engine.train.recipes.elegant_mask import keep_maps, prior_logits, region_penalty

    names = ["Eyeglasses", "Male"]
    prior = prior_logits(region_penalty(names, 128, "head"), 3.0, -4.0, keep_maps(names, 128, "head"), -4.0)
    lay = get_layout("head")
    k = 128 / lay.side

    def at(x, y):  # canvas coordinates → the crop pixel's prior logit for Eyeglasses
        return float(prior[0, 0, round((y - lay.top) * k), round((x - lay.left) * k)])

    assert at(70.1, 112.3) < -0.5  # the left eye itself: held shut (more than the band around it)
    assert at(70.1 - 16, 112.3) > 2 and at(89.5, 108) > 2  # the temple and the bridge where a frame sits: open
    assert at(89.5, 190) == pytest.approx(-4.0)  # the chin: outside the band
    assert torch.count_nonzero(prior[1]) == 0  # Male: global, neutral


def test_the_identity_prior_holds_a_global_attributes_eyes_nose_and_lips_shut():
    from engine.face.layout import get_layout
    from engine.train.recipe import unwrap

    cfg = {**TINY_MASK, "region_prior": "head", "content": "exemplar"}
    names = ["Eyeglasses", "Male"]
    lay = get_layout("head")
    k = 32 / lay.side

    def at(prior, i, x, y):  # canvas coordinates → attribute i's prior logit at that crop pixel
        return float(prior[i, 0, int((y - lay.top) * k), int((x - lay.left) * k)])

    plain = unwrap(create_recipe("elegant-mask", cfg, names, seed=0).nets["decoder"]).prior
    assert torch.count_nonzero(plain[1]) == 0  # off by default: Male is global, neutral everywhere
    held = unwrap(create_recipe("elegant-mask", {**cfg, "prior_identity": -4.0}, names, seed=0)
                  .nets["decoder"]).prior
    assert at(held, 1, 70.1, 110) < -3 and at(held, 1, 89.5, 134) < -3  # an eye, the nose: shut
    assert at(held, 1, 40, 150) == 0 and at(held, 1, 89.5, 40) == 0  # a cheek, the hair: as before
    assert torch.equal(held[0], plain[0])  # a regional attribute's prior is unchanged


def test_the_head_prior_keeps_a_hair_colours_mask_off_the_background_corners():
    from engine.face.layout import get_layout
    from engine.train.recipe import unwrap

    cfg = {**TINY_MASK, "region_prior": "head", "content": "exemplar"}
    names = ["Blond_Hair", "Eyeglasses"]
    lay = get_layout("head")
    k = 32 / lay.side

    def at(prior, i, x, y):
        return float(prior[i, 0, int((y - lay.top) * k), int((x - lay.left) * k)])

    plain = create_recipe("elegant-mask", cfg, names, seed=0)
    head = create_recipe("elegant-mask", {**cfg, "prior_head": True}, names, seed=0)
    p0, p1 = unwrap(plain.nets["decoder"]).prior, unwrap(head.nets["decoder"]).prior
    corner = (-10, 15)  # the crop's top-left corner: background
    assert at(p0, 0, *corner) == pytest.approx(3.0) and at(p1, 0, *corner) == pytest.approx(-4.0)
    assert at(p1, 0, 89.5, 30) == pytest.approx(3.0) and at(p1, 0, 40, 120) == pytest.approx(3.0)  # crown, side
    assert torch.equal(p0[1], p1[1])  # glasses: as before
    assert float(head.penalty[0].mean()) > float(plain.penalty[0].mean())  # the corners are penalised too
