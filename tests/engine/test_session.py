"""The edit session: faces, cached inversion, an undoable stack of operations, exact save/restore."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.bundle import load_bundle, make_manifest, save_bundle
from engine.errors import Cancelled, FacetError
from engine.ops import (
    ApplyVector,
    Dial,
    ResetAttributes,
    SetAttribute,
    TransferFromExemplar,
    op_from_dict,
    plain_name,
    unpack_strokes,
)
from engine.progress import drive
from engine.session import EditSession, method_for_preset
from engine.session_faces import paste_bounds

ATTRS = ["Black_Hair", "Blond_Hair", "Male", "Smiling"]


def make_cgan_bundle(path: Path, resolution: int = 32, seed: int = 0) -> Path:
    """A randomly initialised cGAN bundle with encoders and attribute vectors (tests and benchmarks)."""
    from engine.models.cgan import ConvEncoder, Discriminator, Generator

    torch.manual_seed(seed)
    n = len(ATTRS)
    nets = {
        "generator": Generator(Generator.Config(resolution=resolution, z_dim=16, n_attrs=n, base_channels=8)),
        "discriminator": Discriminator(Discriminator.Config(resolution=resolution, n_attrs=n, base_channels=8)),
        "encoder_z": ConvEncoder(ConvEncoder.Config(resolution=resolution, out_dim=16, base_channels=8, feature_dim=32)),
        "encoder_y": ConvEncoder(ConvEncoder.Config(resolution=resolution, out_dim=n, base_channels=8, feature_dim=32)),
    }
    for net in nets.values():
        net.eval()
    manifest = make_manifest("cgan", resolution, ATTRS, nets, name="tiny-cgan",
                             data={"licence": "random weights, no training data"})
    return save_bundle(path, nets, manifest, tensors={"attribute_vectors": torch.randn(n, 16)})


def make_elegant_bundle(path: Path, resolution: int = 32, seed: int = 0) -> Path:
    """A randomly initialised ELEGANT bundle (non-zero decoder output so transfers change pixels)."""
    from engine.models.elegant import ElegantDecoder, ElegantEncoder

    torch.manual_seed(seed)
    shared = dict(resolution=resolution, n_attrs=len(ATTRS), block_channels=4, base_channels=8, max_channels=16,
                  latent_size=4)
    nets = {"encoder": ElegantEncoder(ElegantEncoder.Config(**shared)),
            "decoder": ElegantDecoder(ElegantDecoder.Config(**shared, zero_init=False))}
    for net in nets.values():
        net.eval()
    manifest = make_manifest("elegant", resolution, ATTRS, nets, name="tiny-elegant")
    n = len(ATTRS)
    protos = {"prototypes.positive": torch.randn(n, 4, 4, 4), "prototypes.negative": torch.randn(n, 4, 4, 4),
              "prototypes.counts": torch.ones(n, 2)}
    return save_bundle(path, nets, manifest, tensors=protos)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    return load_bundle(make_cgan_bundle(root / "cgan")), load_bundle(make_elegant_bundle(root / "elegant"))


@pytest.fixture
def photo():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:90, 0:120]
    base = np.stack([xx * 2, yy * 2, (xx + yy)], axis=2) % 256
    return (base + rng.integers(0, 20, base.shape)).clip(0, 255).astype(np.uint8)


@pytest.fixture
def session(bundles, photo):
    cgan, elegant = bundles
    s = EditSession(photo, cgan, elegant, detect=False)
    drive(s.invert_face_job(0, "fast"))
    return s


def test_no_face_gives_a_manual_centre_crop(bundles, photo):
    s = EditSession(photo, bundles[0], detect=False)
    assert len(s.faces) == 1 and s.faces[0].manual
    assert s.faces[0].box == (15.0, 0.0, 105.0, 90.0)
    crop = s.faces[0].crop
    assert crop.shape == (32, 32, 3)
    # the crop is the centre square, scaled: its mean colour matches the square's
    assert np.abs(crop.mean((0, 1)) - photo[:, 15:105].mean((0, 1))).max() < 4
    assert not s.has_code(0)


def test_inversion_is_cached_and_cancel_stores_nothing(bundles, photo):
    s = EditSession(photo, bundles[0], detect=False)
    with pytest.raises(Cancelled):
        drive(s.invert_face_job(0, "optimize", steps=20), cancel=lambda: True)
    assert not s.has_code(0)
    change = drive(s.invert_face_job(0, "fast"))
    assert change.faces == {0} and s.faces[0].method == "encoder"
    assert s.reconstruction(0).shape == (32, 32, 3)
    assert method_for_preset("best", bundles[0]) == "pivotal"  # hybrid's code, then the generator tuned on the face


def test_slider_rerenders_without_reinverting(session, monkeypatch):
    import engine.invert

    monkeypatch.setattr(engine.invert, "invert_job", lambda *a, **k: pytest.fail("a slider move re-inverted"))
    before = session.render_face(0).copy()
    change = session.apply(SetAttribute(0, "Smiling", 1.0))
    assert change.faces == {0} and change.photo and change.stack
    assert session.face_attributes(0)["Smiling"] == 1.0
    t0 = time.perf_counter()
    after = session.render_face(0)
    assert time.perf_counter() - t0 < 0.5
    assert after.shape == (32, 32, 3) and not np.array_equal(after, before)


def test_undo_redo_moves_a_cursor_and_restores_pixels(session):
    session.apply(SetAttribute(0, "Male", -1.0))
    one = session.render_photo()
    session.apply(SetAttribute(0, "Blond_Hair", 1.0))
    two = session.render_photo()
    assert not np.array_equal(one, two)
    assert session.undo().faces == {0}
    np.testing.assert_array_equal(session.render_photo(), one)
    session.redo()
    np.testing.assert_array_equal(session.render_photo(), two)
    session.undo()
    session.undo()
    np.testing.assert_array_equal(session.render_photo(), session.photo)  # no edit left: photo untouched
    assert session.undo().faces == set()  # nothing more to undo
    session.apply(SetAttribute(0, "Smiling", 0.5))  # a new edit drops the redo tail
    assert len(session.ops) == 1 and session.redo().faces == set()


def test_a_drag_squashes_into_one_step_and_reset_restores_the_inversion(session):
    inverted = session.face_attributes(0)
    for v in (0.1, 0.4, 0.9):
        session.apply(SetAttribute(0, "Smiling", v, gesture=7))
        session.squash()
    assert session.ops == [SetAttribute(0, "Smiling", 0.9, gesture=7)]
    session.apply(SetAttribute(0, "Male", 1.0, gesture=8))
    assert session.squash().stack is False  # different gesture: not merged
    session.apply(ResetAttributes(0, ("Smiling",)))
    now = session.face_attributes(0)
    assert now["Smiling"] == pytest.approx(inverted["Smiling"]) and now["Male"] == 1.0
    session.apply(ResetAttributes(0))
    assert session.face_attributes(0) == pytest.approx(inverted)


def test_vector_edit_moves_z_only(session):
    z0 = session.face_code(0).z.copy()
    session.apply(ApplyVector(0, "Blond_Hair", 2.0))
    code = session.face_code(0)
    vec = session.models.cgan.tensors["attribute_vectors"][1].numpy()
    np.testing.assert_allclose(code.z, z0 + 2.0 * vec, rtol=1e-5, atol=1e-5)


def test_cgan_edits_change_the_photos_own_face_by_the_generators_change(session):
    """keep_face: crop + (G(edited) − G(inverted)) where the attribute lives; off: the generator's face itself
    (IcGAN)."""
    from engine import edit
    from engine.session_view import cgan_confinement

    crop = session.faces[0].crop.astype(int)
    session.apply(ApplyVector(0, "Smiling", 0.0))  # a code operation that changes nothing
    assert np.array_equal(session.render_face(0), session.faces[0].crop)  # the photo's face, not G's
    y = dict(zip(session.models.cgan.attributes, session.faces[0].code.y, strict=True))
    session.apply(SetAttribute(0, "Smiling", -1.0 if y["Smiling"] > 0 else 1.0))
    g_edit = edit.render(session.models.cgan, session.face_code(0)).astype(int)
    g_base = edit.render(session.models.cgan, session.faces[0].code).astype(int)
    assert np.abs(g_edit - g_base).max() > 0  # a real (if small: a random test G) edit
    weight = cgan_confinement(["Smiling"], crop.shape[0], whole_face=False)[..., None]
    full = np.clip(crop + g_edit - g_base, 0, 255)
    want = np.floor(np.clip(crop + (full - crop) * weight + 0.5, 0, 255))
    got = session.render_face(0)
    np.testing.assert_array_equal(got, want)
    assert np.array_equal(got[weight[..., 0] == 0], session.faces[0].crop[weight[..., 0] == 0])  # nothing elsewhere
    assert (weight == 0).mean() > 0.5
    change = session.set_keep_face(False)
    assert change.faces == {0} and change.photo
    np.testing.assert_array_equal(session.render_face(0), g_edit)
    restored = EditSession.from_dict(session.to_dict(), session.models.cgan, session.models.elegant)
    assert restored.keep_face is False
    np.testing.assert_array_equal(restored.render_face(0), g_edit)


def test_paste_back_changes_only_the_face_region(bundles):
    photo = np.full((100, 200, 3), 200, np.uint8)
    s = EditSession(photo, bundles[0], detect=False)
    i, change = s.add_manual_face((120, 30, 160, 70))
    assert change.faces == {i}
    drive(s.invert_face_job(i, "fast"))
    s.apply(SetAttribute(i, "Smiling", -1.0))
    out = s.render_photo()
    assert out.shape == photo.shape
    x0, y0, x1, y1 = paste_bounds(s.faces[i], photo.shape, 32)
    assert x0 < 140 < x1 and y0 < 50 < y1 and (x1 - x0) * (y1 - y0) < photo.shape[0] * photo.shape[1] / 2
    changed = np.abs(out.astype(int) - photo).sum(axis=2) > 0
    assert changed.any() and not changed[:, :x0].any() and not changed[:, x1:].any()
    assert not changed[:y0].any() and not changed[y1:].any()
    assert s.edited_faces() == [i]
    plans = dict(s.faces[i].paste_plans)  # the paste's edit-independent part is made once per face ...
    assert len(plans) == 1
    s.apply(SetAttribute(i, "Smiling", 1.0))
    again = s.render_photo()
    assert s.faces[i].paste_plans.keys() == plans.keys()  # ... and reused while the edit changes
    assert all(s.faces[i].paste_plans[k] is plan for k, plan in plans.items())
    from engine.face import paste_back
    from engine.face.paste import PasteConfig

    # the kept face's render is its crop plus the edit's confined change: added to the photo as that change
    change = PasteConfig(mode="change")
    np.testing.assert_array_equal(again, paste_back(photo, s.render_face(i), s.faces[i].aligned, config=change))
    s.set_keep_face(False)  # the generator's own face is blended into the face's ellipse, colour-matched
    np.testing.assert_array_equal(s.render_photo(), paste_back(photo, s.render_face(i), s.faces[i].aligned))


def test_unknown_attribute_and_face_are_clear_errors(session):
    with pytest.raises(FacetError, match="no attribute"):
        session.apply(SetAttribute(0, "Wings", 1.0))
    with pytest.raises(FacetError, match="face 3"):
        session.apply(SetAttribute(3, "Smiling", 1.0))
    assert session.ops == []


def test_stroke_job_streams_previews_and_its_op_replays(session):
    mask = np.zeros((32, 32), np.float32)
    mask[8:20, 8:20] = 1
    colors = np.zeros((32, 32, 3), np.uint8)
    colors[..., 0] = 255
    previews = []
    op = drive(session.stroke_job(0, mask, colors, steps=4), progress=lambda s: previews.append(s.preview))
    assert any(p is not None for p in previews)
    restored = op_from_dict(json.loads(json.dumps(op.to_dict())))
    assert restored == op
    m, c = unpack_strokes(op.strokes)
    np.testing.assert_array_equal(m, mask)
    np.testing.assert_array_equal(c, colors)
    session.apply(restored)
    np.testing.assert_allclose(session.face_code(0).z, np.asarray(op.z, np.float32))


def test_strokes_painted_on_the_photo_map_into_the_crop(session):
    rgba = np.zeros((90, 120, 4), np.uint8)
    rgba[:45, 15:60] = (255, 0, 0, 255)  # top-left quarter of the centre square
    mask, colors = session.strokes_from_photo(0, rgba)
    assert mask[:14, :14].all() and not mask[18:, :].any() and not mask[:, 18:].any()
    assert (colors[:14, :14, 0] == 255).all()


def test_transfer_from_exemplar(session, bundles):
    ref = session.add_exemplar(np.full((64, 64, 3), 30, np.uint8), align=False)
    before = session.render_face(0).copy()
    session.apply(TransferFromExemplar(0, ref, ("Blond_Hair", "Smiling"), 1.0))
    after = session.render_face(0)
    assert after.shape == before.shape and not np.array_equal(after, before)
    with pytest.raises(FacetError, match="exemplar"):
        session.apply(TransferFromExemplar(0, "nope", ("Smiling",), 1.0))


def test_to_dict_from_dict_restores_the_exact_state(session, bundles):
    ref = session.add_exemplar(np.full((32, 32, 3), 90, np.uint8), align=False)
    session.apply(SetAttribute(0, "Smiling", 0.8, gesture=1))
    session.apply(TransferFromExemplar(0, ref, ("Male",), 0.5))
    session.apply(SetAttribute(0, "Male", -0.3))
    session.undo()
    data = session.to_dict()
    # JSON for everything but arrays (what a project file does)
    arrays = {}

    def strip(obj, key=""):
        if isinstance(obj, np.ndarray):
            arrays[key] = obj
            return {"$array": key}
        if isinstance(obj, dict):
            return {k: strip(v, f"{key}/{k}") for k, v in obj.items()}
        if isinstance(obj, list):
            return [strip(v, f"{key}/{i}") for i, v in enumerate(obj)]
        return obj

    def fill(obj):
        if isinstance(obj, dict):
            return arrays[obj["$array"]] if set(obj) == {"$array"} else {k: fill(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [fill(v) for v in obj]
        return obj

    text = json.dumps(strip(data))
    restored = EditSession.from_dict(fill(json.loads(text)), *bundles)
    assert restored.ops == session.ops and restored.cursor == session.cursor == 2
    np.testing.assert_array_equal(restored.render_photo(), session.render_photo())
    restored.redo()
    session.redo()
    np.testing.assert_array_equal(restored.render_photo(), session.render_photo())


@pytest.mark.parametrize("damage", [{"faces": None}, {"ops": None}, {"cursor": "two"}, {"ops": [{"kind": 3}]}],
                         ids=["faces", "ops", "cursor", "op"])
def test_a_damaged_session_dict_is_refused_with_a_clear_error(session, bundles, damage):
    data = {**session.to_dict(), **damage}
    with pytest.raises(FacetError, match="corrupt session"):
        EditSession.from_dict(data, *bundles)
    data = session.to_dict()
    del data["faces"]
    with pytest.raises(FacetError, match="missing or malformed"):
        EditSession.from_dict(data, *bundles)


def test_plain_names():
    assert plain_name("Blond_Hair") == "Blond hair"
    assert plain_name("Wearing_Lipstick") == "Wearing lipstick"


def test_preview_photo_is_a_downscaled_render(bundles):
    rng = np.random.default_rng(3)
    photo = np.kron(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), np.ones((10, 10, 1), np.uint8))  # 300 x 400
    s = EditSession(photo, bundles[0], detect=False)
    i, _ = s.add_manual_face((150, 80, 250, 200))
    drive(s.invert_face_job(i, "fast"))
    s.apply(SetAttribute(i, "Smiling", 1.0))
    full = s.render_photo().astype(np.float32)
    small = s.preview_photo(max_side=200)
    assert small.shape == (150, 200, 3)
    # the preview matches the full render, downscaled (same face, same place)
    from engine.images import resize as resize_image

    reference = resize_image(full.clip(0, 255).astype(np.uint8), (200, 150)).astype(np.float32)
    x0, y0, x1, y1 = paste_bounds(s.faces[i], photo.shape, 32)
    face = (slice(y0 // 2 + 3, y1 // 2 - 3), slice(x0 // 2 + 3, x1 // 2 - 3))
    assert np.abs(small[face] - reference[face]).mean() < 12
    np.testing.assert_array_equal(s.preview_photo(max_side=400), s.render_photo())  # small photos: the real one


def test_generate_exemplars_labels_each_face_by_attribute(bundles):
    from engine.session import generate_exemplars

    faces = generate_exemplars(bundles[0], per_attribute=1, seed=2)
    assert [n for n, _ in faces][:2] == ["Black_Hair+1_0", "Black_Hair-1_0"]
    assert len(faces) == 2 * len(ATTRS) and all(img.shape == (32, 32, 3) and img.dtype == np.uint8 for _, img in faces)
    assert not np.array_equal(faces[0][1], faces[1][1])


def test_a_judge_keeps_realistic_candidates_that_show_their_attribute(tiny_cgan_bundle, tiny_classifier_bundle):
    from engine.metrics import classifier_outputs
    from engine.session_models import _realism, generate_exemplars

    cgan, judge = load_bundle(tiny_cgan_bundle), load_bundle(tiny_classifier_bundle)
    pool = generate_exemplars(cgan, per_attribute=4, seed=3)  # the same draws, unjudged: 4 per (attribute, sign)
    chosen = generate_exemplars(cgan, per_attribute=1, seed=3, judge=judge, candidates=4)
    assert len(chosen) == 2 * len(cgan.attributes)
    rng = np.random.default_rng(3)  # replay the labels the candidates were drawn with
    for g, (name, image) in enumerate(chosen):
        attr, sign = name[:-4], (1 if name[-4] == "+" else -1)
        group = np.stack([img for _, img in pool[4 * g:4 * g + 4]])
        labels = []
        for _ in range(4):
            y = rng.choice([-1.0, 1.0], size=len(cgan.attributes)).astype(np.float32)
            y[cgan.attributes.index(attr)] = sign
            rng.standard_normal(cgan.network("generator").config.z_dim)
            labels.append(y)
        agrees = sign * classifier_outputs(judge, group)[:, judge.attributes.index(attr)]
        realism = _realism(cgan, list(group), np.stack(labels))
        if (agrees > 0).any():
            best = int(np.flatnonzero(agrees > 0)[np.argmax(realism[agrees > 0])])
        else:
            best = int(np.argmax(agrees))
        np.testing.assert_array_equal(image, group[best])


def test_elegant_dials_without_a_cgan(bundles, photo):
    s = EditSession(photo, elegant=bundles[1], detect=False)
    assert s.face_attributes(0) == {n: 0.0 for n in ATTRS}  # no inversion needed
    before = s.render_face(0).copy()
    s.apply(Dial(0, "Smiling", 0.7, gesture=3))
    s.apply(Dial(0, "Smiling", 1.0, gesture=3))
    s.squash()
    s.apply(Dial(0, "Male", -0.5))
    assert s.face_attributes(0)["Smiling"] == 1.0 and s.face_attributes(0)["Male"] == -0.5
    dialled = s.render_face(0).copy()
    assert not np.array_equal(dialled, before)
    s.apply(ResetAttributes(0, ("Male",)))
    assert s.face_attributes(0)["Male"] == 0.0 and s.face_attributes(0)["Smiling"] == 1.0
    s.apply(ResetAttributes(0))
    np.testing.assert_array_equal(s.render_face(0), before)
    with pytest.raises(FacetError, match="cGAN"):
        s.apply(SetAttribute(0, "Smiling", 1.0))


def test_a_trained_tiny_cgan_edits_through_the_session(tiny_cgan_bundle, photo):
    cgan = load_bundle(tiny_cgan_bundle)
    s = EditSession(photo, cgan, detect=False)
    drive(s.invert_face_job(0, "balanced", steps=3))
    assert s.faces[0].method == "hybrid"
    name = cgan.attributes[0]
    value = -1.0 if s.face_attributes(0)[name] > 0 else 1.0
    before = s.render_face(0).copy()
    s.apply(SetAttribute(0, name, value))
    assert not np.array_equal(s.render_face(0), before)
    restored = EditSession.from_dict(s.to_dict(), cgan)
    np.testing.assert_array_equal(restored.render_photo(), s.render_photo())


def test_crops_take_the_larger_model_resolution(tmp_path, bundles, photo):
    """A 32 px cGAN with a 64 px ELEGANT: faces are cropped at 64 so ELEGANT sees full detail; cGAN renders
    are resized to the crop."""
    cgan, _ = bundles
    elegant64 = load_bundle(make_elegant_bundle(tmp_path / "e64", resolution=64))
    s = EditSession(photo, cgan, elegant64)
    assert s.resolution == 64 and s.faces[0].crop.shape == (64, 64, 3)
    drive(s.invert_face_job(0, "encoder"))
    s.apply(SetAttribute(0, "Smiling", 1.0))
    assert s.render_face(0).shape == (64, 64, 3)
    ref = s.add_exemplar(np.full((80, 80, 3), 30, np.uint8), align=False)
    s.apply(TransferFromExemplar(0, ref, ("Smiling",), 1.0))
    assert s.render_face(0).shape == (64, 64, 3)
    assert EditSession(photo, cgan, None).resolution == 32
    # a 32 px ELEGANT whose manifest asks for 64 px crops: its upsampled residual lands on the 64 px crop
    elegant32 = load_bundle(make_elegant_bundle(tmp_path / "e32"))
    elegant32.manifest["crop_resolution"] = 64
    s = EditSession(photo, cgan, elegant32)
    assert s.resolution == 64 and s.faces[0].crop.shape == (64, 64, 3)
    ref = s.add_exemplar(np.full((80, 80, 3), 30, np.uint8), align=False)
    s.apply(TransferFromExemplar(0, ref, ("Smiling",), 1.0))
    out = s.render_face(0)
    assert out.shape == (64, 64, 3) and not np.array_equal(out, s.faces[0].crop)


def test_operations_replay_cannot_perform_are_refused_and_leave_the_stack(session, bundles):
    from engine.ops import ApplyVector, Dial, Stroke

    ref = session.add_exemplar(np.full((32, 32, 3), 90, np.uint8), align=False)
    before = session.render_photo()
    bad = [SetAttribute(0, "Smiling", float("nan")), ApplyVector(0, "Smiling", float("inf")),
           Dial(0, "Smiling", 1.51), TransferFromExemplar(0, ref, ("Smiling",), 2.0),
           TransferFromExemplar(0, ref, (), 1.0), Stroke(0, "", (0.0,) * 3, (0.0,))]
    for op in bad:
        with pytest.raises(FacetError):
            session.apply(op)
    assert session.ops == [] and session.cursor == 0
    np.testing.assert_array_equal(session.render_photo(), before)


def test_a_project_whose_edits_need_a_missing_model_is_refused(session, bundles):
    session.apply(SetAttribute(0, "Smiling", 0.8, gesture=1))
    data = session.to_dict()
    with pytest.raises(FacetError, match="cannot be replayed.*cGAN"):
        EditSession.from_dict(data, None, bundles[1])  # the same resolution, but no cGAN
    assert EditSession.from_dict(data, *bundles).ops == session.ops


@pytest.mark.parametrize("box", [(10, 10, 10, 30), (float("nan"), 0, 10, 10), (400, 400, 500, 500), (-50, -50, -5, -5)])
def test_a_manual_face_box_must_be_a_box_on_the_photo(session, box):
    n = len(session.faces)
    with pytest.raises(FacetError, match="face box"):
        session.add_manual_face(box)
    assert len(session.faces) == n


def test_a_render_is_the_callers_to_change_and_a_zero_strength_transfer_changes_nothing(session, bundles):
    crop = session.faces[0].crop.copy()
    session.render_face(0)[:] = 0  # a caller drawing into what it got
    np.testing.assert_array_equal(session.faces[0].crop, crop)
    np.testing.assert_array_equal(session.render_face(0), crop)
    ref = session.add_exemplar(np.full((32, 32, 3), 90, np.uint8), align=False)
    before = session.render_photo()
    session.apply(TransferFromExemplar(0, ref, ("Male",), 0.0))
    np.testing.assert_array_equal(session.render_photo(), before)


def test_an_exemplar_or_photo_that_is_not_an_rgb_image_is_refused(session, bundles):
    for bad in (np.zeros((32, 32), np.uint8), np.zeros((32, 32, 4), np.uint8), np.zeros((0, 0, 3), np.uint8),
                np.full((32, 32, 3), 0.5, np.float32)):
        with pytest.raises(FacetError, match="exemplar must be an RGB uint8 image"):
            session.add_exemplar(bad, align=False)
    assert session.exemplars == {}
    with pytest.raises(FacetError, match="no pixels"):
        EditSession(np.zeros((0, 10, 3), np.uint8), *bundles)


def test_a_session_from_another_cgan_or_without_its_photo_is_refused(session, bundles):
    from engine.invert import LatentCode

    session.faces[0].code = LatentCode(np.zeros(7, np.float32), np.zeros(2, np.float32))
    with pytest.raises(FacetError, match="face 1: the code has z of 7.*another cGAN"):
        EditSession.from_dict(session.to_dict(), *bundles)
    data = session.to_dict()
    del data["photo"]
    with pytest.raises(FacetError, match="corrupt session"):
        EditSession.from_dict(data, *bundles)


@pytest.mark.parametrize(("damage", "field"), [
    (lambda d: d["faces"][0].update(box=[10.0, 20.0]), "faces[0].box"),
    (lambda d: d["faces"][0].update(transform=np.zeros((2, 3))), "faces[0].transform"),
    (lambda d: d["faces"][0].update(crop=np.zeros((8, 8, 3), np.uint8)), "faces[0].crop"),
    (lambda d: d["ops"].append({"kind": "set_attribute", "face": 0, "name": "Smiling", "value": float("nan")}),
     "ops[0].value"),
    (lambda d: d.update(cursor=10**400), "cursor"),
])
def test_every_stored_field_is_checked_before_the_session_is_rebuilt(session, bundles, damage, field):
    data = session.to_dict()
    damage(data)
    with pytest.raises(FacetError, match=rf"corrupt session: {field.replace('[', '.').replace(']', '.')}"):
        EditSession.from_dict(data, *bundles)
