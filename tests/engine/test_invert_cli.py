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


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Inversions are cached under $FACET_STUDIO_HOME: each test gets its own, never the user's."""
    monkeypatch.setenv("FACET_STUDIO_HOME", str(tmp_path / "home"))


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
    assert json.loads(capsys.readouterr().out)["faces"] == {"found": 1, "edited": 1, "detected": 1, "face": None}
    edited = load_image(out)
    changed = np.abs(edited.astype(int) - photo.astype(int)).max(axis=2) > 0
    # a Smiling edit of the kept face changes its mouth and chin (the photo's rows 100-140), not its eyes, forehead
    # or hair: the change is added to the photo as it is, not blended (and colour-matched) into the whole ellipse
    assert edited.shape == photo.shape and changed[100:140, 130:180].mean() > 0.5
    assert not changed[:90].any() and not changed[150:].any()
    assert not changed[:, :60].any() and not changed[:, 240:].any()
    assert main(["edit", str(src), "--bundle", str(tiny_cgan_bundle), "--set", "Smiling=-1", "--face", "1",
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


# -- the inversion cache, batches, saved codes, threads, face numbers (issue 23, issue 22 items 7 and 18) -----
def _two_faces(folder):
    """A photo with a small face on the left and a larger one on the right (detected largest first)."""
    from pathlib import Path

    from engine.images import resize

    astronaut = load_image(Path(__file__).parents[2] / "resources" / "samples" / "astronaut.png")
    photo = np.full((240, 460, 3), 90, np.uint8)
    photo[60:180, 20:140] = resize(astronaut, (120, 120))
    photo[40:200, 280:440] = astronaut
    return save_image(folder / "two.png", photo), photo


@pytest.fixture
def count_inversions(monkeypatch):
    """How many times an inversion actually ran (the CLI and the session both go through invert_job)."""
    import engine.invert
    import engine.invert.api

    calls = []
    real = engine.invert.api.invert_job

    def counted(*a, **k):
        calls.append(a[2] if len(a) > 2 else k.get("method"))
        return real(*a, **k)

    monkeypatch.setattr(engine.invert, "invert_job", counted)
    monkeypatch.setattr(engine.invert.api, "invert_job", counted)
    return calls


def test_a_second_photo_edit_takes_the_inversion_from_the_cache(tiny_cgan_bundle, tmp_path, capsys, count_inversions):
    src, photo = _two_faces(tmp_path)
    argv = ["edit", str(src), "--bundle", str(tiny_cgan_bundle), "--method", "optimize", "--steps", "3", "--photo",
            "--json"]
    assert main([*argv, "--set", "Smiling=1", "-o", str(tmp_path / "a.png")]) == 0
    assert json.loads(capsys.readouterr().out)["cached"] == 0 and len(count_inversions) == 2
    entries = list((tmp_path / "home" / "cache" / "inversions").glob("*.npz"))
    assert len(entries) == 2  # one per face, in the user cache folder
    assert main([*argv, "--set", "Smiling=1", "-o", str(tmp_path / "b.png")]) == 0
    assert json.loads(capsys.readouterr().out)["cached"] == 2 and len(count_inversions) == 2  # nothing inverted
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), load_image(tmp_path / "b.png"))
    assert main([*argv, "--set", "Smiling=-1", "-o", str(tmp_path / "c.png")]) == 0  # another edit: still cached
    assert json.loads(capsys.readouterr().out)["cached"] == 2 and len(count_inversions) == 2
    assert main([*argv, "--seed", "1", "-o", str(tmp_path / "d.png")]) == 0  # other settings: another inversion
    assert json.loads(capsys.readouterr().out)["cached"] == 0 and len(count_inversions) == 4


def test_no_cache_inverts_again_and_keeps_nothing(tiny_cgan_bundle, faces, tmp_path, capsys, count_inversions):
    _, paths = faces
    argv = ["edit", str(paths[0]), "--bundle", str(tiny_cgan_bundle), "--method", "encoder", "--json",
            "-o", str(tmp_path / "e.png")]
    for _ in range(2):
        assert main([*argv, "--no-cache"]) == 0
        assert json.loads(capsys.readouterr().out)["cached"] is False
    assert len(count_inversions) == 2 and not (tmp_path / "home").exists()
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["cached"] is False
    assert main(argv) == 0  # a face crop is cached too
    assert json.loads(capsys.readouterr().out)["cached"] is True
    assert len(count_inversions) == 3
    # `facet invert` fills and reads the same cache
    assert main(["invert", str(paths[0]), "--bundle", str(tiny_cgan_bundle), "--method", "encoder", "--json",
                 "-o", str(tmp_path / "i.png")]) == 0
    assert json.loads(capsys.readouterr().out)["cached"] is True and len(count_inversions) == 3


