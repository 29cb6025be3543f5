"""Blending with another face, super-resolving a small face, attribute vectors and face numbering in a session."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import FacetError
from engine.invert import LatentCode
from engine.ops import ApplyVector, Interpolate, SetAttribute, Upscale, encode_png, op_from_dict
from engine.progress import drive
from engine.session import EditSession
from engine.session_tools import blend_code_job, face_side, upscale_face_job
from tests.engine.test_session import make_cgan_bundle, make_elegant_bundle


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    from engine.bundle import load_bundle

    root = tmp_path_factory.mktemp("bundles")
    return load_bundle(make_cgan_bundle(root / "cgan")), load_bundle(make_elegant_bundle(root / "elegant"))


@pytest.fixture
def photo():
    return np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8)


@pytest.fixture
def session(bundles, photo):
    s = EditSession(photo, bundles[0], detect=False)
    drive(s.invert_face_job(0, "fast"))
    return s


def other_code(session, seed: int = 5) -> LatentCode:
    rng = np.random.default_rng(seed)
    code = session.faces[0].code
    return LatentCode(rng.standard_normal(code.z.shape).astype(np.float32), -code.y)


def blend(code: LatentCode, t: float, gesture: int = 0) -> Interpolate:
    return Interpolate(0, tuple(map(float, code.z)), tuple(map(float, code.y)), t, "Face 2", gesture)


def test_a_blend_moves_the_code_towards_the_other_face_and_undoes(session):
    other = other_code(session)
    before = session.render_photo()
    session.apply(blend(other, 0.0))
    np.testing.assert_allclose(session.face_code(0).z, session.faces[0].code.z, atol=1e-6)
    session.undo()
    session.apply(blend(other, 1.0))
    np.testing.assert_allclose(session.face_code(0).z, other.z, atol=1e-6)
    np.testing.assert_allclose(session.face_code(0).y, other.y, atol=1e-6)
    half = blend(other, 0.5)
    session.apply(half)
    assert not np.array_equal(session.render_photo(), before)
    assert half.describe() == "Blend with Face 2 50%"
    session.undo()
    session.undo()
    np.testing.assert_array_equal(session.render_photo(), before)


def test_a_blend_drag_is_one_step(session):
    other = other_code(session)
    for t in (0.1, 0.4, 0.7):
        session.apply(blend(other, t, gesture=3))
        session.squash()
    assert len(session.ops) == 1 and session.ops[0].t == pytest.approx(0.7)


def test_a_blend_replay_could_not_perform_is_refused(session, bundles):
    other = other_code(session)
    with pytest.raises(FacetError, match="from 0 to 1"):
        session.apply(blend(other, 1.5))
    with pytest.raises(FacetError):
        session.apply(Interpolate(0, (1.0, 2.0), tuple(map(float, other.y)), 0.5))  # z of the wrong size
    fresh = EditSession(session.photo, bundles[0], detect=False)
    with pytest.raises(FacetError, match="not been inverted"):
        fresh.apply(blend(other, 0.5))
    assert session.ops == [] and fresh.ops == []


def test_blend_and_upscale_operations_survive_a_project_round_trip(session, bundles):
    session.apply(blend(other_code(session), 0.3))
    sharp = np.full((32, 32, 3), 200, np.uint8)
    session.apply(Upscale(0, encode_png(sharp), 2))
    restored = EditSession.from_dict(session.to_dict(), bundles[0])
    assert restored.ops == session.ops
    assert [op_from_dict(op.to_dict()) for op in session.ops] == session.ops
    np.testing.assert_array_equal(restored.render_photo(), session.render_photo())


def test_a_damaged_upscale_result_is_named(session, bundles):
    session.apply(Upscale(0, encode_png(np.zeros((32, 32, 3), np.uint8)), 2))
    data = session.to_dict()
    data["ops"][0]["result"] = "bm90IGEgcG5n"  # base64 of "not a png"
    with pytest.raises(FacetError, match=r"ops\[0\]\.result"):
        EditSession.from_dict(data, bundles[0])


def test_an_upscaled_face_takes_its_sharp_pixels_and_later_edits_add_to_them(bundles):
    rng = np.random.default_rng(2)
    big = rng.integers(0, 255, (200, 240, 3), dtype=np.uint8)
    s = EditSession(big, bundles[0], detect=False)
    i, _ = s.add_manual_face((100, 80, 106, 87))  # a face of a few pixels
    assert face_side(s, i) <= bundles[0].resolution // 2
    op = drive(upscale_face_job(s, i, steps=3))
    assert isinstance(op, Upscale) and op.face == i and op.factor >= 2
    s.apply(op)
    sharp = s.render_face(i)
    assert not np.array_equal(sharp, s.faces[i].crop)
    drive(s.invert_face_job(i, "fast"))
    s.apply(SetAttribute(i, "Smiling", 1.0))
    smiled = s.render_face(i)
    assert not np.array_equal(smiled, sharp)  # the slider still edits the super-resolved face


def test_a_face_large_enough_is_not_upscaled(session):
    assert face_side(session, 0) >= 32
    with pytest.raises(FacetError, match="face 1 is 90 px wide.*at most 16 px, so there is nothing to super-resolve"):
        drive(upscale_face_job(session, 0, steps=2))


def test_the_face_to_blend_with_comes_from_another_face_or_another_photo(bundles):
    rng = np.random.default_rng(3)
    s = EditSession(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), bundles[0], detect=False)
    j, _ = s.add_manual_face((100, 30, 140, 80))
    assert not s.has_code(j)
    code = drive(blend_code_job(s, "fast", face=j))
    assert s.has_code(j) and np.array_equal(code.z, s.faces[j].code.z)  # inverted once, and kept
    image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    from_photo = drive(blend_code_job(s, "fast", image=image))
    assert from_photo.z.shape == code.z.shape
    with pytest.raises(FacetError, match="one face"):
        drive(blend_code_job(s, "fast"))


def test_a_vector_is_refused_when_the_model_has_none(tmp_path, photo):
    import torch

    from engine.bundle import load_bundle

    bundle = load_bundle(make_cgan_bundle(tmp_path / "cgan"))
    bundle.tensors.pop("attribute_vectors")
    torch.manual_seed(0)
    s = EditSession(photo, bundle, detect=False)
    drive(s.invert_face_job(0, "fast"))
    with pytest.raises(FacetError, match="no attribute vectors"):
        s.apply(ApplyVector(0, "Smiling", 1.0))
    assert s.ops == []


def test_the_app_and_the_cli_number_faces_by_one_rule(monkeypatch):
    import engine.numbering
    from app.faces import face_numbers
    from engine.cli.common import left_to_right, pick_face

    boxes = [(200, 0, 300, 100), (0, 0, 50, 50), (100, 0, 150, 50), (0, 80, 50, 130)]
    assert engine.numbering.reading_order(boxes) == [1, 3, 2, 0]
    assert face_numbers(boxes) == [4, 1, 3, 2]
    assert left_to_right(boxes) == [1, 3, 2, 0] and pick_face(boxes, 1, "p") == 1
    monkeypatch.setattr(engine.numbering, "reading_order", lambda b: list(range(len(b)))[::-1])
    assert left_to_right(boxes) == [3, 2, 1, 0]  # the CLI asks the engine's rule, it keeps none of its own
    assert face_numbers is engine.numbering.face_numbers
