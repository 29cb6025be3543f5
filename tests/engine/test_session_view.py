"""Sessions with a masked ELEGANT model: faces are shown and pasted as whole heads, edits change only what
their masks (or, for the cGAN, their attributes' regions) cover."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.bundle import load_bundle, make_manifest, save_bundle
from engine.face.align import invert_affine
from engine.face.layout import convert_crop, sub_square
from engine.face.paste import warp_float
from engine.images import load_image
from engine.ops import Dial, SetAttribute
from engine.session import EditSession
from tests.engine.test_session import ATTRS, make_cgan_bundle

ROOT = Path(__file__).resolve().parents[2]


def make_mask_bundle(path: Path, resolution: int = 32, seed: int = 0) -> Path:
    """A randomly initialised masked ELEGANT bundle whose masks cover part of the face (head layout)."""
    from engine.models.elegant_mask import MaskDecoder, MaskEncoder
    from engine.transfer import compute_prototypes

    torch.manual_seed(seed)
    shared = dict(resolution=resolution, n_attrs=len(ATTRS), block_channels=4, base_channels=8, max_channels=16,
                  latent_size=4)
    enc, dec = MaskEncoder(MaskEncoder.Config(**shared)), MaskDecoder(MaskDecoder.Config(**shared, mask_bias=0.0))
    with torch.no_grad():
        dec.head.weight.normal_(0, 0.5)  # masks that vary over the face, residuals that show
    nets = {"encoder": enc.eval(), "decoder": dec.eval()}
    images = torch.rand(16, 3, resolution, resolution) * 2 - 1
    labels = torch.tensor([[1.0 if (i >> k) & 1 else -1.0 for k in range(len(ATTRS))] for i in range(16)])
    manifest = make_manifest("elegant", resolution, ATTRS, nets, name="tiny-mask", layout="head", edit="masked")
    return save_bundle(path, nets, manifest, tensors=compute_prototypes(enc, images, labels))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("view_models")
    return load_bundle(make_cgan_bundle(root / "cgan")), load_bundle(make_mask_bundle(root / "mask"))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return load_image(ROOT / "resources" / "samples" / "astronaut.png")


def test_a_masked_dial_changes_only_the_photo_pixels_its_mask_covers(models, astronaut):
    s = EditSession(astronaut, elegant=models[1])
    assert s.view_layout == "head" and s.view_slot(0) is not s.faces[0]
    view = s.view_slot(0).crop
    s.apply(Dial(0, "Smiling", 1.0))
    edited = s.render_face(0)
    change = np.abs(edited.astype(np.float32) - view.astype(np.float32)).sum(axis=2)
    assert 0 < (change > 0).mean() < 1  # the random mask edits part of the head
    photo = s.render_photo()
    changed = np.any(photo != astronaut, axis=2)
    assert changed.sum() > 0
    reach = warp_float(change, invert_affine(s.view_slot(0).transform), astronaut.shape[1::-1])
    assert not (changed & (reach == 0)).any()  # no photo pixel moved that the crop's change does not reach
    small = s.preview_photo(max_side=100)  # the quick preview pastes the same way into a smaller copy
    assert max(small.shape[:2]) == 100 and small.shape[2] == 3


def test_cgan_edits_reach_a_head_view_only_where_their_attribute_lives(models, astronaut):
    from engine.invert import LatentCode

    cgan, mask = models
    s = EditSession(astronaut, cgan, mask)
    s.faces[0].code = LatentCode(np.zeros(16, np.float32), -np.ones(len(ATTRS), np.float32))
    s.apply(SetAttribute(0, "Smiling", 1.0))
    view = s.view_slot(0).crop.astype(int)
    out = s.render_face(0).astype(int)
    moved = np.any(out != view, axis=2)
    assert moved.any()
    left, top, side = sub_square("face", "head", view.shape[0])
    ys, xs = np.nonzero(moved)
    assert xs.min() >= left - 1 and xs.max() <= left + side and ys.min() >= top - 1 and ys.max() <= top + side
    assert ys.min() > top + side * 0.5  # Smiling lives at the mouth: the upper face and the hair stay as they were


def test_face_crop_exemplars_are_recut_to_the_whole_head(models, astronaut):
    s = EditSession(astronaut, elegant=models[1])
    face_crop = s.faces[0].crop
    ref = s.add_exemplar(face_crop, align=False)
    np.testing.assert_array_equal(s.exemplars[ref], convert_crop(face_crop, "face", "head", s.resolution))
    aligned = s.add_exemplar(astronaut)  # a photo: found and aligned as a whole head
    np.testing.assert_array_equal(s.exemplars[aligned], s.view_slot(0).crop)


def test_each_slider_edits_with_the_model_that_edits_its_attribute_best(models, astronaut):
    from engine.invert import LatentCode

    cgan, mask = models
    s = EditSession(astronaut, cgan, mask)
    assert s.models.slider_routes() == dict.fromkeys(ATTRS, "elegant")  # a masked model takes what both know
    mask.manifest["sliders"] = {"Male": "cgan"}  # what the bench measured, written at export
    try:
        assert s.models.slider_routes()["Male"] == "cgan" and s.models.slider_routes()["Smiling"] == "elegant"
        # Male waits for the inversion; the ELEGANT-routed sliders edit without one
        assert s.face_attributes(0) == {n: None if n == "Male" else 0.0 for n in ATTRS}
        s.faces[0].code = LatentCode(np.zeros(16, np.float32), np.full(len(ATTRS), 0.5, np.float32))
        assert isinstance(s.slider_op(0, "Smiling", 0.7), Dial)
        assert isinstance(s.slider_op(0, "Male", -1.0), SetAttribute)
        s.apply(s.slider_op(0, "Smiling", 0.7))
        values = s.face_attributes(0)
        assert values["Smiling"] == pytest.approx(0.7) and values["Male"] == pytest.approx(0.5)
    finally:
        del mask.manifest["sliders"]
    with pytest.raises(Exception, match="no loaded model edits"):
        s.slider_op(0, "Wings", 1.0)


def test_a_transfer_can_take_the_exemplars_own_pixels_inside_the_mask(models, astronaut, tmp_path):
    from engine import transfer as T
    from engine.errors import FacetError
    from tests.engine.test_session import make_elegant_bundle

    mask = models[1]
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    ex = np.full((64, 64, 3), 200, np.uint8)
    ex[::4] = 20  # stripes: detail the model could not draw
    a, b = T.encode(mask, src), T.encode(mask, ex)
    out = T.transfer_codes(mask, a, b, ["Smiling"], 1.0, content="exemplar")
    m = T.render(mask, a, T.exchanged_latent(mask, a, [b.block(3)], ["Smiling"], 1.0)).mask
    assert np.array_equal(out[m == 0], src[m == 0])
    content = T.exemplar_content(src.astype(np.float32), ex)
    assert (m > 0.5).any()
    want = np.clip(src + m[..., None] * (content - src) + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_allclose(out.astype(int), want.astype(int), atol=1)
    stripes = content[::4].mean() - content[2::4].mean()
    assert stripes < -100  # the exemplar's detail, on the source's mean colour
    old = load_bundle(make_elegant_bundle(tmp_path / "old"))
    with pytest.raises(FacetError, match="masked"):
        T.transfer_codes(old, T.encode(old, src), T.encode(old, ex), ["Smiling"], 1.0, content="exemplar")


def test_a_project_made_with_face_crop_exemplars_opens_with_a_head_model(models, astronaut, tmp_path):
    """Projects store their exemplars' layout; older ones (face crops) are re-cut when a masked model opens them."""
    from engine.errors import FacetError
    from engine.ops import TransferFromExemplar
    from tests.engine.test_session import make_elegant_bundle

    old = load_bundle(make_elegant_bundle(tmp_path / "old"))
    s = EditSession(astronaut, elegant=old)
    ref = s.add_exemplar(astronaut)
    s.apply(TransferFromExemplar(0, ref, ("Smiling",), 1.0))
    data = s.to_dict()
    assert data["exemplar_layout"] == "face"
    opened = EditSession.from_dict(data, elegant=models[1])
    np.testing.assert_array_equal(opened.exemplars[ref], convert_crop(s.exemplars[ref], "face", "head", 32))
    assert opened.render_photo().shape == astronaut.shape
    del data["exemplar_layout"]  # a project from before layouts: face crops
    assert EditSession.from_dict(data, elegant=models[1]).exemplars[ref].shape == (32, 32, 3)
    data["exemplar_layout"] = "torso"
    with pytest.raises(FacetError, match="exemplar_layout"):
        EditSession.from_dict(data, elegant=models[1])


