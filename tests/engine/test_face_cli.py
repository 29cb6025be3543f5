"""`facet detect / align / prepare-dataset` and the 50 MP path end to end."""

from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from engine.cli import face as face_cli
from engine.errors import FacetError
from engine.face import align_face, detect_faces, paste_back, paste_region
from engine.images import load_image
from tests.helpers import FIXTURES, require


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="facet")
    face_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_is_registered():
    from engine.cli import COMMAND_MODULES

    assert "engine.cli.face" in COMMAND_MODULES


def test_detect_json(capsys):
    assert run("detect", str(require(FIXTURES / "exif_orientation_3.jpg")), "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["width"] == 256 and len(out["faces"]) == 1
    face = out["faces"][0]
    assert len(face["box"]) == 4 and face["score"] > 0.9 and len(face["landmarks"]) == 5


def test_detect_no_face_exit_code(capsys):
    assert run("detect", str(require(FIXTURES / "no_face_gradient.png"))) == 1
    assert "0 face(s)" in capsys.readouterr().out


def test_align_writes_crop(tmp_path, capsys):
    out = tmp_path / "crop.png"
    assert run("align", str(require(FIXTURES / "exif_orientation_1.jpg")), "-o", str(out), "--resolution", "64") == 0
    crop = load_image(out)
    assert crop.shape == (64, 64, 3)
    assert run("align", str(require(FIXTURES / "exif_orientation_1.jpg")), "-o", str(tmp_path / "m.png"), "--box", "90", "32", "132", "86") == 0
    assert load_image(tmp_path / "m.png").shape == (128, 128, 3)


def test_align_without_face_is_a_clear_error(tmp_path):
    from engine.errors import NoFaceError

    with pytest.raises(NoFaceError, match="draw a box"):
        run("align", str(require(FIXTURES / "tiny_8x8.png")), "-o", str(tmp_path / "x.png"))


def test_prepare_dataset_lists_failures(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("exif_orientation_1.jpg", "exif_orientation_6.jpg", "no_face_gradient.png", "truncated_half.jpg"):
        shutil.copy(require(FIXTURES / name), raw / name)
    out = tmp_path / "aligned"
    assert run("prepare-dataset", str(raw), str(out), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["written"] == 2
    assert {f["file"] for f in result["failures"]} == {"no_face_gradient.png", "truncated_half.jpg"}
    lines = (out / "failures.txt").read_text(encoding="utf-8").splitlines()
    assert sorted(line.split("\t")[0] for line in lines) == ["no_face_gradient.png", "truncated_half.jpg"]
    img = load_image(out / "exif_orientation_6.png")
    assert img.shape == (218, 178, 3)
    assert run("prepare-dataset", str(raw), str(tmp_path / "half"), "--resolution", "89") == 0
    assert load_image(tmp_path / "half" / "exif_orientation_1.png").shape == (109, 89, 3)


@pytest.mark.slow
def test_fifty_megapixel_photo_detect_small_paste_full():
    """8660 x 5773: detection runs on a 1280 px copy; paste-back only touches the face's rectangle."""
    astronaut = load_image(require(FIXTURES / "exif_orientation_1.jpg"))
    photo = np.full((5773, 8660, 3), 120, np.uint8)
    photo[1000:3048, 3000:5048] = np.asarray(Image.fromarray(astronaut).resize((2048, 2048), Image.Resampling.BILINEAR))
    faces = detect_faces(photo)
    assert len(faces) == 1
    # Astronaut face at (90..132, 32..86) in 256 px -> x 3000 + 8 * that.
    assert abs(faces[0].box[0] - (3000 + 8 * 90)) < 40 and abs(faces[0].box[1] - (1000 + 8 * 32)) < 40
    aligned = align_face(photo, faces[0], 128)
    out = paste_back(photo, 255 - aligned.crop, aligned)
    x0, y0, x1, y1 = paste_region(aligned, photo.shape)
    assert out.shape == photo.shape and (x1 - x0) * (y1 - y0) < 0.01 * photo.shape[0] * photo.shape[1]
    assert np.array_equal(out[:y0], photo[:y0]) and np.array_equal(out[y1:], photo[y1:])
    assert np.array_equal(out[y0:y1, :x0], photo[y0:y1, :x0]) and np.array_equal(out[y0:y1, x1:], photo[y0:y1, x1:])
    assert np.any(out[y0:y1, x0:x1] != photo[y0:y1, x0:x1])


def test_align_refuses_a_bad_box_or_resolution(tmp_path, capsys):
    from engine.cli import main
    from engine.images import save_image

    photo = str(save_image(tmp_path / "p.png", np.full((64, 64, 3), 120, np.uint8)))
    out = str(tmp_path / "crop.png")
    for extra, message in ((["--box", "10", "10", "5", "5"], "at least 4 pixels"), (["--box", "nan", "0", "10", "10"], "finite"),
                           (["--box", "400", "400", "500", "500"], "outside the 64 x 64 image"),
                           (["--resolution", "4", "--box", "0", "0", "10", "10"], "at least 8 pixels")):
        assert main(["align", photo, "-o", out, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["align", photo, "-o", out, "--resolution", "0"])
    assert "must be at least 1" in capsys.readouterr().err


def _two_faces(folder):
    """A small face on the left and a larger one on the right: the detector finds the right one first."""
    from engine.images import resize, save_image

    astronaut = load_image(require(FIXTURES / "exif_orientation_1.jpg"))
    photo = np.full((300, 620, 3), 90, np.uint8)
    photo[50:250, 20:220] = resize(astronaut, (200, 200))
    photo[22:278, 340:596] = astronaut
    return save_image(folder / "two.png", photo)


def test_detect_numbers_faces_from_one_left_to_right(tmp_path, capsys):
    src = _two_faces(tmp_path)
    assert detect_faces(load_image(src))[0].box[0] > 300  # largest first is the right-hand face
    assert run("detect", str(src), "--json") == 0
    faces = json.loads(capsys.readouterr().out)["faces"]
    assert [f["face"] for f in faces] == [1, 2] and faces[0]["box"][0] < 220 < 340 < faces[1]["box"][0]
    assert run("detect", str(src)) == 0
    out = capsys.readouterr().out
    assert "[1] box (" in out and "[2] box (" in out and "numbered from 1, left to right" in out
    assert run("align", str(src), "-o", str(tmp_path / "left.png"), "--face", "1", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["face"] == 1 and report["detection"]["box"][0] < 220
    with pytest.raises(FacetError, match="numbered from 1, left to right"):
        run("align", str(src), "-o", str(tmp_path / "x.png"), "--face", "0")
    with pytest.raises(FacetError, match="--face 3, but 2 face"):
        run("align", str(src), "-o", str(tmp_path / "x.png"), "--face", "3")


def test_detect_and_align_take_a_folder(tmp_path, capsys):
    from engine.cli import main

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("exif_orientation_1.jpg", "no_face_gradient.png", "truncated_half.jpg"):
        shutil.copy(require(FIXTURES / name), folder / name)
    rc = main(["detect", str(folder), "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert rc == 1  # a file failed (and a photo had no face)
    assert [f["input"] for f in report["failed"]] == [str(folder / "truncated_half.jpg")]
    assert {r["photo"].rsplit("/", 1)[-1]: len(r["faces"]) for r in report["results"]} == \
        {"exif_orientation_1.jpg": 1, "no_face_gradient.png": 0}
    assert "skipped" in captured.err and "truncated_half.jpg" in captured.err
    (folder / "truncated_half.jpg").unlink()
    (folder / "no_face_gradient.png").unlink()
    assert main(["detect", str(folder)]) == 0
    capsys.readouterr()
    assert main(["align", str(folder), "-o", str(tmp_path / "crops"), "--resolution", "64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["failed"] == []
    assert load_image(tmp_path / "crops" / "exif_orientation_1_aligned.png").shape == (64, 64, 3)
    assert main(["align", str(folder), "--box", "0", "0", "50", "50"]) == 2
    assert "one photo, not a folder" in capsys.readouterr().err
