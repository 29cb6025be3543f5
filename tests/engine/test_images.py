"""engine.images against the shared awkward-file fixtures and round trips."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from engine.errors import ImageLoadError
from engine.images import center_square, load_image, save_image
from tests.helpers import FIXTURES, missing_shared, require


def _manifest() -> list:
    path = FIXTURES / "MANIFEST.tsv"
    if not path.exists():  # one skipped case that says what is missing (not pytest's "empty parameter set")
        return [pytest.param({}, id="MANIFEST.tsv", marks=pytest.mark.skip(reason=missing_shared(path)))]
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.mark.parametrize("row", _manifest(), ids=lambda r: r["file"])
def test_fixture_behaves_as_its_manifest_says(row):
    path = require(FIXTURES / row["file"])
    if row["expect"] == "reject":
        with pytest.raises(ImageLoadError, match=row["file"]):
            load_image(path)
        return
    try:
        img = load_image(path)
    except ImageLoadError:
        assert row["expect"] == "either", f"{row['file']} should load"
        return
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


@pytest.mark.parametrize("orientation", range(2, 9))
def test_exif_orientations_all_come_out_upright(orientation):
    reference = load_image(require(FIXTURES / "exif_orientation_1.jpg")).astype(np.float32)
    img = load_image(require(FIXTURES / f"exif_orientation_{orientation}.jpg")).astype(np.float32)
    assert img.shape == reference.shape
    # JPEG re-encoding differs a little; a wrong rotation or mirror differs a lot.
    assert np.abs(img - reference).mean() < 8.0


def test_bomb_is_refused_before_decoding():
    with pytest.raises(ImageLoadError, match="decompression bomb|larger than"):
        load_image(require(FIXTURES / "bomb_30000x30000.png"))


def test_own_pixel_limit_applies(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(path)
    with pytest.raises(ImageLoadError, match="larger than"):
        load_image(path, max_pixels=10_000)


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    arr = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(arr).save(path)  # mode I;16
    img = load_image(path)
    assert img[0, 0, 0] == 0 and img[-1, -1, 0] == 255
    assert 100 < img[32, 0, 0] < 160  # mid-grey, not saturated white


def test_rgba_composites_on_white(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(path)
    assert (load_image(path) == 255).all()


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".bmp", ".tif"])
def test_save_and_reload_round_trip(tmp_path, suffix):
    yy, xx = np.mgrid[0:40, 0:30]
    img = np.stack([yy * 6, xx * 8, (yy + xx) * 3], axis=-1).astype(np.uint8)  # smooth: lossy codecs keep it
    out = save_image(tmp_path / f"x{suffix}", img, quality=100)
    back = load_image(out)
    assert back.shape == img.shape
    tolerance = 0 if suffix in (".png", ".bmp", ".tif") else 6
    assert np.abs(back.astype(int) - img).mean() <= tolerance
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_failed_save_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    import engine.images

    target = save_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    before = target.read_bytes()

    def disk_full(tmp, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine.images, "commit", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_image(target, np.full((4, 4, 3), 200, np.uint8))
    assert target.read_bytes() == before and not list(tmp_path.glob(".*.tmp"))


def test_commit_puts_a_written_file_in_place(tmp_path):
    from engine.fileio import commit

    (tmp_path / "old").write_text("old")
    (tmp_path / ".new.tmp").write_text("new")
    assert commit(tmp_path / ".new.tmp", tmp_path / "old") == tmp_path / "old"
    assert (tmp_path / "old").read_text() == "new" and not (tmp_path / ".new.tmp").exists()


def test_save_refuses_unknown_format(tmp_path):
    with pytest.raises(ImageLoadError, match="unsupported output format"):
        save_image(tmp_path / "x.xyz", np.zeros((4, 4, 3), np.uint8))


def test_missing_and_folder_paths_are_named(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageLoadError, match="is a folder"):
        load_image(tmp_path)


def test_center_square_takes_the_middle():
    img = np.zeros((218, 178, 3), np.uint8)
    img[20:198] = 200  # the centred square
    out = center_square(img, 64)
    assert out.shape == (64, 64, 3) and out.min() > 190


def _swapped_primaries_profile() -> bytes:
    """A valid RGB profile that is not sRGB: sRGB's with its red and blue primaries exchanged (and renamed)."""
    import struct

    from PIL import ImageCms

    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    entries = {bytes(data[132 + 12 * i:136 + 12 * i]): 132 + 12 * i for i in range(struct.unpack(">I", data[128:132])[0])}
    r, b = entries[b"rXYZ"], entries[b"bXYZ"]
    data[r + 4:r + 12], data[b + 4:b + 12] = data[b + 4:b + 12], data[r + 4:r + 12]
    return bytes(data).replace(b"sRGB", b"swap").replace("sRGB".encode("utf-16-be"), "swap".encode("utf-16-be"))


def test_an_embedded_colour_profile_is_converted_to_srgb(tmp_path):
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 200
    tagged = tmp_path / "tagged.png"
    Image.fromarray(red).save(tagged, icc_profile=_swapped_primaries_profile())
    loaded = load_image(tagged).astype(int)
    assert loaded[..., 2].mean() > 150 and loaded[..., 0].mean() < 60  # "red" in that space is sRGB's blue
    from PIL import ImageCms

    srgb_tagged = tmp_path / "srgb.png"
    Image.fromarray(red).save(srgb_tagged, icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    np.testing.assert_array_equal(load_image(srgb_tagged), red)  # sRGB stays as it is
    broken = tmp_path / "broken-profile.png"
    Image.fromarray(red).save(broken, icc_profile=b"not a profile at all")
    np.testing.assert_array_equal(load_image(broken), red)  # an unreadable profile is ignored, not fatal


def test_exif_is_read_upright_and_written_into_an_export(tmp_path):
    from engine.images import ORIENTATION, read_exif

    exif = Image.Exif()
    exif[0x010F], exif[ORIENTATION] = "CameraMaker", 6  # Make; rotated 90° on the sensor
    src = tmp_path / "camera.jpg"
    Image.fromarray(np.full((8, 12, 3), 100, np.uint8)).save(src, exif=exif.tobytes())
    carried = read_exif(src)
    for suffix in (".jpg", ".png", ".webp", ".tif"):
        out = save_image(tmp_path / f"out{suffix}", load_image(src), exif=carried)
        with Image.open(out) as written:
            tags = written.getexif()
        assert tags[0x010F] == "CameraMaker" and tags[ORIENTATION] == 1, suffix  # upright pixels, upright tag
        assert load_image(out).shape == (12, 8, 3)
    bmp = save_image(tmp_path / "out.bmp", load_image(src), exif=carried)  # BMP carries none: saved without it
    assert read_exif(bmp) is None
    plain = save_image(tmp_path / "plain.png", np.zeros((4, 4, 3), np.uint8))
    assert read_exif(plain) is None and read_exif(tmp_path / "missing.jpg") is None
