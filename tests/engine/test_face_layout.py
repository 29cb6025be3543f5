"""Crop layouts (face / head) and the attribute regions laid on them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.errors import FacetError
from engine.face.align import TEMPLATE, align_face, apply_affine, crop_matrix
from engine.face.detect import Face
from engine.face.layout import LAYOUTS, canvas_crop, convert_crop, get_layout, sub_square
from engine.face.regions import (
    ATTRIBUTE_REGIONS,
    CONFINEMENT_GROW,
    FACE_OVAL,
    attribute_region,
    edit_confinement,
    face_oval,
    region_map,
)


def _canvas_face() -> Face:
    return Face(box=(40.0, 60.0, 140.0, 190.0), landmarks=TEMPLATE.copy(), score=1.0)


def test_layouts_place_the_template_where_they_say():
    face = _canvas_face()
    for name, lay in LAYOUTS.items():
        m = crop_matrix(face, 128, name)
        eyes = apply_affine(m, TEMPLATE[:2]) / 128
        want = np.array([lay.fraction(*TEMPLATE[0]), lay.fraction(*TEMPLATE[1])])
        np.testing.assert_allclose(eyes, want, atol=1e-9)
    # the default is the classic face crop: 178 x 178 from y = 20
    np.testing.assert_allclose(crop_matrix(face, 178), crop_matrix(face, 178, "face"))
    assert crop_matrix(face, 178)[1, 2] == pytest.approx(-20.0)


def test_the_head_layout_holds_the_face_layout():
    left, top, side = sub_square("face", "head", 208)
    assert (left, top, side) == pytest.approx((15.0, 15.0, 178.0))
    with pytest.raises(FacetError, match="unknown crop layout"):
        get_layout("feet")


def test_canvas_crop_cuts_the_layouts_square_and_pads_beyond_the_canvas():
    canvas = np.zeros((218, 178, 3), np.uint8)
    canvas[:, :, 0] = np.arange(178)[None, :]  # red = x
    canvas[:, :, 1] = np.arange(218)[:, None]  # green = y
    head = canvas_crop(canvas, "head", 208)
    assert head.shape == (208, 208, 3)
    assert head[100, 0, 0] == 0 and head[100, 14, 0] == 0  # edge-padded left of the canvas
    assert head[100, 15, 0] == 0 and head[100, 16, 0] == 1
    assert head[0, 100, 1] == 5 and head[207, 100, 1] == 212
    face = canvas_crop(canvas, "face", 178)
    assert face[0, 0, 1] == 20 and face[0, 0, 0] == 0
    half = canvas_crop(canvas[::2, ::2].copy(), "head", 104)  # the half-size layout
    assert half.shape == (104, 104, 3)
    odd = np.zeros((50, 80, 3), np.uint8)  # not a canvas: the centred square
    assert canvas_crop(odd, "head", 32).shape == (32, 32, 3)


def test_convert_crop_agrees_with_aligning_the_photo_again():
    yy, xx = np.mgrid[0:320, 0:320]
    photo = np.stack([127 + 100 * np.sin(xx / 9.0), 127 + 100 * np.cos(yy / 7.0),
                      127 + 100 * np.sin((xx + yy) / 11.0)], -1).astype(np.uint8)  # smooth: resampling agrees
    face = Face(box=(0, 0, 1, 1), landmarks=TEMPLATE + 70.0, score=1.0)
    head = align_face(photo, face, 128, "head").crop
    direct = align_face(photo, face, 64, "face").crop
    converted = convert_crop(head, "head", "face", 64)
    assert np.abs(converted.astype(int) - direct.astype(int)).mean() < 2  # a misplaced square would be ~40


def test_regions_sit_on_the_template():
    r = 128
    eyes = region_map("eyes", r, "head")
    lay = get_layout("head")
    for x, y in TEMPLATE[:2]:
        fx, fy = lay.fraction(x, y)
        assert eyes[round(fy * r), round(fx * r)] == 1.0
    mx, my = lay.fraction(*TEMPLATE[3:].mean(0))
    assert eyes[round(my * r), round(mx * r)] == 0.0
    mouth = attribute_region("Mustache", r, "head")
    assert mouth[round(my * r), round(mx * r)] == 1.0
    hair = attribute_region("Blond_Hair", r, "head")
    assert hair[0, 0] == 1.0 and hair[round(my * r), round(mx * r)] == 0.0
    assert attribute_region("Male", r) is None and attribute_region("Young", r) is None
    grown = attribute_region("Eyeglasses", r, "head", grow=6.0)
    assert grown.sum() > eyes.sum()
    assert set(ATTRIBUTE_REGIONS.values()) <= {"eyes", "mouth", "forehead", "hair"}


def test_the_face_oval_is_one_oval_in_every_layout():
    face, head = face_oval(64, "face"), face_oval(128, "head")
    (cx, cy), _ = FACE_OVAL
    assert face[round(cy * 64), round(cx * 64)] == 1.0 and face[0, 0] == 0.0 and face[0, 63] == 0.0
    # the head crop holds the face crop's square: resampled there, the head's oval is the face's
    left, top, side = sub_square("face", "head", 128)
    inner = head[round(top) : round(top + side), round(left) : round(left + side)]
    assert abs(inner.shape[0] - 109) <= 1
    resized = np.asarray(Image.fromarray((inner * 255).astype(np.uint8)).resize((64, 64), Image.BILINEAR)) / 255
    assert np.abs(resized - face).mean() < 0.02
    assert head[:, :8].max() == 0.0 and head[:8].max() == 0.0  # beyond the face square: background and hair


def test_an_edit_is_confined_to_its_attributes_regions_or_the_face():
    r = 128
    glasses = edit_confinement(["Eyeglasses"], r, "head")
    grown = attribute_region("Eyeglasses", r, "head", grow=CONFINEMENT_GROW)
    assert np.array_equal(glasses, grown) and glasses.sum() > region_map("eyes", r, "head").sum()
    both = edit_confinement(["Eyeglasses", "Mustache"], r, "head")
    assert np.array_equal(both, np.maximum(grown, attribute_region("Mustache", r, "head", grow=CONFINEMENT_GROW)))
    oval = face_oval(r, "head")
    assert np.array_equal(edit_confinement(["Male"], r, "head"), oval)
    assert np.array_equal(edit_confinement(["Smiling", "Young"], r, "head"), np.maximum(oval, edit_confinement(["Smiling"], r, "head")))
    assert np.array_equal(edit_confinement(["Smiling"], r, "head", whole_face=True), oval)
    assert edit_confinement([], r, "head").max() == 0.0
    blond = edit_confinement(["Blond_Hair"], r, "head")
    assert blond[0, 0] == 0.0 and blond[2, r // 2] == 1.0  # background in the corner, hair on the crown
    assert np.array_equal(blond, attribute_region("Blond_Hair", r, "head", grow=CONFINEMENT_GROW)
                          * region_map("head", r, "head"))