def test_a_damaged_or_foreign_cache_entry_is_a_miss_and_goes(tiny_cgan_bundle, faces, tmp_path, capsys,
                                                             count_inversions):
    _, paths = faces
    argv = ["edit", str(paths[0]), "--bundle", str(tiny_cgan_bundle), "--method", "encoder", "--json",
            "-o", str(tmp_path / "e.png")]
    assert main(argv) == 0
    capsys.readouterr()
    (entry,) = (tmp_path / "home" / "cache" / "inversions").glob("*.npz")
    np.savez(entry, z=np.array([object()], dtype=object), y=np.zeros(5), reconstruction=np.zeros(1), meta=np.array("{}"))
    assert main(argv) == 0  # an object array would need unpickling: never loaded, inverted again
    assert json.loads(capsys.readouterr().out)["cached"] is False and len(count_inversions) == 2
    entry.write_bytes(b"PK\x03\x04 cut short")
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["cached"] is False and len(count_inversions) == 3
    assert main(argv) == 0  # the fresh entry written over it is used again
    assert json.loads(capsys.readouterr().out)["cached"] is True and len(count_inversions) == 3


def test_the_cache_keeps_to_its_budget_dropping_the_least_recently_used(tiny_cgan_bundle, tmp_path):
    import os

    from engine.cache import InversionCache, inversion_key
    from engine.invert import LatentCode

    bundle = load_bundle(tiny_cgan_bundle)
    cache = InversionCache(tmp_path / "c", max_bytes=10**9)
    code, rec = LatentCode(np.zeros(32), np.zeros(5)), np.zeros((32, 32, 3), np.uint8)
    keys = [inversion_key(np.full((4, 4, 3), i, np.uint8), bundle, "encoder", None, 0) for i in range(4)]
    assert len(set(keys)) == 4 and inversion_key(np.zeros((4, 4, 3), np.uint8), bundle, "encoder", 5, 0) != keys[0]
    for n, key in enumerate(keys):
        assert cache.put(key, code, rec, "encoder")
        os.utime(cache._path(key), (1000 + n, 1000 + n))  # written in this order, a second apart
    assert cache.get(keys[0], bundle) is not None  # used: now the most recent
    size = cache._path(keys[0]).stat().st_size
    cache.max_bytes = 2 * size
    assert cache.evict() == 2
    assert [cache.get(k, bundle) is not None for k in keys] == [True, False, False, True]
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert not InversionCache(blocked / "c").put(keys[0], code, rec, "encoder")  # an unwritable cache is no error