def test_a_project_whose_cgan_is_smaller_than_its_crops_reopens(models, astronaut, tmp_path):
    """The shipped pair: a 64 px cGAN whose reconstructions stay 64 px in 128 px sessions (32 in 64 here)."""
    from engine.invert import LatentCode

    cgan, mask64 = models[0], load_bundle(make_mask_bundle(tmp_path / "mask64", resolution=64))
    s = EditSession(astronaut, cgan, mask64)
    assert s.resolution == 64
    s.faces[0].code = LatentCode(np.zeros(16, np.float32), np.zeros(len(ATTRS), np.float32))
    s.faces[0].reconstruction = np.zeros((32, 32, 3), np.uint8)
    opened = EditSession.from_dict(s.to_dict(), cgan, mask64)
    assert opened.reconstruction(0).shape == (64, 64, 3)


def make_pixel_bundle(path: Path, resolution: int = 32) -> Path:
    """A random masked ELEGANT bundle that takes the exemplar's pixels; its masks may open only in the middle."""
    from engine.models.elegant_mask import MaskDecoder, MaskEncoder
    from engine.transfer import compute_prototypes

    torch.manual_seed(1)
    shared = dict(resolution=resolution, n_attrs=len(ATTRS), block_channels=4, base_channels=8, max_channels=16,
                  latent_size=4)
    enc = MaskEncoder(MaskEncoder.Config(**shared))
    dec = MaskDecoder(MaskDecoder.Config(**shared, mask_bias=0.0, content="exemplar", region_prior=True))
    with torch.no_grad():
        dec.prior.fill_(-20.0)
        q = resolution // 4
        dec.prior[:, :, q:-q, q:-q] = 3.0
    nets = {"encoder": enc.eval(), "decoder": dec.eval()}
    images = torch.rand(16, 3, resolution, resolution) * 2 - 1
    labels = torch.tensor([[1.0 if (i >> k) & 1 else -1.0 for k in range(len(ATTRS))] for i in range(16)])
    manifest = make_manifest("elegant", resolution, ATTRS, nets, name="tiny-pixels", layout="head", edit="masked",
                             content="exemplar")
    return save_bundle(path, nets, manifest, tensors=compute_prototypes(enc, images, labels))


