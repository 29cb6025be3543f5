"""`facet invert | edit | interpolate | complete | upscale | attribute-vectors` end to end on the tiny bundle."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from engine.bundle import load_bundle
from engine.cli import main
from engine.images import load_image, save_image
from engine.invert.core import tensor_to_image


@pytest.fixture(scope="module")
def faces(tiny_cgan_bundle, tmp_path_factory):
    bundle = load_bundle(tiny_cgan_bundle)
    folder = tmp_path_factory.mktemp("faces")
    with torch.no_grad():
        x = bundle.network("generator")(torch.randn(2, 32), torch.ones(2, 5))
    paths = [save_image(folder / f"face{i}.png", tensor_to_image(im)) for i, im in enumerate(x)]
    return folder, paths


def test_invert_one_image_writes_png_and_code(tiny_cgan_bundle, faces, tmp_path, capsys):
    _, paths = faces
    out = tmp_path / "rec.png"
    assert main(["invert", str(paths[0]), "--bundle", str(tiny_cgan_bundle), "--method", "hybrid", "--steps", "5",
                 "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "hybrid" and report["steps"] == 5 and report["output"] == str(out)
    assert load_image(out).shape == (32, 32, 3)
    code = json.loads(out.with_suffix(".json").read_text())
    assert len(code["z"]) == 32 and len(code["y"]) == 5 and code["attributes"] == load_bundle(tiny_cgan_bundle).attributes


def test_invert_folder_batch(tiny_cgan_bundle, faces, tmp_path, capsys):
    folder, _ = faces
    assert main(["invert", str(folder), "--bundle", str(tiny_cgan_bundle), "--method", "encoder", "-o", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["results"]) == 2
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["face0_inverted.png", "face1_inverted.png"]


def test_edit_interpolate_complete_upscale(tiny_cgan_bundle, faces, tmp_path):
    _, paths = faces
    b = str(tiny_cgan_bundle)
    attrs = load_bundle(tiny_cgan_bundle).attributes
    assert main(["invert", str(paths[0]), "--bundle", b, "--method", "encoder", "-o", str(tmp_path / "a.png")]) == 0
    assert main(["edit", str(tmp_path / "a.json"), "--bundle", b, "--set", f"{attrs[0]}=-1", "-o", str(tmp_path / "e.png")]) == 0
    assert np.abs(load_image(tmp_path / "e.png").astype(int) - load_image(tmp_path / "a.png").astype(int)).mean() > 0.5
    assert main(["interpolate", str(tmp_path / "a.json"), str(paths[1]), "--bundle", b, "--method", "encoder",
                 "--steps", "4", "-o", str(tmp_path / "strip.png")]) == 0
    strip = load_image(tmp_path / "strip.png")
    assert strip.shape == (32, 128, 3)
    np.testing.assert_array_equal(strip[:, :32], load_image(tmp_path / "a.png"))
    mask = np.zeros((32, 32, 3), np.uint8)
    mask[8:20, 8:20] = 255
    save_image(tmp_path / "mask.png", mask)
    assert main(["complete", str(paths[0]), "--mask", str(tmp_path / "mask.png"), "--bundle", b, "--steps", "3",
                 "-o", str(tmp_path / "c.png")]) == 0
    completed, original = load_image(tmp_path / "c.png").astype(int), load_image(paths[0]).astype(int)
    assert np.abs(completed[:8] - original[:8]).max() <= 1  # outside the mask: unchanged
    save_image(tmp_path / "low.png", load_image(paths[0])[::4, ::4].copy())
    assert main(["upscale", str(tmp_path / "low.png"), "--bundle", b, "--steps", "3", "-o", str(tmp_path / "u.png")]) == 0
    assert load_image(tmp_path / "u.png").shape == (32, 32, 3)


def test_attribute_vectors_command_and_vector_edit(tiny_cgan_bundle, faces, tmp_path, capsys):
    _, paths = faces
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_cgan_bundle, copy)
    assert main(["attribute-vectors", "--bundle", str(copy), "--synthetic", "40", "--n", "40", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    name = load_bundle(copy).attributes[1]
    assert report["attributes"][name]["with"] + report["attributes"][name]["without"] == 40
    assert load_bundle(copy).tensors["attribute_vectors"].shape == (5, 32)
    assert main(["edit", str(paths[0]), "--bundle", str(copy), "--method", "encoder", "--vector", f"{name}=2",
                 "--generated-face", "-o", str(tmp_path / "v.png")]) == 0
    assert main(["invert", str(paths[0]), "--bundle", str(copy), "--method", "encoder", "-o", str(tmp_path / "p.png")]) == 0
    assert np.abs(load_image(tmp_path / "v.png").astype(int) - load_image(tmp_path / "p.png").astype(int)).mean() > 0.5


def test_edit_keeps_the_input_face_and_adds_the_generators_change(tiny_cgan_bundle, faces, tmp_path, capsys):
    from engine.edit import render
    from engine.invert import LatentCode

    _, paths = faces
    face = load_image(paths[0]).astype(int)  # 32 px: the model's own size
    bundle = load_bundle(tiny_cgan_bundle)
    common = [str(paths[0]), "--bundle", str(tiny_cgan_bundle), "--method", "encoder", "--json"]
    assert main(["edit", *common, "-o", str(tmp_path / "same.png")]) == 0  # no dial: the code as inverted
    assert json.loads(capsys.readouterr().out)["kept_face"] is True
    np.testing.assert_array_equal(load_image(tmp_path / "same.png"), face)  # nothing changed: the face itself
    assert main(["invert", *common, "-o", str(tmp_path / "rec.png")]) == 0
    inverted = LatentCode.from_dict(json.loads((tmp_path / "rec.json").read_text()))
    capsys.readouterr()
    assert main(["edit", *common, "--set", "Smiling=1", "-o", str(tmp_path / "kept.png")]) == 0
    edited = LatentCode.from_dict(json.loads(capsys.readouterr().out))
    change = render(bundle, edited).astype(int) - render(bundle, inverted).astype(int)
    assert np.abs(change).mean() > 0.5
    np.testing.assert_array_equal(load_image(tmp_path / "kept.png"), np.clip(face + change, 0, 255))
    assert main(["edit", *common, "--set", "Smiling=1", "--generated-face", "-o", str(tmp_path / "gen.png")]) == 0
    assert json.loads(capsys.readouterr().out)["kept_face"] is False
    np.testing.assert_array_equal(load_image(tmp_path / "gen.png"), render(bundle, edited))


def test_bad_dial_is_a_clear_error(tiny_cgan_bundle, faces, tmp_path, capsys):
    _, paths = faces
    assert main(["edit", str(paths[0]), "--bundle", str(tiny_cgan_bundle), "--method", "encoder", "--set", "Smiling",
                 "-o", str(tmp_path / "x.png")]) == 2
    assert "NAME=NUMBER" in capsys.readouterr().err


def test_edit_photo_inverts_the_face_and_pastes_it_back(tiny_cgan_bundle, tmp_path, capsys):
    """facet edit --photo: the astronaut's face is found, inverted, edited and pasted into the full photo."""
    from pathlib import Path

    astronaut = load_image(Path(__file__).parents[2] / "resources" / "samples" / "astronaut.png")
    photo = np.full((240, 300, 3), 90, np.uint8)
    photo[40:200, 70:230] = astronaut
    src, out = save_image(tmp_path / "photo.png", photo), tmp_path / "edited.png"
    assert main(["edit", str(src), "--bundle", str(tiny_cgan_bundle), "--method", "encoder", "--set", "Smiling=-1",
                 "--photo", "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["faces"] == {"found": 1, "edited": 1, "detected": 1}
    edited = load_image(out)
    changed = np.abs(edited.astype(int) - photo.astype(int)).max(axis=2) > 0
    assert edited.shape == photo.shape and changed[70:150, 120:180].mean() > 0.5
    assert not changed[:, :60].any() and not changed[:, 240:].any()
    assert main(["edit", str(src), "--bundle", str(tiny_cgan_bundle), "--set", "Smiling=-1", "--face", "0",
                 "-o", str(out)]) == 2
    assert "use it with --photo" in capsys.readouterr().err


def test_a_batch_skips_a_bad_file_finishes_the_rest_and_says_so(tiny_cgan_bundle, faces, tmp_path, capsys):
    _, paths = faces
    folder = tmp_path / "in"
    folder.mkdir()
    for p in paths:
        shutil.copy(p, folder / p.name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    (folder / "face0.jpg").write_bytes((folder / "face0.png").read_bytes())  # same stem, other extension
    rc = main(["invert", str(folder), "--bundle", str(tiny_cgan_bundle), "--method", "encoder", "-o",
               str(tmp_path / "out"), "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert rc == 1 and [f["input"] for f in report["failed"]] == [str(folder / "broken.jpg")]
    outputs = sorted(r["output"].rsplit("/", 1)[-1] for r in report["results"])
    assert outputs == ["face0_inverted.png", "face0_png_inverted.png", "face1_inverted.png"]  # none overwritten
    assert "skipped" in captured.err and "broken.jpg" in captured.err
    # with no -o the outputs go next to the inputs, and a second run does not take them as inputs
    for _ in range(2):
        main(["invert", str(folder), "--bundle", str(tiny_cgan_bundle), "--method", "encoder", "--json"])
    assert not list(folder.glob("*_inverted_inverted*"))


def test_an_unwritable_output_is_one_line_before_any_work(tiny_cgan_bundle, faces, tmp_path, capsys):
    _, paths = faces
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    rc = main(["invert", str(paths[0]), "--bundle", str(tiny_cgan_bundle), "-o", str(blocker / "x.png"), "--json"])
    captured = capsys.readouterr()
    assert rc == 2 and "cannot write there" in captured.err and "Traceback" not in captured.err
    assert json.loads(captured.out) == {"error": captured.err.strip().removeprefix("facet: "), "exit_code": 2}
    assert main(["edit", str(paths[0]), "--bundle", str(tiny_cgan_bundle), "-o", str(tmp_path / "x.gif")]) == 2
    assert "unsupported output format" in capsys.readouterr().err


def test_codes_and_numbers_that_do_not_fit_are_refused(tiny_cgan_bundle, faces, tmp_path, capsys):
    _, paths = faces
    b = str(tiny_cgan_bundle)
    attrs = load_bundle(tiny_cgan_bundle).attributes
    assert main(["invert", str(paths[0]), "--bundle", b, "--method", "encoder", "-o", str(tmp_path / "a.png")]) == 0
    code = json.loads((tmp_path / "a.json").read_text())
    cases = {
        "other.json": ({**code, "attributes": ["Smiling", "Eyeglasses"]}, "made for attributes"),
        "short.json": ({**code, "attributes": None, "z": code["z"][:3]}, "expects"),
        "nan.json": ({**code, "z": [float("nan")] * len(code["z"])}, "NaN"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_text(json.dumps(data))
        assert main(["edit", str(tmp_path / name), "--bundle", b, "-o", str(tmp_path / "e.png")]) == 2, name
        assert message in capsys.readouterr().err
    assert main(["edit", str(tmp_path / "a.json"), "--bundle", b, "--set", f"{attrs[0]}=7", "-o", str(tmp_path / "e.png")]) == 2
    assert "from -1 to 1" in capsys.readouterr().err
    assert main(["edit", str(tmp_path / "a.json"), "--bundle", b, "--vector", f"{attrs[0]}=inf", "-o",
                 str(tmp_path / "e.png")]) == 2
    assert "finite" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["invert", str(paths[0]), "--bundle", b, "--steps", "-3"])
    assert "must be at least 1" in capsys.readouterr().err
    assert main(["invert", str(paths[0]), "--bundle", str(tiny_cgan_bundle / "manifest.json"), "--method", "encoder",
                 "-o", str(tmp_path / "m.png")]) == 0  # the manifest names its bundle


def test_json_output_is_strict():
    from engine.cli.common import strict_json

    assert json.dumps(strict_json({"a": [1.0, float("inf")], "b": float("nan")}), allow_nan=False) == \
        '{"a": [1.0, null], "b": null}'


@pytest.mark.parametrize(("content", "message"), [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"z": "abc", "y": []}', "needs the lists 'z' and 'y'"),
    ('{"z": [[1], [2, 3]], "y": [1]}', "not a latent code file"),
    ('{"z": [1e400], "y": [0], "attributes": 5}', "'attributes' must be a list of names"),
    ("\ud800", "not UTF-8"),
])
def test_a_damaged_code_file_is_one_line(tiny_cgan_bundle, tmp_path, capsys, content, message):
    (tmp_path / "deep.json").write_text(content, encoding="utf-8", errors="surrogatepass")
    rc = main(["edit", str(tmp_path / "deep.json"), "--bundle", str(tiny_cgan_bundle), "-o", str(tmp_path / "e.png")])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "deep.json" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs FIFOs")
def test_a_code_file_that_is_a_fifo_does_not_hang(tiny_cgan_bundle, tmp_path, capsys):
    import os

    from tests.robustness.hostile_files import guarded

    os.mkfifo(tmp_path / "pipe.json")
    argv = ["edit", str(tmp_path / "pipe.json"), "--bundle", str(tiny_cgan_bundle), "-o", str(tmp_path / "e.png")]
    assert guarded(main, argv) == 2
    assert "FIFO" in capsys.readouterr().err
