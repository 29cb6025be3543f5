"""Hostile images: every file a user can hand the app or `facet` (File > Open, drops, exemplars, thumbnails,
batches) is refused promptly with one line naming the file and what is wrong, or loaded within bounded memory.

PostScript must never reach Ghostscript: a fake ``gs`` that leaves a mark stands in for an installed one, so the
tests prove it is never run, with or without a real Ghostscript on the machine.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import EpsImagePlugin, Image

from engine.errors import ImageLoadError, NoFaceError
from engine.images import MAX_PIXELS, check_image, load_image, load_thumbnail, read_exif
from tests.robustness.hostile_files import guarded, one_line, posix_only

ROOT = Path(__file__).resolve().parents[2]
#: An EPS whose program never ends: Ghostscript would spin on it for ever.
EPS_LOOP = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n%%EndComments\n{ } loop\n%%EOF\n"


def _dos_eps(ps: bytes) -> bytes:
    """The same program in the binary "DOS EPS" wrapper (magic C5D0D3C6, then where the PostScript is)."""
    header = struct.pack("<4sIIIIIIH", b"\xc5\xd0\xd3\xc6", 30, len(ps), 0, 0, 0, 0, 0xFFFF)
    return header + ps


def _refused(path: Path | str, *words: str) -> str:
    """load_image refuses ``path`` quickly, in bounded memory, with one line naming it and saying ``words``."""
    with pytest.raises(ImageLoadError) as err:
        guarded(load_image, path, timeout=10)
    message = one_line(err.value, str(path))
    said = message.replace(str(path), "")  # the words must be in what is said, not in the file's name
    for word in words:
        assert word in said, f"{word!r} not in {message!r}"
    return message


@pytest.fixture(params=["fake gs installed", "no gs"])
def ghostscript(request, tmp_path, monkeypatch) -> Path:
    """Ghostscript as Pillow finds it: a program that leaves a mark when run, or none at all; the mark's path."""
    mark = tmp_path / "ghostscript-ran"
    if request.param == "no gs":
        monkeypatch.setattr(EpsImagePlugin, "gs_binary", False)
        return mark
    gs = tmp_path / "gs"
    gs.write_text(f"#!/bin/sh\ntouch '{mark}'\nexit 1\n")
    gs.chmod(0o755)
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", str(gs))
    monkeypatch.setattr(EpsImagePlugin, "gs_windows_binary", str(gs))
    return mark


# -- PostScript and other formats outside the allow-list ---------------------------------------------------------


@pytest.mark.parametrize(("name", "data"), [("loop.jpg", EPS_LOOP), ("loop.png", EPS_LOOP), ("loop.tif", EPS_LOOP),
                                            ("dos.jpg", _dos_eps(EPS_LOOP))], ids=lambda v: v if isinstance(v, str) else "")
