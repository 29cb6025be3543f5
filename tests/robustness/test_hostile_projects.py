"""Tampered ``.facet`` projects: each is refused with one clear FacetError naming what is damaged, without
hanging, without inflating what the file claims, and never with another exception type — the way the app
opens a project (``read_project`` then ``EditSession.from_dict``, in the worker)."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import app.project
from app.project import ProjectError, read_project, write_project
from engine.bundle import load_bundle
from engine.errors import FacetError
from engine.ops import Complete, SetAttribute, Stroke, TransferFromExemplar, encode_png, pack_strokes
from engine.progress import drive
from engine.session import EditSession
from tests.engine.test_session import make_cgan_bundle, make_elegant_bundle
from tests.robustness.hostile_files import guarded, one_line, posix_only

Doc = dict


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    return load_bundle(make_cgan_bundle(root / "cgan")), load_bundle(make_elegant_bundle(root / "elegant"))


@pytest.fixture(scope="module")
def project(bundles, tmp_path_factory) -> Path:
    """A project with an inverted face, an exemplar and one operation of each stored kind."""
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    s = EditSession(photo, *bundles, detect=False)
    drive(s.invert_face_job(0, "fast"))
    ref = s.add_exemplar(np.full((32, 32, 3), 90, np.uint8), align=False)
    code = s.face_code(0)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:16, 8:16] = 255
    s.apply(SetAttribute(0, "Smiling", 0.8, gesture=1))
    s.apply(TransferFromExemplar(0, ref, ("Male",), 0.5))
    s.apply(Stroke(0, pack_strokes(mask / 255.0, np.zeros((32, 32, 3), np.uint8)), tuple(code.z.tolist()),
                   tuple(code.y.tolist())))
    s.apply(Complete(0, encode_png(mask), encode_png(s.faces[0].crop)))
    return write_project(tmp_path_factory.mktemp("project") / "p.facet", s.to_dict(), {"photo_path": "x.jpg"})


def parts(path: Path) -> tuple[Doc, dict[str, np.ndarray], bytes]:
    """(session.json as a dict, the arrays, photo.png's bytes) of a project."""
    with zipfile.ZipFile(path) as zf:
        doc = json.loads(zf.read("session.json"))
        with np.load(io.BytesIO(zf.read("arrays.npz"))) as npz:
            arrays = {k: npz[k] for k in npz.files}
        return doc, arrays, zf.read("photo.png")


def build(path: Path, doc: Doc, arrays: dict[str, np.ndarray], photo: bytes, npz: bytes | None = None,
          session_json: bytes | None = None) -> Path:
    if npz is None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        npz = buf.getvalue()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("session.json", json.dumps(doc) if session_json is None else session_json)
        zf.writestr("photo.png", photo, compress_type=zipfile.ZIP_STORED)
        zf.writestr("arrays.npz", npz, compress_type=zipfile.ZIP_STORED)
    return path


def tampered(project: Path, tmp_path: Path, change: Callable[[Doc, dict], object]) -> Path:
    doc, arrays, photo = parts(project)
    change(doc["session"], arrays)
    return build(tmp_path / "t.facet", doc, arrays, photo)


def open_project(path: Path, bundles) -> EditSession:
    data, _ = read_project(path)
    return EditSession.from_dict(data, *bundles)


def refused(path: Path, bundles, *names: str) -> str:
    """Opening raises a FacetError (no other type), promptly and within memory; its one-line message."""
    with pytest.raises(FacetError) as info:
        guarded(open_project, path, bundles)
    return one_line(info.value, *names)


def test_the_untampered_project_opens_and_renders(project, bundles) -> None:
    s = open_project(project, bundles)
    assert len(s.ops) == 4 and s.render_photo().shape == (60, 80, 3)


# -- the file and the zip ---------------------------------------------------------------------------------

@posix_only
def test_a_fifo(tmp_path, bundles) -> None:
    os.mkfifo(tmp_path / "p.facet")
    assert "FIFO" in refused(tmp_path / "p.facet", bundles, "p.facet")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_link_to_dev_zero(tmp_path, bundles) -> None:
    (tmp_path / "p.facet").symlink_to("/dev/zero")
    refused(tmp_path / "p.facet", bundles, "p.facet", "device")


def _zeros_member(zf: zipfile.ZipFile, name: str, size: int, prefix: bytes = b"") -> None:
    """A member that inflates to ``size`` bytes, written in chunks (a few MB on disk, nothing held in memory)."""
    with zf.open(zipfile.ZipInfo(name), "w") as f:
        f.write(prefix)
        chunk = b"\0" * 2**22
        for _ in range(size // len(chunk)):
            f.write(chunk)


def test_session_json_that_inflates_past_its_cap(project, tmp_path, bundles, monkeypatch) -> None:
    monkeypatch.setattr(app.project, "MAX_SESSION_BYTES", 8 * 2**20)  # the real cap, 64 MB, is slow to exceed
    _, _, photo = parts(project)
    with zipfile.ZipFile(tmp_path / "bomb.facet", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        _zeros_member(zf, "session.json", 16 * 2**20, b'{"format": "facet-project", "pad": "')
        zf.writestr("photo.png", photo)
        zf.writestr("arrays.npz", b"")
    assert "MB" in refused(tmp_path / "bomb.facet", bundles, "bomb.facet", "session.json")


@pytest.mark.parametrize("cap", ["MAX_ARRAYS_INFLATED", "MAX_ARRAYS_BYTES"])
def test_arrays_that_inflate_past_their_cap(project, tmp_path, bundles, monkeypatch, cap) -> None:
    monkeypatch.setattr(app.project, cap, 8 * 2**20)  # the real caps, 256 and 512 MB, are slow to exceed
    doc, _, photo = parts(project)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                      "shape": (16 * 2**20,)})
        _zeros_member(zf, "a0.npy", 16 * 2**20, header.getvalue())
    if cap == "MAX_ARRAYS_BYTES":  # arrays.npz itself inflates past its cap
        with zipfile.ZipFile(tmp_path / "bomb.facet", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.writestr("session.json", json.dumps(doc))
            zf.writestr("photo.png", photo)
            _zeros_member(zf, "arrays.npz", 16 * 2**20)
    else:
        build(tmp_path / "bomb.facet", doc, {}, photo, npz=inner.getvalue())
    refused(tmp_path / "bomb.facet", bundles, "bomb.facet", "arrays.npz")


@pytest.mark.parametrize("shape", [(200_000, 200_000), (2**62, 4)])
def test_an_array_header_claiming_more_than_its_bytes(project, tmp_path, bundles, shape) -> None:
    doc, arrays, photo = parts(project)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        for k, v in arrays.items():
            if k == "a0":
                continue
            a = io.BytesIO()
            np.save(a, v)
            zf.writestr(f"{k}.npy", a.getvalue())
        zf.writestr("a0.npy", buf.getvalue() + b"\0" * 64)
    build(tmp_path / "big.facet", doc, arrays, photo, npz=inner.getvalue())
    refused(tmp_path / "big.facet", bundles, "big.facet", "a0.npy")


def test_an_object_array_is_never_unpickled(project, tmp_path, bundles) -> None:
    doc, arrays, photo = parts(project)
    arrays["a0"] = np.array([{"x": 1}], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    build(tmp_path / "pickle.facet", doc, arrays, photo, npz=buf.getvalue())
    refused(tmp_path / "pickle.facet", bundles, "pickle.facet", "a0")


def test_a_zip_that_lists_thousands_of_members(tmp_path, bundles) -> None:
    with zipfile.ZipFile(tmp_path / "many.facet", "w") as zf:
        for i in range(2000):
            zf.writestr(f"m{i}", b"")
    refused(tmp_path / "many.facet", bundles, "many.facet", "2000")


@pytest.mark.parametrize(("what", "make"), [
    ("not a zip", lambda p: p.write_bytes(b"hello")),
    ("truncated", lambda p: p.write_bytes(b"PK\x03\x04 truncated")),
    ("no photo", lambda p: zipfile.ZipFile(p, "w").writestr("session.json", "{}")),
    ("a folder", lambda p: p.mkdir()),
])
def test_not_a_project(tmp_path, bundles, what, make) -> None:
    make(tmp_path / "x.facet")
    refused(tmp_path / "x.facet", bundles, "x.facet")


@pytest.mark.parametrize(("text", "message"), [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"format": "facet-project", "session": ' + b"[" * 100 + b"]" * 100 + b"}", "nested too deeply"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"format": "facet-project", "version": true, "session": {}}', "version"),
])
def test_damaged_session_json(project, tmp_path, bundles, text, message) -> None:
    doc, arrays, photo = parts(project)
    build(tmp_path / "j.facet", doc, arrays, photo, session_json=text)
    assert message in refused(tmp_path / "j.facet", bundles, "j.facet")


def test_a_damaged_photo(project, tmp_path, bundles) -> None:
    doc, arrays, _ = parts(project)
    build(tmp_path / "ph.facet", doc, arrays, b"\x89PNG\r\n\x1a\n garbage")
    refused(tmp_path / "ph.facet", bundles, "ph.facet", "photo")


@pytest.mark.parametrize("key", [["a0"], {"k": 1}, "nope"])
def test_a_reference_to_a_missing_array(project, tmp_path, bundles, key) -> None:
    path = tampered(project, tmp_path, lambda s, a: s["faces"][0].update(crop={"$array": key}))
    refused(path, bundles, "t.facet", "missing array")


def test_extra_paths_that_are_not_text(project, tmp_path, bundles) -> None:
    doc, arrays, photo = parts(project)
    doc["extra"] = {"photo_path": ["x"]}
    build(tmp_path / "e.facet", doc, arrays, photo)
    refused(tmp_path / "e.facet", bundles, "e.facet", "photo_path")


# -- the session's fields ---------------------------------------------------------------------------------

def _crop(s: Doc) -> str:
    return s["faces"][0]["crop"]["$array"]


def _transform(s: Doc) -> str:
    return s["faces"][0]["transform"]["$array"]


@pytest.mark.parametrize(("change", "field"), [
    (lambda s, a: s["faces"][0].update(box=[10, 20]), "faces[0].box"),
    (lambda s, a: s["faces"][0].update(box=[10, 20, float("nan"), 40]), "faces[0].box"),
    (lambda s, a: s["faces"][0].update(box=[50, 20, 10, 40]), "faces[0].box"),
    (lambda s, a: s["faces"][0].update(box=[1e300, 0, 1e301, 5]), "faces[0].box"),
    (lambda s, a: s["faces"][0].update(box="0,0,5,5"), "faces[0].box"),
    (lambda s, a: s["faces"][0].update(box=[10**400, 0, 5, 5]), "faces[0].box"),
    (lambda s, a: a.update({_transform(s): np.zeros((2, 3))}), "faces[0].transform"),
    (lambda s, a: a.update({_transform(s): np.eye(3)}), "faces[0].transform"),
    (lambda s, a: a.update({_transform(s): np.full((2, 3), np.nan)}), "faces[0].transform"),
    (lambda s, a: a.update({_crop(s): np.zeros((8, 8, 3), np.uint8)}), "faces[0].crop"),
    (lambda s, a: a.update({_crop(s): np.zeros((32, 32, 3), np.float64)}), "faces[0].crop"),
    (lambda s, a: s["faces"][0].update(crop=[[0]]), "faces[0].crop"),
    (lambda s, a: s["faces"][0].update(landmarks=[1, 2]), "faces[0].landmarks"),
    (lambda s, a: s["faces"][0].update(score="high"), "faces[0].score"),
    (lambda s, a: s["faces"][0].update(manual="no"), "faces[0].manual"),
    (lambda s, a: s["faces"][0].update(method=["x"]), "faces[0].method"),
    (lambda s, a: s["faces"][0].update(code={"z": [float("nan")] * 16, "y": [0.0] * 4}), "faces[0].code.z"),
    (lambda s, a: s["faces"][0].update(code={"z": 5, "y": [0.0] * 4}), "faces[0].code.z"),
    (lambda s, a: s["faces"][0].update(code=[1, 2]), "faces[0].code"),
    (lambda s, a: s["faces"][0]["code"].update(z=[0.0] * 7), "another cGAN"),
    (lambda s, a: s["faces"][0].pop("transform"), "faces[0].transform"),
    (lambda s, a: s.update(faces={"0": 1}), "faces"),
    (lambda s, a: s.update(faces=s["faces"] * 300), "faces"),
    (lambda s, a: s.update(cursor=10**30), "cursor"),
    (lambda s, a: s.update(cursor=9), "cursor"),
    (lambda s, a: s.update(cursor=1.5), "cursor"),
    (lambda s, a: s.update(resolution="32"), "resolution"),
    (lambda s, a: s.update(resolution=10**6), "resolution"),
    (lambda s, a: s.update(resolution=64), "faces[0].crop"),
    (lambda s, a: s.update(keep_face="yes"), "keep_face"),
    (lambda s, a: s.update(format_version=True), "version"),
    (lambda s, a: s.update(format=None), "not a Facet session"),
    (lambda s, a: s.update(exemplars=[1]), "exemplars"),
    (lambda s, a: s.update(exemplars={k: {"$array": _transform(s)} for k in s["exemplars"]}), "exemplars"),
    (lambda s, a: s.update(ops="none"), "ops"),
])
def test_damaged_session_field(project, tmp_path, bundles, change, field) -> None:
    refused(tampered(project, tmp_path, change), bundles, field)


def _op(which: str, **fields) -> Callable[[Doc, dict], object]:
    def change(s: Doc, a: dict) -> None:
        op = next(o for o in s["ops"] if o["kind"] == which)
        op.update(fields)
    return change


@pytest.mark.parametrize(("change", "field"), [
    (_op("set_attribute", face=99), "ops[0].face"),
    (_op("set_attribute", face=-1), "ops[0].face"),
    (_op("set_attribute", face=True), "ops[0].face"),
    (_op("set_attribute", face=0.5), "ops[0].face"),
    (_op("set_attribute", value=float("nan")), "ops[0].value"),
    (_op("set_attribute", value="0.5"), "ops[0].value"),
    (_op("set_attribute", value=10**400), "ops[0].value"),
    (_op("set_attribute", name=["Smiling"]), "ops[0].name"),
    (_op("set_attribute", name="Nope"), "Nope"),
    (_op("set_attribute", gesture=10**30), "ops[0].gesture"),
    (_op("set_attribute", kind="explode"), "ops[0]"),
    (_op("set_attribute", extra=1), "ops[0].extra"),
    (_op("transfer", exemplar_ref="elsewhere"), "elsewhere"),
    (_op("transfer", attributes="Male"), "ops[1].attributes"),
    (_op("transfer", attributes=[1]), "ops[1].attributes"),
    (_op("stroke", z=[0.0] * 3), "another cGAN"),
    (_op("stroke", z=[float("inf")] * 16), "ops[2].z"),
    (_op("stroke", strokes="not base64!"), "ops[2].strokes"),
    (_op("stroke", strokes=encode_png(np.zeros((4, 4, 3), np.uint8))), "ops[2].strokes"),
    (_op("complete", mask=encode_png(np.zeros((8, 8), np.uint8))), "ops[3].mask"),
    (_op("complete", mask=encode_png(np.zeros((32, 32, 3), np.uint8))), "ops[3].mask"),
    (_op("complete", result=encode_png(np.zeros((32, 32), np.uint8))), "ops[3].result"),
    (_op("complete", result="iVBORw0KGgo="), "ops[3].result"),
])
def test_damaged_operation(project, tmp_path, bundles, change, field) -> None:
    refused(tampered(project, tmp_path, change), bundles, field)


def test_a_project_error_names_the_file(project, tmp_path) -> None:
    doc, arrays, photo = parts(project)
    build(tmp_path / "named.facet", doc, arrays, photo, session_json=b"{")
    with pytest.raises(ProjectError, match="named.facet"):
        read_project(tmp_path / "named.facet")

