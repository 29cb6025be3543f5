"""Looks: one face's edits saved with a name, read back bounded, applied to another photo's face."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import FacetError
from engine.images import save_image
from engine.looks import (
    Look,
    LookTransfer,
    apply_look,
    delete_look,
    list_looks,
    load_look,
    look_from_ops,
    look_ops,
    save_look,
    slug,
)
from engine.ops import ApplyVector, Dial, ResetAttributes, SetAttribute, Stroke, TransferFromExemplar
from engine.progress import drive
from engine.session import EditSession
from tests.engine.test_session import make_cgan_bundle, make_elegant_bundle


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    from engine.bundle import load_bundle

    root = tmp_path_factory.mktemp("bundles")
    return load_bundle(make_cgan_bundle(root / "cgan")), load_bundle(make_elegant_bundle(root / "elegant"))


def picture(seed: int, shape=(90, 120, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


def edited_session(cgan, elegant, photo, exemplar_path) -> EditSession:
    s = EditSession(photo, cgan, elegant, detect=False)
    drive(s.invert_face_job(0, "fast"))
    from engine.images import load_image

    ref = s.add_exemplar(load_image(exemplar_path))
    for op in (SetAttribute(0, "Smiling", 0.8), SetAttribute(0, "Male", -0.5), ApplyVector(0, "Blond_Hair", 0.7),
               TransferFromExemplar(0, ref, ("Black_Hair",), 0.6)):
        s.apply(op)
    return s


def test_a_saved_look_applied_to_another_photo_gives_the_same_operations(bundles, tmp_path):
    cgan, elegant = bundles
    exemplar = save_image(tmp_path / "gallery" / "dark hair.png", picture(9, (48, 48, 3)))
    first = edited_session(cgan, elegant, picture(1), exemplar)
    look = look_from_ops("Sunday best", first.face_ops(0), {ref: str(exemplar) for ref in first.exemplars})
    path = save_look(tmp_path / "looks", look)
    exemplar.unlink()  # the look keeps its own copy
    assert path == tmp_path / "looks" / "Sunday best" / "look.json"

    loaded = load_look(path)
    assert loaded.name == "Sunday best" and len(loaded.transfers) == 1
    other = EditSession(picture(2), cgan, elegant, detect=False)
    drive(other.invert_face_job(0, "fast"))
    change = apply_look(other, 0, loaded)
    assert change.faces == {0} and change.stack
    assert [op.to_dict() for op in other.ops] == [op.to_dict() for op in first.ops]
    assert not np.array_equal(other.render_photo(), other.photo)


def test_a_look_is_the_net_edit_and_leaves_out_what_belongs_to_the_face():
    ops = [SetAttribute(0, "Smiling", 0.2), SetAttribute(0, "Smiling", 0.9, gesture=2), Dial(0, "Bangs", 0.5),
           ApplyVector(0, "Male", 0.5), ApplyVector(0, "Male", 0.25), ResetAttributes(0, ("Bangs",)),
           Stroke(0, "", (0.0,), (0.0,)), TransferFromExemplar(0, "ref", ("Eyeglasses",), 0.0)]
    look = look_from_ops(" Mine ", ops, {})
    assert look == Look("Mine", {"Smiling": 0.9}, {}, {"Male": 0.75}, ())
    assert look_from_ops("x", [*ops, ResetAttributes(0, ())], {}).is_empty()
    with pytest.raises(FacetError, match="exemplar image is not known"):
        look_from_ops("x", [TransferFromExemplar(0, "ref", ("Eyeglasses",), 1.0)], {})
    made = look_ops(Look("x", {"Smiling": 0.5}, {"Bangs": -1.0}, {"Male": 1.0}, (LookTransfer("e.png", ("Male",)),)),
                    3, lambda path: f"ref:{path}")
    assert made == [SetAttribute(3, "Smiling", 0.5), ApplyVector(3, "Male", 1.0), Dial(3, "Bangs", -1.0),
                    TransferFromExemplar(3, "ref:e.png", ("Male",), 1.0)]


def test_a_look_that_cannot_be_applied_leaves_the_session_as_it_was(bundles):
    s = EditSession(picture(3), bundles[0], detect=False)
    drive(s.invert_face_job(0, "fast"))
    with pytest.raises(FacetError, match="the look “odd” cannot be applied.*Beard"):
        apply_look(s, 0, Look("odd", {"Smiling": 0.5, "Beard": 1.0}))
    assert s.ops == [] and s.cursor == 0


@pytest.mark.parametrize("text, problem", [
    ("[]", "not a Facet look"),
    ('{"format": "facet-look", "format_version": 9, "name": "x"}', "version 9"),
    ('{"format": "facet-look", "format_version": 1, "name": ""}', "name must be"),
    ('{"format": "facet-look", "format_version": 1, "name": "x", "attributes": {"Smiling": "high"}}', "Smiling must"),
    ('{"format": "facet-look", "format_version": 1, "name": "x", "vectors": {"Male": 1e400}}', "Male must"),
    ('{"format": "facet-look", "format_version": 1, "name": "x", "transfers": [{"exemplar": "../../etc/x.png", '
     '"attributes": ["Male"]}]}', "file name inside the look"),
    ('{"format": "facet-look", "format_version": 1, "name": "x", "transfers": [{"exemplar": "e.png"}]}', "attributes"),
    ("{not json", "not valid JSON"),
])
def test_a_damaged_look_file_is_refused_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "x" / "look.json"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(FacetError, match=problem) as info:
        load_look(path.parent)
    assert str(path) in str(info.value)
    assert list_looks(tmp_path) == []  # listed looks leave the damaged one out


def test_looks_are_listed_by_name_replaced_by_name_and_deleted(tmp_path):
    folder = tmp_path / "looks"
    save_look(folder, Look("b/../Wild", {"Smiling": 1.0}))
    first = save_look(folder, Look("a calm one", {"Smiling": -1.0}))
    save_look(folder, Look("a calm one", {"Smiling": -0.5}))  # the same name: replaced
    assert [name for name, _ in list_looks(folder)] == ["a calm one", "b/../Wild"]
    assert load_look(first).attributes == {"Smiling": -0.5}
    assert slug("b/../Wild") == "b_Wild" and slug("...") == "look"
    twin = save_look(folder, Look("b_Wild", {"Male": 1.0}))  # the same folder name: a folder of its own
    assert twin.parent.name == "b_Wild-2" and load_look(folder / "b_Wild").name == "b/../Wild"
    delete_look(twin)
    assert json.loads(first.read_text())["format"] == "facet-look"
    delete_look(first)
    assert [name for name, _ in list_looks(folder)] == ["b/../Wild"] and not first.parent.exists()