def test_postscript_named_as_a_photo_never_runs(tmp_path, ghostscript, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    _refused(path, "PostScript", "JPEG, PNG")
    with pytest.raises(ImageLoadError, match="PostScript"):
        guarded(check_image, path, timeout=10)
    with pytest.raises(ImageLoadError, match="PostScript"):
        guarded(load_thumbnail, path, 72, timeout=10)
    assert guarded(read_exif, path, timeout=10) is None
    with pytest.raises(ImageLoadError, match="PostScript"):
        load_image(data)  # bytes (a project's photo) go through the same decoders
    assert not ghostscript.exists(), "Ghostscript was run on a file the user opened"


def test_facet_refuses_postscript_in_one_line(tmp_path, ghostscript, capsys):
    """`facet detect` on the looping EPS: an error naming the file and the format, promptly, no Ghostscript."""
    from engine.cli import main

    (tmp_path / "loop.jpg").write_bytes(EPS_LOOP)
    assert guarded(main, ["detect", str(tmp_path / "loop.jpg")], timeout=30) != 0
    err = capsys.readouterr().err
    assert "loop.jpg" in err and "PostScript" in err and "Traceback" not in err
    assert not ghostscript.exists()


@pytest.mark.parametrize(("name", "data", "called"), [
    ("doc.jpg", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "PDF"),
    ("drawing.png", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "SVG"),
    ("layers.jpg", b"8BPS\x00\x01" + bytes(40), "Photoshop"),
    ("phone.jpg", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(16), "HEIC"),
    ("archive.png", b"PK\x03\x04" + bytes(40), "zip"),
    ("program.jpg", b"\x7fELF\x02\x01\x01" + bytes(40), "program"),
    ("noise.jpg", bytes(range(256)) * 4, "unknown"),
], ids=lambda v: v if isinstance(v, str) and "." in v else "")
def test_documents_and_other_files_named_as_photos_say_what_they_are(tmp_path, name, data, called):
    path = tmp_path / name
    path.write_bytes(data)
    _refused(path, called)


def test_a_pdf_written_by_pillow_is_refused(tmp_path):
    Image.new("RGB", (32, 32), (200, 0, 0)).save(tmp_path / "page.pdf", format="PDF")
    os.replace(tmp_path / "page.pdf", tmp_path / "page.jpg")
    _refused(tmp_path / "page.jpg", "PDF")


# -- special files ------------------------------------------------------------------------------------------------


@posix_only
def test_a_fifo_is_not_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    _refused(tmp_path / "pipe.jpg", "FIFO", "not a regular file")
    with pytest.raises(ImageLoadError, match="FIFO"):
        guarded(load_thumbnail, tmp_path / "pipe.jpg", 72, timeout=10)


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs /proc (Linux)")
def test_proc_files_are_not_regular_images():
    for path in ("/proc/self/mem", "/proc/self/status"):
        message = _refused(path, "not a regular")
        assert "empty" not in message


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_link_to_a_device_and_a_folder_are_named(tmp_path):
    (tmp_path / "zero.png").symlink_to("/dev/zero")
    _refused(tmp_path / "zero.png", "character device", "not a regular file")
    (tmp_path / "album.jpg").mkdir()
    _refused(tmp_path / "album.jpg", "folder")
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    _refused(tmp_path / "gone.jpg", "no such file")


def test_empty_and_unreadable_files_are_named_as_such(tmp_path, monkeypatch):
    (tmp_path / "empty.jpg").touch()
    _refused(tmp_path / "empty.jpg", "empty (0 bytes)")
    locked = tmp_path / "locked.png"
    Image.new("RGB", (8, 8)).save(locked)
    locked.chmod(0)
    if os.name == "posix" and os.geteuid() != 0:  # root reads anything: then the refusal is simulated below
        _refused(locked, "permission denied")
    real_open = os.open

    def denied(path, *args, **kwargs):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    message = _refused(locked, "permission denied")
    assert "damaged" not in message and "truncated" not in message


def test_a_file_larger_than_any_photo_is_not_read(tmp_path):
    from engine.images import MAX_FILE_BYTES

    path = tmp_path / "huge.jpg"
    with path.open("wb") as f:  # sparse: no disk used
        f.write(b"\xff\xd8\xff")
        f.truncate(MAX_FILE_BYTES + 1)
    _refused(path, "more than")


# -- bombs --------------------------------------------------------------------------------------------------------


def _png_header(width: int, height: int, mode: int = 0) -> bytes:
    """A PNG that claims ``width`` x ``height`` (greyscale) and holds almost no pixel data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, mode, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("width", "height"), [(30000, 30000), (100000, 100000), (6000, 6000), (MAX_PIXELS + 1, 1)])
def test_bombs_beyond_the_limit_are_refused_before_decoding(tmp_path, width, height):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(width, height))
    _refused(path, "limit")


def test_a_99_megapixel_greyscale_png_of_96_kb_is_refused_not_decoded(tmp_path):
    path = tmp_path / "grey99.png"
    Image.new("L", (9950, 9950), 128).save(path, compress_level=1)
    assert path.stat().st_size < 2**20
    _refused(path, "9950 x 9950", "30 MP limit")


def test_a_bomb_within_the_limit_loads_and_is_detected_in_bounded_memory(tmp_path):
    """At the pixel limit, a 16-bit greyscale PNG of 60 KB (every mode conversion at its worst): load_image and face
    detection stay far under 2 GB; loading alone costs under 8 bytes a pixel. A fresh process measures it."""
    path = tmp_path / "grey16.png"
    width = 6700
    Image.new("I;16", (width, MAX_PIXELS // width), 30000).save(path, compress_level=1)
    script = (
        "import resource, sys\n"
        "from engine.images import load_image\n"
        "from engine.face import detect_faces\n"
        "scale = 1 if sys.platform == 'darwin' else 1024\n"
        "peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale\n"
        "before = peak(); img = load_image(sys.argv[1]); loaded = peak()\n"
        "faces = detect_faces(img)\n"
        "print(img.shape[0] * img.shape[1], before, loaded, peak(), len(faces))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    pixels, before, loaded, detected, faces = (int(v) for v in out.stdout.split())
    assert pixels > 0.99 * MAX_PIXELS and faces == 0
    assert loaded - before < 8 * pixels, f"loading took {(loaded - before) / pixels:.1f} bytes a pixel"
    assert detected < 2 * 10**9, f"load + detection peaked at {detected / 2**20:.0f} MB"


# -- tiny images ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1, 1), (1, 50), (50, 1), (3, 200)])
def test_tiny_images_load_and_the_face_pipeline_says_no_face(tmp_path, size):
    from engine.face import detect_faces, require_face
    from engine.session import EditSession

    path = tmp_path / "tiny.png"
    Image.new("RGB", size, (120, 80, 60)).save(path)
    photo = load_image(path)
    assert photo.shape == (size[1], size[0], 3)
    assert detect_faces(photo) == []
    with pytest.raises(NoFaceError, match="no face found"):
        require_face(photo)
    with pytest.raises(NoFaceError, match="no face found") as err:
        EditSession(photo)
    assert "face box" not in str(err.value)


def test_every_hostile_image_is_refused_as_an_image_load_error(tmp_path):
    """Whatever the bytes, the loader raises ImageLoadError (never another exception) or returns RGB uint8."""
    rng = np.random.default_rng(7)
    good = tmp_path / "good.png"
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(good)
    data = good.read_bytes()
    for i in range(60):
        broken = bytearray(data)
        for at in rng.integers(8, len(broken), 4):
            broken[at] = int(rng.integers(0, 256))
        cut = bytes(broken[: int(rng.integers(1, len(broken) + 1))])
        for blob in (bytes(broken), cut):
            try:
                img = load_image(blob)
            except ImageLoadError:
                continue
            assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, i