def test_a_model_that_takes_exemplar_pixels_edits_the_photo_only_where_its_mask_reaches(models, astronaut, tmp_path):
    from engine.errors import FacetError
    from engine.ops import TransferFromExemplar

    pixels = load_bundle(make_pixel_bundle(tmp_path / "pixels"))
    s = EditSession(astronaut, cgan=models[0], elegant=pixels)
    assert all(model == "cgan" for model in s.models.slider_routes().values())  # it has no dial: no slider
    with pytest.raises(FacetError, match="no exemplar-free dial"):
        s.apply(Dial(0, "Smiling", 1.0))
    assert not s.ops  # refused before it was stacked
    rng = np.random.default_rng(0)
    exemplar = rng.integers(0, 256, (48, 48, 3)).astype(np.uint8)
    ref = s.add_exemplar(exemplar, align=False)
    view = s.view_slot(0).crop
    s.apply(TransferFromExemplar(0, ref, ("Smiling",), 1.0))
    change = np.abs(s.render_face(0).astype(np.float32) - view.astype(np.float32)).sum(axis=2)
    side = change.shape[0]
    assert change[side // 3 : -side // 3, side // 3 : -side // 3].mean() > 1  # the exemplar's pixels came in
    assert change[: side // 8].max() == 0 and change[:, : side // 8].max() == 0  # the mask's closed border: nothing
    photo = s.render_photo()
    changed = np.any(photo != astronaut, axis=2)
    reach = warp_float(change, invert_affine(s.view_slot(0).transform), astronaut.shape[1::-1])
    assert changed.any() and not (changed & (reach == 0)).any()


def test_a_model_that_takes_exemplar_pixels_offers_no_face_swap(models, astronaut, tmp_path, capsys):
    """Male lives everywhere on the face: taken as the exemplar's pixels it is the other person's face. The CLI
    and the app refuse it with what to do instead; a model that synthesises its edit takes it as before."""
    from engine import transfer as T
    from engine.cli import main
    from engine.errors import FacetError
    from engine.images import save_image

    path = make_pixel_bundle(tmp_path / "pixels")
    pixels = load_bundle(path)
    assert T.face_swapping(pixels) == ["Male"] and T.face_swapping(models[1]) == []
    T.check_no_face_swap(pixels, ["Smiling", "Blond_Hair"])
    T.check_no_face_swap(models[1], ["Male"])
    with pytest.raises(FacetError, match="Male would paste the other person's face"):
        T.check_no_face_swap(pixels, ["Smiling", "Male"])
    src, ex = save_image(tmp_path / "a.png", astronaut), save_image(tmp_path / "b.png", astronaut[:, ::-1])
    out = tmp_path / "out.png"
    assert main(["transfer", str(src), str(ex), "--bundle", str(path), "--attributes", "Smiling,Male",
                 "-o", str(out)]) == 2
    assert "other person's face" in capsys.readouterr().err and not out.exists()
    assert main(["transfer", str(src), str(ex), "--bundle", str(path), "--attributes", "Smiling", "-o", str(out)]) == 0


def test_a_look_that_takes_male_from_another_face_is_refused_by_a_model_that_takes_pixels(astronaut, tmp_path):
    from engine.errors import FacetError
    from engine.images import save_image
    from engine.looks import Look, LookTransfer, apply_look

    pixels = load_bundle(make_pixel_bundle(tmp_path / "pixels"))
    s = EditSession(astronaut, elegant=pixels)
    exemplar = save_image(tmp_path / "ex.png", astronaut[:, ::-1])
    look = Look("bearded", {}, {}, {}, (LookTransfer(str(exemplar), ("Smiling",), 1.0),
                                          LookTransfer(str(exemplar), ("Male",), 1.0)))
    with pytest.raises(FacetError, match="cannot be applied: .*Male would paste the other person's face"):
        apply_look(s, 0, look)
    assert not s.ops and not s.exemplars  # nothing applied, no exemplar added
    apply_look(s, 0, Look("smiling", {}, {}, {}, look.transfers[:1]))
    assert len(s.ops) == 1
