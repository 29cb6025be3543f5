"""engine.transfer and ``facet transfer``/``facet dial`` on a tiny ELEGANT bundle trained through the real Trainer."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from engine import transfer as T
from engine.bundle import Bundle, load_bundle, save_bundle
from engine.cli import main
from engine.cli.transfer import parse_settings
from engine.errors import BundleError, FacetError
from engine.images import load_image, save_image
from tests.conftest import train_tiny

TINY_ELEGANT = {"resolution": 32, "block_channels": 4, "base_channels": 16, "max_channels": 32,
                "disc_channels": 16, "latent_size": 4, "prototype_images": 96}


@pytest.fixture(scope="module")
def elegant_path(tmp_path_factory, synthetic_dataset):
    return train_tiny("elegant", TINY_ELEGANT, synthetic_dataset, tmp_path_factory.mktemp("elegant") / "run", steps=40)


@pytest.fixture(scope="module")
def bundle(elegant_path):
    return load_bundle(elegant_path)


@pytest.fixture(scope="module")
def faces(synthetic_dataset):
    return [synthetic_dataset.item_uint8(i)[0] for i in range(6)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_bundle_has_the_roles_and_prototypes(bundle, synthetic_dataset):
    assert bundle.family == "elegant" and bundle.resolution == 32
    assert set(bundle.networks) == {"encoder", "decoder", "disc_full", "disc_half"}
    pos, neg, counts = T.prototypes(bundle)
    assert pos.shape == neg.shape == (5, 4, 4, 4)
    assert counts.shape == (5, 2) and torch.all(counts.sum(1) == 96)
    assert bundle.manifest["prototypes"]["images"] == 96
    assert not torch.equal(pos, neg)


def test_prototypes_are_mean_blocks_and_survive_a_round_trip(bundle, synthetic_dataset, tmp_path):
    enc = bundle.network("encoder")
    x = torch.stack([synthetic_dataset[i][0] for i in range(10)])
    y = torch.stack([synthetic_dataset[i][1] for i in range(10)])
    protos = T.compute_prototypes(enc, x, y, batch_size=3)
    with torch.no_grad():
        z = enc(x)[0]
    j = 1  # Eyeglasses: block j, faces with it
    with_it = y[:, j] > 0
    assert torch.allclose(protos[T.PROTO_POS][j], z[with_it][:, 4:8].mean(0), atol=1e-5)
    assert torch.allclose(protos[T.PROTO_NEG][j], z[~with_it][:, 4:8].mean(0), atol=1e-5)
    assert protos[T.PROTO_COUNTS][j].tolist() == [with_it.sum().item(), (~with_it).sum().item()]
    saved = save_bundle(tmp_path / "b", bundle.networks, bundle.manifest, protos)
    again = load_bundle(saved)
    for key, value in protos.items():
        assert torch.equal(again.tensors[key], value)


def test_own_latent_reconstructs_the_input(bundle, faces):
    for face in faces:
        assert psnr(T.reconstruct(bundle, face), face) >= 32.0


def test_strength_zero_and_self_exemplar_are_the_identity(bundle, faces):
    src, ex = T.encode(bundle, faces[0]), T.encode(bundle, faces[1])
    rec = T.render(bundle, src).image
    names = list(bundle.attributes)
    assert np.array_equal(T.transfer_codes(bundle, src, ex, names, strength=0.0), rec)
    assert np.array_equal(T.transfer_codes(bundle, src, src, names), rec)
    assert np.array_equal(T.dial_codes(bundle, src, {"Smiling": 0.0, "Bangs": -0.0}), rec)


def test_transfer_swaps_exactly_the_named_blocks(bundle, faces):
    src, ex = T.encode(bundle, faces[0]), T.encode(bundle, faces[1])
    z = T.exchanged_latent(bundle, src, [ex.block(1), ex.block(3)], ["Eyeglasses", "Bangs"], 1.0)
    for i in range(5):
        expected = ex.block(i) if i in (1, 3) else src.block(i)
        assert torch.equal(z[0, 4 * i : 4 * i + 4], expected)
    out = T.transfer(bundle, faces[0], faces[1], ["Eyeglasses", "Bangs"])
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert np.array_equal(out, T.render(bundle, src, z).image)


def test_strength_interpolates_per_attribute(bundle, faces):
    src, ex = T.encode(bundle, faces[0]), T.encode(bundle, faces[2])
    z = T.exchanged_latent(bundle, src, [ex.block(0), ex.block(4)], ["Smiling", "Mustache"], {"Smiling": 0.5, "Mustache": 1.5})
    assert torch.allclose(z[0, 0:4], (src.block(0) + ex.block(0)) / 2)
    assert torch.allclose(z[0, 16:20], src.block(4) + 1.5 * (ex.block(4) - src.block(4)), atol=1e-6)
    with pytest.raises(FacetError, match="outside"):
        T.transfer_codes(bundle, src, ex, ["Smiling"], strength=2.0)


def test_transfer_many_mixes_exemplar_blocks(bundle, faces):
    src = T.encode(bundle, faces[0])
    a, b = T.encode(bundle, faces[1]), T.encode(bundle, faces[2])
    only_a = T.transfer_many(bundle, src, [a, b], [1.0, 0.0], ["Blond_Hair"])
    assert np.array_equal(only_a, T.transfer_codes(bundle, src, a, ["Blond_Hair"]))
    mix = T.transfer_many(bundle, faces[0], [faces[1], faces[2]], [1, 3], ["Blond_Hair"])
    z = T.exchanged_latent(bundle, src, [0.25 * a.block(2) + 0.75 * b.block(2)], ["Blond_Hair"], 1.0)
    assert np.array_equal(mix, T.render(bundle, src, z).image)
    with pytest.raises(FacetError, match="weight"):
        T.transfer_many(bundle, src, [a, b], [1.0], ["Blond_Hair"])
    with pytest.raises(FacetError, match="non-negative"):
        T.transfer_many(bundle, src, [a, b], [1.0, -1.0], ["Blond_Hair"])


def test_dial_moves_towards_the_prototypes(bundle, faces):
    src = T.encode(bundle, faces[3])
    pos, neg, _ = T.prototypes(bundle)
    out = T.dial(bundle, faces[3], {"Smiling": 1.0, "Bangs": -0.5})
    z = src.latent.clone()
    z[0, 0:4] = pos[0]
    z[0, 12:16] = 0.5 * (src.block(3) + neg[3])
    assert np.abs(out.astype(int) - T.render(bundle, src, z).image.astype(int)).max() <= 1


def test_any_image_size_is_centre_cropped(bundle, faces):
    big = np.repeat(np.repeat(faces[0], 3, axis=0), 3, axis=1)  # 96 x 96
    wide = np.concatenate([np.zeros((96, 20, 3), np.uint8), big, np.zeros((96, 20, 3), np.uint8)], axis=1)
    out = T.reconstruct(bundle, wide)
    assert out.shape == (32, 32, 3)
    assert psnr(out, faces[0]) > 25  # the centre square is the face again


def test_a_larger_square_crop_keeps_its_size_and_detail(bundle, faces, tmp_path):
    """A 96 px crop with a 32 px model: the networks see its downscaled copy, the residual is upsampled onto it."""
    from tests.engine.test_session import make_elegant_bundle

    big = np.repeat(np.repeat(faces[0], 3, axis=0), 3, axis=1).astype(np.int16)
    big[::2, ::2] += 12  # fine detail a 32 px model cannot represent
    big = np.clip(big, 0, 255).astype(np.uint8)
    own = T.reconstruct(bundle, big)
    assert own.shape == (96, 96, 3)
    assert psnr(own, big) > 30  # the detail survives: only the (small, smooth) own residual is added
    noisy = load_bundle(make_elegant_bundle(tmp_path / "random"))  # a decoder whose residuals are large
    small = np.round(big.reshape(32, 3, 32, 3, 3).mean(axis=(1, 3))).astype(np.uint8)  # what the model sees
    out_big = T.transfer(noisy, big, faces[1], ["Smiling", "Blond_Hair"]).astype(np.float64)
    out_small = T.transfer(noisy, small, faces[1], ["Smiling", "Blond_Hair"]).astype(np.float64)
    res_big = (out_big - big).reshape(32, 3, 32, 3, 3).mean(axis=(1, 3))  # back at the model's resolution
    res_small = out_small - small
    assert np.abs(res_small).mean() > 2.0  # a real edit ...
    # ... and the same one: averaged back to 32 px the upsampled residual is the decoder's, not a blur of it
    unclipped = (out_small > 0) & (out_small < 255)
    assert np.corrcoef(res_big.ravel(), res_small.ravel())[0, 1] > 0.98
    assert np.abs(res_big - res_small)[unclipped].mean() < 1.0


@pytest.mark.parametrize("side", [64, 96, 160, 80])
def test_an_upsampled_residual_averages_back_to_itself(side):
    """At whole multiples of R the residual seen at R is exact; plain bilinear upsampling loses its detail."""
    res = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 0.3
    back = lambda t: torch.nn.functional.interpolate(t, size=(32, 32), mode="area")  # noqa: E731
    out = T.upsample_residual(res, side)
    assert out.shape == (1, 3, side, side)
    bilinear = torch.nn.functional.interpolate(res, size=(side, side), mode="bilinear", align_corners=False)
    assert (back(bilinear) - res).abs().max() > 0.1  # what the plain upsampling lost (> 12 grey levels)
    if side % 32 == 0:
        assert (back(out) - res).abs().max() < 1e-4
    else:  # 2.5x: exact at 2x, then resized
        assert (back(out) - res).abs().mean() < (back(bilinear) - res).abs().mean()
    assert out.abs().max() < 3 * res.abs().max()  # white noise, the worst case, is sharpened (about 2x), not blown up


def test_clear_errors(bundle, faces, tmp_path):
    with pytest.raises(FacetError, match="Wavy_Hair"):
        T.transfer(bundle, faces[0], faces[1], ["Wavy_Hair"])
    with pytest.raises(FacetError, match="twice"):
        T.check_request(bundle, ["Bangs", "Bangs"])
    with pytest.raises(FacetError, match="RGB uint8"):
        T.encode(bundle, faces[0].astype(np.float32))
    other = Bundle(manifest={**bundle.manifest, "family": "cgan"}, networks=bundle.networks)
    with pytest.raises(BundleError, match="elegant"):
        T.encode(other, faces[0])
    bare = shutil.copytree(bundle.path, tmp_path / "bare")
    stripped = load_bundle(bare)
    stripped.tensors = {}
    with pytest.raises(BundleError, match="prototypes"):
        T.dial(stripped, faces[0], {"Smiling": 1.0})
    counts = bundle.tensors[T.PROTO_COUNTS].clone()
    counts[1, 0] = 0
    no_glasses = load_bundle(bare)
    no_glasses.tensors[T.PROTO_COUNTS] = counts
    with pytest.raises(FacetError, match="no prototype for Eyeglasses"):
        T.dial(no_glasses, faces[0], {"Eyeglasses": 0.5})


# -- command line -------------------------------------------------------------------------------------
@pytest.fixture
def photos(tmp_path, synthetic_dataset, monkeypatch):
    import engine.cli

    monkeypatch.setattr(engine.cli, "COMMAND_MODULES", ["engine.cli.transfer"])  # only the commands under test
    folder = tmp_path / "faces"
    for i in range(3):
        save_image(folder / f"face{i}.png", synthetic_dataset.item_uint8(i)[0])
    exemplar = save_image(tmp_path / "exemplar.png", synthetic_dataset.item_uint8(5)[0])
    return folder, exemplar


def test_transfer_one_image_matches_the_api(elegant_path, photos, tmp_path, capsys):
    folder, exemplar = photos
    out = tmp_path / "out.png"
    rc = main(["transfer", str(folder / "face0.png"), str(exemplar), "--bundle", str(elegant_path),
               "--attributes", "Smiling,Eyeglasses", "--strength", "0.8", "-o", str(out), "--json"])
    assert rc == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == [str(out)]
    b = load_bundle(elegant_path)
    expected = T.transfer(b, load_image(folder / "face0.png"), load_image(exemplar), ["Smiling", "Eyeglasses"], 0.8)
    assert np.array_equal(load_image(out), expected)


def test_transfer_batch_folder(elegant_path, photos, tmp_path, capsys):
    folder, exemplar = photos
    rc = main(["transfer", str(folder), str(exemplar), "--bundle", str(elegant_path), "--attributes", "Bangs",
               "-o", str(tmp_path / "edited"), "--quiet"])
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "edited").iterdir()) == [f"face{i}_transfer.png" for i in range(3)]
    assert "3 images" in capsys.readouterr().out


def test_a_transfer_batch_skips_a_bad_file(elegant_path, photos, tmp_path, capsys):
    folder, exemplar = photos
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n cut short")
    rc = main(["transfer", str(folder), str(exemplar), "--bundle", str(elegant_path), "--attributes", "Bangs",
               "-o", str(tmp_path / "edited"), "--quiet", "--json"])
    captured = capsys.readouterr()
    assert rc == 1 and len(json.loads(captured.out)["outputs"]) == 3
    assert [f["input"] for f in json.loads(captured.out)["failed"]] == [str(folder / "broken.png")]
    assert "skipped" in captured.err


def test_dial_and_its_errors(elegant_path, photos, tmp_path, capsys):
    folder, _ = photos
    out = tmp_path / "dial.png"
    assert main(["dial", str(folder / "face1.png"), "--bundle", str(elegant_path), "--set", "Smiling=0.7,Bangs=-1",
                 "-o", str(out)]) == 0
    b = load_bundle(elegant_path)
    assert np.array_equal(load_image(out), T.dial(b, load_image(folder / "face1.png"), {"Smiling": 0.7, "Bangs": -1}))
    assert main(["dial", str(folder / "face1.png"), "--bundle", str(elegant_path), "--set", "Smiling=lots"]) == 2
    assert main(["transfer", str(folder), str(folder / "face0.png"), "--bundle", str(elegant_path),
                 "--attributes", "No_Such"]) == 2
    err = capsys.readouterr().err
    assert "Smiling=lots" in err and "No_Such" in err


def test_photo_mode_edits_the_face_in_place_at_full_resolution(photos, tmp_path, capsys):
    """--photo: the face is found, edited and pasted back; the rest of the photo keeps its pixels."""
    from pathlib import Path

    from tests.engine.test_session import make_elegant_bundle

    elegant_path = make_elegant_bundle(tmp_path / "random")  # large residuals (a 40-step model's are ~0 here)
    _, exemplar = photos
    astronaut = load_image(Path(__file__).parents[2] / "resources" / "samples" / "astronaut.png")
    photo = np.full((240, 300, 3), 90, np.uint8)  # a wide margin that no paste-back may touch
    photo[40:200, 70:230] = astronaut
    src, out = save_image(tmp_path / "photo.png", photo), tmp_path / "edited.png"
    assert main(["transfer", str(src), str(exemplar), "--bundle", str(elegant_path), "--attributes", "Blond_Hair,Smiling",
                 "--photo", "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["faces"][str(out)] == {"found": 1, "edited": 1, "detected": 1, "face": None}
    edited = load_image(out)
    assert edited.shape == photo.shape
    changed = np.abs(edited.astype(int) - photo.astype(int)).max(axis=2) > 0
    assert changed[70:150, 120:180].mean() > 0.5  # the face
    assert not changed[:, :60].any() and not changed[:, 240:].any() and not changed[:30].any()
    dial = tmp_path / "dial.png"
    assert main(["dial", str(src), "--bundle", str(elegant_path), "--set", "Smiling=-1", "--photo", "--face", "1",
                 "-o", str(dial)]) == 0
    assert load_image(dial).shape == photo.shape and not np.array_equal(load_image(dial), photo)
    capsys.readouterr()
    assert main(["dial", str(src), "--bundle", str(elegant_path), "--set", "Smiling=-1", "--photo", "--face", "2"]) == 2
    assert main(["dial", str(src), "--bundle", str(elegant_path), "--set", "Smiling=-1", "--face", "1"]) == 2
    err = capsys.readouterr().err
    assert "--face 2, but 1 face(s) were found" in err and "use it with --photo" in err
    # a photo without a detectable face (a tiny synthetic one): its centre square is edited, and it says so
    assert main(["dial", str(exemplar), "--bundle", str(elegant_path), "--set", "Smiling=-1", "--photo",
                 "-o", str(tmp_path / "none.png")]) == 0
    assert "no face was found in 1 photo(s)" in capsys.readouterr().out


def test_parse_settings():
    assert parse_settings(["Smiling=0.7,Bangs=-1", "Mustache=+0.25"]) == {"Smiling": 0.7, "Bangs": -1.0, "Mustache": 0.25}
    with pytest.raises(FacetError):
        parse_settings(["Smiling"])


def test_present_interval_resamples_pairs_around_the_score():
    from engine.transfer_eval import AttributeTransfer, present_interval

    def result(name: str, added: list[bool], removed: list[bool]) -> AttributeTransfer:
        k = len(added)
        return AttributeTransfer(name, k, float(np.mean(added)), float(np.mean(removed)), 1.0,
                                 hits=np.array(added + removed, bool))

    perfect = [result("A", [True] * 10, [True] * 10)]
    assert present_interval(perfect) == (1.0, 1.0)
    mixed = [result("A", [True] * 8 + [False] * 2, [True] * 5 + [False] * 5), result("B", [True] * 20, [False] * 20)]
    score = float(np.mean([r.present_afterwards for r in mixed]))  # (0.65 + 0.5) / 2
    lo, hi = present_interval(mixed)
    assert lo < score < hi and hi - lo < 0.25 and present_interval(mixed) == (lo, hi)  # seeded: repeatable
    wider = present_interval(mixed, level=0.99)
    assert wider[0] <= lo and wider[1] >= hi
    with pytest.raises(ValueError, match="per-pair"):
        present_interval([AttributeTransfer("C", 3, 1.0, 1.0, 1.0)])


def test_a_bundle_of_the_wrong_family_is_named(elegant_path, tiny_cgan_bundle, tmp_path, capsys):
    face = str(save_image(tmp_path / "face.png", np.full((32, 32, 3), 128, np.uint8)))
    assert main(["dial", face, "--bundle", str(tiny_cgan_bundle), "--set", "Smiling=1",
                 "-o", str(tmp_path / "d.png")]) == 2
    assert "an 'elegant' bundle is needed, this one is 'cgan'" in capsys.readouterr().err
    assert main(["invert", face, "--bundle", str(elegant_path), "-o", str(tmp_path / "i.png")]) == 2
    assert "needs a 'cgan' bundle" in capsys.readouterr().err


def test_transfer_takes_several_exemplars_in_one_call(elegant_path, photos, synthetic_dataset, tmp_path, capsys):
    """--exemplar IMAGE ATTRS (repeatable): each attribute from its own exemplar, in one decoder pass."""
    folder, exemplar = photos
    other = save_image(tmp_path / "other.png", synthetic_dataset.item_uint8(4)[0])
    b = load_bundle(elegant_path)
    out = tmp_path / "two.png"
    assert main(["transfer", str(folder / "face0.png"), str(exemplar), "--attributes", "Smiling",
                 "--exemplar", str(other), "Bangs,Eyeglasses", "--bundle", str(elegant_path), "--strength", "0.9",
                 "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exemplars"] == [{"exemplar": str(exemplar), "attributes": ["Smiling"]},
                                   {"exemplar": str(other), "attributes": ["Bangs", "Eyeglasses"]}]
    source, a, c = (T.encode(b, load_image(p)) for p in (folder / "face0.png", exemplar, other))
    blocks = [a.block(b.attributes.index("Smiling")), c.block(b.attributes.index("Bangs")),
              c.block(b.attributes.index("Eyeglasses"))]
    latent = T.exchanged_latent(b, source, blocks, ["Smiling", "Bangs", "Eyeglasses"], 0.9)
    assert np.array_equal(load_image(out), T.render(b, source, latent).image)
    # the same without the positional exemplar: only --exemplar options
    assert main(["transfer", str(folder / "face0.png"), "--exemplar", str(exemplar), "Smiling", "--exemplar",
                 str(other), "Bangs,Eyeglasses", "--bundle", str(elegant_path), "--strength", "0.9",
                 "-o", str(tmp_path / "same.png")]) == 0
    assert np.array_equal(load_image(tmp_path / "same.png"), load_image(out))
    capsys.readouterr()
    for argv, message in (
        (["--exemplar", str(exemplar), "Smiling", "--exemplar", str(other), "Smiling"], "taken from two exemplars"),
        ([str(exemplar)], "with --attributes"),
        (["--attributes", "Smiling"], "no exemplar was given"),
        ([], "give an exemplar"),
    ):
        assert main(["transfer", str(folder / "face0.png"), *argv, "--bundle", str(elegant_path)]) == 2, argv
        assert message in capsys.readouterr().err


def test_several_exemplars_in_photo_mode_are_one_operation_each(photos, synthetic_dataset, tmp_path, capsys):
    from pathlib import Path

    from tests.engine.test_session import make_elegant_bundle

    elegant_path = make_elegant_bundle(tmp_path / "random")
    _, exemplar = photos
    other = save_image(tmp_path / "other.png", synthetic_dataset.item_uint8(4)[0])
    astronaut = load_image(Path(__file__).parents[2] / "resources" / "samples" / "astronaut.png")
    photo = np.full((240, 300, 3), 90, np.uint8)
    photo[40:200, 70:230] = astronaut
    src = save_image(tmp_path / "photo.png", photo)
    common = [str(src), "--bundle", str(elegant_path), "--photo", "--face", "1"]
    assert main(["transfer", *common, "--exemplar", str(exemplar), "Smiling", "--exemplar", str(other), "Blond_Hair",
                 "-o", str(tmp_path / "both.png")]) == 0
    assert main(["transfer", *common, "--exemplar", str(exemplar), "Smiling", "-o", str(tmp_path / "one.png")]) == 0
    both, one = load_image(tmp_path / "both.png"), load_image(tmp_path / "one.png")
    assert both.shape == photo.shape and not np.array_equal(both, one) and not np.array_equal(one, photo)
    assert main(["transfer", *common[:-2], "--face", "0", "--exemplar", str(exemplar), "Smiling"]) == 2
    assert "numbered from 1, left to right" in capsys.readouterr().err


def test_a_face_crop_without_photo_keeps_its_size(elegant_path, photos, tmp_path):
    """A non-square image's centre square is the face at its own size, not shrunk to the model's 32 px."""
    from engine.images import resize

    folder, _ = photos
    big = resize(load_image(folder / "face0.png"), (64, 64))
    wide = np.concatenate([np.zeros((64, 8, 3), np.uint8), big, np.zeros((64, 8, 3), np.uint8)], axis=1)
    src = save_image(tmp_path / "wide.png", wide)
    assert main(["dial", str(src), "--bundle", str(elegant_path), "--set", "Smiling=1", "-o", str(tmp_path / "d.png")]) == 0
    b = load_bundle(elegant_path)
    assert np.array_equal(load_image(tmp_path / "d.png"), T.dial(b, big, {"Smiling": 1}))  # 64 px, as the crop
    assert load_image(tmp_path / "d.png").shape == (64, 64, 3)


def test_a_dense_residual_reaches_only_where_the_edited_attributes_live(bundle, faces, monkeypatch):
    """elegant64's decoder adds a residual to every pixel: an edit keeps it to its attributes' regions (the eye
    band for Eyeglasses) or the face's oval (Male), so its mottling never reaches the rest of the crop."""
    from engine.face.regions import edit_confinement

    decoder = bundle.network("decoder")
    monkeypatch.setattr(decoder, "residual", lambda new, own, skips: torch.full((1, 3, 32, 32), 0.4))
    face = faces[0]
    src, ex = T.encode(bundle, face), T.encode(bundle, faces[1])
    changed = np.abs(T.transfer_codes(bundle, src, ex, ["Eyeglasses"]).astype(int) - face).max(axis=2)
    eyes = edit_confinement(["Eyeglasses"], 32, bundle.manifest.get("layout"))
    assert changed[eyes == 0].max() == 0 and changed[eyes == 1].min() >= 50  # 0.4 of [-1, 1] ≈ 51 levels
    dialled = np.abs(T.dial_codes(bundle, src, {"Mustache": 1.0}).astype(int) - face).max(axis=2)
    assert dialled[edit_confinement(["Mustache"], 32) == 0].max() == 0 and dialled.max() >= 50
    several = np.abs(T.transfer_several(bundle, src, [(ex, ["Eyeglasses", "Smiling"])]).astype(int) - face).max(axis=2)
    assert several[edit_confinement(["Eyeglasses", "Smiling"], 32) == 0].max() == 0
    many = np.abs(T.transfer_many(bundle, src, [ex], [1.0], ["Bangs"]).astype(int) - face).max(axis=2)
    assert many[edit_confinement(["Bangs"], 32) == 0].max() == 0
    # a bare render (reconstruction, the training's sample sheets) is not an attribute edit: nothing is confined
    assert np.abs(T.render(bundle, src).image.astype(int) - face).max(axis=2).min() >= 50