def test_edit_takes_a_folder_skips_a_bad_file_and_lists_it(tiny_cgan_bundle, faces, tmp_path, capsys):
    _, paths = faces
    folder = tmp_path / "in"
    folder.mkdir()
    for p in paths:
        shutil.copy(p, folder / p.name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    argv = ["edit", str(folder), "--bundle", str(tiny_cgan_bundle), "--method", "encoder", "--set", "Smiling=1", "--json"]
    rc = main([*argv, "-o", str(tmp_path / "out")])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert rc == 1 and [f["input"] for f in report["failed"]] == [str(folder / "broken.jpg")]
    assert "skipped" in captured.err and "broken.jpg" in captured.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["face0_edited.png", "face1_edited.png"]
    assert [r["kept_face"] for r in report["results"]] == [True, True]
    for _ in range(2):  # next to the inputs; a second run does not edit its own outputs
        assert main(argv) == 1
    capsys.readouterr()
    assert sorted(p.name for p in folder.glob("*_edited*")) == ["face0_edited.png", "face1_edited.png"]


def test_a_saved_code_is_edited_with_the_photos_own_face_kept(tiny_cgan_bundle, faces, tmp_path, capsys,
                                                              count_inversions):
    from engine.edit import add_change, render, set_attributes
    from engine.invert import LatentCode

    _, paths = faces
    b = str(tiny_cgan_bundle)
    bundle = load_bundle(tiny_cgan_bundle)
    assert main(["invert", str(paths[1]), "--bundle", b, "--method", "encoder", "--no-cache",
                 "-o", str(tmp_path / "a.png")]) == 0
    count_inversions.clear()
    capsys.readouterr()
    code = LatentCode.from_dict(json.loads((tmp_path / "a.json").read_text()))
    assert main(["edit", str(paths[0]), "--code", str(tmp_path / "a.json"), "--bundle", b, "--set", "Smiling=1",
                 "-o", str(tmp_path / "e.png"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kept_face"] is True and count_inversions == []
    expected = add_change(load_image(paths[0]), render(bundle, code),
                          render(bundle, set_attributes(code, bundle, {"Smiling": 1})))
    np.testing.assert_array_equal(load_image(tmp_path / "e.png"), expected)
    src, _ = _two_faces(tmp_path)
    argv = ["edit", str(src), "--code", str(tmp_path / "a.json"), "--bundle", b, "--photo", "-o", str(tmp_path / "p.png")]
    assert main(argv) == 2
    assert "pick one with --face N" in capsys.readouterr().err
    assert main([*argv, "--face", "2", "--set", "Smiling=1"]) == 0 and count_inversions == []
    assert main(["edit", str(tmp_path), "--code", str(tmp_path / "a.json"), "--bundle", b]) == 2
    assert "not the folder" in capsys.readouterr().err


def test_a_square_face_crop_keeps_its_size(tiny_cgan_bundle, faces, tmp_path, capsys):
    """Without --photo a crop larger than the model's 32 px is edited at its own size, not shrunk."""
    from engine.images import resize

    _, paths = faces
    big = save_image(tmp_path / "big.png", resize(load_image(paths[0]), (96, 96)))
    argv = ["edit", str(big), "--bundle", str(tiny_cgan_bundle), "--method", "encoder"]
    assert main([*argv, "-o", str(tmp_path / "same.png")]) == 0  # no edit: the crop itself, bit for bit
    np.testing.assert_array_equal(load_image(tmp_path / "same.png"), load_image(big))
    assert main([*argv, "--set", "Smiling=1", "-o", str(tmp_path / "e.png")]) == 0
    edited = load_image(tmp_path / "e.png")
    assert edited.shape == (96, 96, 3) and np.abs(edited.astype(int) - load_image(big).astype(int)).mean() > 0.2
    wide = np.concatenate([np.zeros((96, 16, 3), np.uint8), load_image(big), np.zeros((96, 16, 3), np.uint8)], axis=1)
    assert main([*argv[:1], str(save_image(tmp_path / "wide.png", wide)), *argv[2:], "-o", str(tmp_path / "w.png")]) == 0
    np.testing.assert_array_equal(load_image(tmp_path / "w.png"), load_image(big))  # its centre square
    assert main([*argv, "--generated-face", "-o", str(tmp_path / "g.png")]) == 0
    assert load_image(tmp_path / "g.png").shape == (32, 32, 3)  # the generator's own face


def test_faces_are_numbered_from_one_left_to_right(tiny_cgan_bundle, tmp_path, capsys):
    src, photo = _two_faces(tmp_path)
    argv = ["edit", str(src), "--bundle", str(tiny_cgan_bundle), "--method", "encoder", "--set", "Smiling=-1",
            "--photo", "--json"]
    assert main([*argv, "--face", "1", "-o", str(tmp_path / "left.png")]) == 0
    assert json.loads(capsys.readouterr().out)["faces"] == {"found": 2, "edited": 1, "detected": 1, "face": 1}
    changed = np.abs(load_image(tmp_path / "left.png").astype(int) - photo.astype(int)).max(axis=2) > 0
    assert changed[:, :200].any() and not changed[:, 200:].any()  # face 1 is the small face on the left
    rc = main([*argv, "--face", "0", "-o", str(tmp_path / "x.png")])
    captured = capsys.readouterr()
    assert rc == 2 and "faces are numbered from 1, left to right" in captured.err
    assert "numbered from 1" in json.loads(captured.out)["error"]
    assert main([*argv, "--face", "3", "-o", str(tmp_path / "x.png")]) == 2
    assert "--face 3, but 2 face(s) were found" in capsys.readouterr().err


def test_threads_option_and_a_default_that_leaves_a_busy_machine_alone(tiny_cgan_bundle, faces, tmp_path,
                                                                       monkeypatch, capsys):
    import engine.invert
    from engine.cli.common import default_threads

    assert default_threads(cores=2, load=0.0) == 1  # one core left to the rest of the machine
    assert default_threads(cores=8, load=0.3) == 4  # at most 4
    assert default_threads(cores=8, load=5.5) == 2  # only the cores the load leaves idle
    assert default_threads(cores=8, load=9.0) == 1 and default_threads(cores=1, load=0.0) == 1
    assert default_threads(cap=None, cores=16, load=0.0) == 15  # training: every idle core
    seen = []
    real = engine.invert.invert

    def spy(*a, **k):
        seen.append(torch.get_num_threads())
        return real(*a, **k)

    monkeypatch.setattr(engine.invert, "invert", spy)
    before = torch.get_num_threads()
    _, paths = faces
    assert main(["invert", str(paths[0]), "--bundle", str(tiny_cgan_bundle), "--method", "encoder", "--threads", "3",
                 "--no-cache", "-o", str(tmp_path / "a.png")]) == 0
    assert seen == [3] and torch.get_num_threads() == before  # set for the command, put back after
    with pytest.raises(SystemExit):
        main(["edit", str(paths[0]), "--bundle", str(tiny_cgan_bundle), "--threads", "0"])
    assert "must be at least 1" in capsys.readouterr().err


def test_a_face_crop_is_the_centre_square_within_bounds():
    from engine.cli.common import MAX_CROP_SIDE, face_crop

    image = np.arange(100 * 80 * 3, dtype=np.uint64).reshape(100, 80, 3).astype(np.uint8)
    np.testing.assert_array_equal(face_crop(image, 32), image[10:90])  # its own size: not shrunk
    assert face_crop(image[:20, :30], 32).shape == (32, 32, 3)  # enlarged to the crop resolution
    assert face_crop(np.zeros((2500, 3000, 3), np.uint8), 32).shape == (MAX_CROP_SIDE, MAX_CROP_SIDE, 3)


def test_complete_and_upscale_take_a_folder(tiny_cgan_bundle, faces, tmp_path, capsys):
    _, paths = faces
    folder = tmp_path / "low"
    folder.mkdir()
    for p in paths:
        save_image(folder / p.name, load_image(p)[::2, ::2].copy())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n cut short")
    mask = np.zeros((32, 32, 3), np.uint8)
    mask[8:20, 8:20] = 255
    save_image(tmp_path / "mask.png", mask)
    b = str(tiny_cgan_bundle)
    for argv, suffix in ((["upscale"], "_upscaled"), (["complete", "--mask", str(tmp_path / "mask.png")], "_completed")):
        rc = main([*argv, str(folder), "--bundle", b, "--steps", "2", "-o", str(tmp_path / suffix), "--json"])
        report = json.loads(capsys.readouterr().out)
        assert rc == 1 and [f["input"] for f in report["failed"]] == [str(folder / "broken.png")]
        assert sorted(p.name for p in (tmp_path / suffix).iterdir()) == [f"face0{suffix}.png", f"face1{suffix}.png"]


def test_edit_dials_reach_as_far_as_the_models_attribute_limits(tiny_cgan_bundle, faces, tmp_path, capsys):
    import shutil

    _, paths = faces
    copy = shutil.copytree(tiny_cgan_bundle, tmp_path / "limited")
    manifest = json.loads((copy / "manifest.json").read_text())
    first, second = manifest["attributes"][:2]
    manifest["attribute_limits"] = {first: 2.0}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    common = [str(paths[0]), "--bundle", str(copy), "--method", "encoder"]
    assert main(["edit", *common, "--set", f"{first}=2", "-o", str(tmp_path / "far.png")]) == 0
    assert main(["edit", *common, "--set", f"{second}=1.5", "-o", str(tmp_path / "no.png")]) == 2
    assert f"{second}=1.5 (from -1 to 1): outside the attribute's dial" in capsys.readouterr().err
    assert not (tmp_path / "no.png").exists()
