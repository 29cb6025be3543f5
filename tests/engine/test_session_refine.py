"""Instant first edit: an encoder code at once, a refined code adopted later with the edits replayed on it;
sliders routed to the model that edits their attribute; first previews of brush strokes and completion."""

from __future__ import annotations

import numpy as np
import pytest

from engine.bundle import load_bundle
from engine.errors import FacetError
from engine.ops import Dial, SetAttribute
from engine.progress import drive
from engine.session import EditSession
from engine.session_models import slider_op
from tests.engine.test_session import ATTRS, make_cgan_bundle, make_elegant_bundle


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("refine-bundles")
    return load_bundle(make_cgan_bundle(root / "cgan")), load_bundle(make_elegant_bundle(root / "elegant"))


@pytest.fixture
def photo():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:90, 0:120]
    base = np.stack([xx * 2, yy * 2, (xx + yy)], axis=2) % 256
    return (base + rng.integers(0, 20, base.shape)).clip(0, 255).astype(np.uint8)


def test_a_slider_move_becomes_the_operation_of_the_model_its_attribute_is_routed_to():
    routes = {"Smiling": "elegant", "Male": "cgan"}
    assert slider_op(routes, 2, "Smiling", 0.5, 7) == Dial(2, "Smiling", 0.5, 7)
    assert slider_op(routes, 0, "Male", -1, 0) == SetAttribute(0, "Male", -1.0, 0)
    with pytest.raises(FacetError, match="no loaded model edits Wings"):
        slider_op(routes, 0, "Wings", 1.0)


def test_cgan_routed_values_wait_for_the_inversion_and_elegant_routed_ones_do_not(bundles, photo):
    cgan, elegant = bundles
    both = EditSession(photo, cgan, elegant, detect=False)
    assert both.face_attributes(0) == dict.fromkeys(ATTRS)  # an older ELEGANT model leaves them to the cGAN
    drive(both.invert_face_job(0, "encoder"))
    assert all(isinstance(v, float) for v in both.face_attributes(0).values())
    assert EditSession(photo, elegant=elegant, detect=False).face_attributes(0) == dict.fromkeys(ATTRS, 0.0)
    assert EditSession(photo, detect=False).face_attributes(0) is None  # no model edits anything


def test_an_edit_made_on_the_encoder_code_is_replayed_on_the_refined_code(bundles, photo):
    cgan, _ = bundles
    s = EditSession(photo, cgan, detect=False)
    drive(s.invert_face_job(0, "encoder"))
    encoder_code = s.faces[0].code.copy()
    job = s.inversion_job(0, "optimize", steps=3)  # made now, run later (the app runs it in another thread)
    s.apply(SetAttribute(0, "Smiling", 0.9))
    on_encoder = s.render_face(0)
    inversion = drive(job)
    np.testing.assert_array_equal(s.faces[0].code.z, encoder_code.z)  # the job never touched the session
    change = s.adopt_inversion(0, inversion)
    assert change.faces == {0} and change.photo and s.faces[0].method == "optimize"
    assert not np.array_equal(s.faces[0].code.z, encoder_code.z)
    assert s.face_code(0).y[ATTRS.index("Smiling")] == pytest.approx(0.9)  # the edit, on the new code
    refined = EditSession(photo, cgan, detect=False)  # the same state built directly: the same pixels
    refined.faces[0].code, refined.faces[0].reconstruction = inversion.result.code, inversion.result.reconstruction
    refined.apply(SetAttribute(0, "Smiling", 0.9))
    np.testing.assert_array_equal(s.render_face(0), refined.render_face(0))
    assert not np.array_equal(s.render_face(0), on_encoder)  # the cached render of the old code is gone
    np.testing.assert_array_equal(s.render_photo(), refined.render_photo())


def test_a_refinement_is_not_adopted_by_another_face_or_over_a_newer_code(bundles, photo):
    cgan, _ = bundles
    s = EditSession(photo, cgan, detect=False)
    stale = drive(s.inversion_job(0, "encoder"))
    drive(s.invert_face_job(0, "encoder"))  # a newer code since that inversion started
    assert s.adopt_inversion(0, stale).faces == set() and s.faces[0].code_version == 1
    i, _ = s.add_manual_face((10, 10, 60, 60))
    other = drive(s.inversion_job(i, "encoder"))
    slot = s.remove_last_face()
    assert s.adopt_inversion(i, other).faces == set()  # its face was taken out
    s.restore_face(slot)
    assert s.adopt_inversion(i, other).faces == {i} and s.has_code(i)  # and put back: it is that face's code
    assert s.adopt_inversion(i, other).photo is False  # no edit of it: the photo does not change


def test_first_previews_of_strokes_and_completion_take_no_optimisation(bundles, photo, monkeypatch):
    import engine.invert.core as core

    cgan, _ = bundles
    s = EditSession(photo, cgan, detect=False)
    drive(s.invert_face_job(0, "encoder"))
    r = s.resolution
    mask = np.zeros((r, r), np.float32)
    mask[10:16, 8:24] = 1
    colors = np.zeros((r, r, 3), np.uint8)
    colors[..., 0] = 255
    steps = []
    real = core.optimize_latent_job

    def counted(*args, **kwargs):
        steps.append(args[4].steps)
        return (yield from real(*args, **kwargs))

    monkeypatch.setattr("engine.edit.constrained.optimize_latent_job", counted)
    before = s.render_face(0)
    stroked = s.stroke_preview(0, mask, colors)
    inside = mask > 0
    assert stroked.shape == (r, r, 3)
    assert (stroked[inside, 0].astype(int) - before[inside, 0]).mean() > 20  # the stroked pixels redden at once
    filled = s.complete_preview(0, mask)
    assert filled.shape == (r, r, 3) and steps == [0]  # the encoder's guess: no optimiser step
    np.testing.assert_array_equal(filled[~inside], before[~inside])  # every unmasked pixel is kept
