"""engine.images against the shared awkward-file fixtures and round trips."""

from __future__ import annotations

import csv
from pathlib import Path

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


# -- what is opened, and how much memory it takes ----------------------------------------------------------


@pytest.mark.parametrize(("fmt", "mode", "called"), [
    ("PPM", "RGB", "Netpbm"), ("ICO", "RGB", "icon"), ("DDS", "RGB", "DirectDraw"), ("QOI", "RGB", "QOI"),
    ("PCX", "RGB", "unknown"), ("TGA", "RGB", "unknown"), ("SGI", "RGB", "unknown"), ("JPEG2000", "RGB", "JPEG 2000"), ("ICNS", "RGB", "ICNS"),
    ("SPIDER", "F", "unknown"), ("XBM", "1", None),
])
def test_formats_outside_the_allow_list_are_refused_saying_what_they_are(tmp_path, fmt, mode, called):
    """Pillow decodes all of these (the old loader returned pictures); the product opens only its six formats."""
    path = tmp_path / "photo.jpg"
    Image.new(mode, (16, 16)).save(path, format=fmt)
    with pytest.raises(ImageLoadError, match="photo.jpg") as err:
        load_image(path)
    assert "JPEG, PNG, WebP, TIFF, BMP or GIF" in str(err.value)
    if called:
        assert called in str(err.value)


def test_a_png_named_jpg_loads_and_a_jpeg_with_several_pictures_is_a_jpeg(tmp_path):
    from engine.images import check_image

    Image.new("RGB", (6, 4), (10, 200, 30)).save(tmp_path / "png.jpg", format="PNG")
    assert load_image(tmp_path / "png.jpg")[0, 0].tolist() == [10, 200, 30]
    first, second = Image.new("RGB", (8, 6), (200, 0, 0)), Image.new("RGB", (8, 6), (0, 0, 200))
    first.save(tmp_path / "mpo.jpg", format="MPO", save_all=True, append_images=[second])  # phones' depth/HDR maps
    assert check_image(tmp_path / "mpo.jpg") == (8, 6, "JPEG")
    assert load_image(tmp_path / "mpo.jpg")[..., 0].mean() > 150  # the first picture


def test_check_image_reads_the_header_only():
    from engine.images import check_image

    assert check_image(require(FIXTURES / "truncated_half.jpg"))[2] == "JPEG"  # decoding is what fails
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(FIXTURES / "truncated_half.jpg")
    with pytest.raises(ImageLoadError, match="text file"):
        check_image(FIXTURES / "text_named_jpg.jpg")


def test_strips_convert_exactly_as_the_whole_image(tmp_path, monkeypatch):
    """Every mode converted a few rows at a time (the memory bound) gives the bytes a whole conversion gives."""
    import engine.images

    rng = np.random.default_rng(1)
    paths = {"I;16": tmp_path / "i16.png", "P": tmp_path / "p.png", "LA": tmp_path / "la.png", "F": tmp_path / "f.tif",
             "CMYK": tmp_path / "cmyk.tif", "I": tmp_path / "i.tif"}
    Image.fromarray(rng.integers(0, 65535, (37, 53), dtype=np.uint16)).save(paths["I;16"])
    Image.fromarray(rng.integers(0, 255, (37, 53, 3), dtype=np.uint8)).convert("P").save(paths["P"], transparency=3)
    Image.fromarray(rng.integers(0, 255, (37, 53, 2), dtype=np.uint8), "LA").save(paths["LA"])
    Image.fromarray(rng.random((37, 53)).astype(np.float32) * 300).save(paths["F"])  # range from the whole image
    Image.fromarray(rng.integers(0, 255, (37, 53, 4), dtype=np.uint8), "CMYK").save(paths["CMYK"])
    Image.fromarray(rng.integers(0, 200, (37, 53)).astype(np.int32)).save(paths["I"])
    whole = {mode: load_image(p) for mode, p in paths.items()}
    monkeypatch.setattr(engine.images, "STRIP_PIXELS", 60)  # one row at a time
    for mode, path in paths.items():
        np.testing.assert_array_equal(load_image(path), whole[mode], err_msg=mode)
    assert whole["I"].max() > 150  # 0..200 in 32 bits is read as 8-bit values, not scaled down to black


def test_a_wide_greyscale_image_converts_in_bounded_memory(tmp_path):
    """A 16-bit greyscale PNG that is tiny on disk: loading it costs the output and the decoded source, not the
    float64 and RGBA copies of a whole-image conversion (about 5 bytes a pixel here; the old loader took 24).
    Measured in a fresh process, so the peak belongs to this load alone."""
    import subprocess
    import sys

    path = tmp_path / "grey16.png"
    Image.new("I;16", (4000, 3000), 40000).save(path)  # 12 MP, 40 KB
    script = ("import resource, sys; from engine.images import load_image; "
              "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; img = load_image(sys.argv[1]); "
              "print(img.shape[0] * img.shape[1], before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    pixels, before, after = (int(v) for v in out.stdout.split())
    grown = (after - before) * (1 if sys.platform == "darwin" else 1024)
    assert pixels == 12_000_000 and grown < 8 * pixels, f"{grown / pixels:.1f} bytes a pixel"


def test_thumbnails_are_small_upright_and_read_like_photos(tmp_path):
    from engine.images import load_thumbnail

    thumb = load_thumbnail(require(FIXTURES / "exif_orientation_6.jpg"), 72)
    upright = load_image(FIXTURES / "exif_orientation_1.jpg")
    assert thumb.shape == (72, 72, 3) and thumb.dtype == np.uint8
    small = np.asarray(Image.fromarray(upright).resize((72, 72), Image.Resampling.LANCZOS)).astype(float)
    assert np.abs(thumb - small).mean() < 12  # same orientation (a rotated one differs a lot)
    Image.new("RGB", (300, 100), (0, 90, 0)).save(tmp_path / "wide.png")
    assert load_thumbnail(tmp_path / "wide.png", 72).shape == (24, 72, 3)
    Image.new("RGB", (4, 5)).save(tmp_path / "tiny.png")
    assert load_thumbnail(tmp_path / "tiny.png", 72).shape == (5, 4, 3)  # never enlarged
    with pytest.raises(ImageLoadError, match="text file"):
        load_thumbnail(require(FIXTURES / "text_named_jpg.jpg"), 72)


def test_stored_masks_and_strokes_are_pngs_only():
    """Projects hold masks and strokes as base64 PNG text: nothing else may reach a decoder from there."""
    import base64
    import io

    from engine.ops import decode_png, encode_png

    mask = (np.arange(64).reshape(8, 8) * 4).astype(np.uint8)
    np.testing.assert_array_equal(decode_png(encode_png(mask)), mask)
    for fmt in ("BMP", "TIFF", "GIF"):  # formats a photo may have, but not a stored mask
        buf = io.BytesIO()
        Image.fromarray(mask).save(buf, format=fmt)
        with pytest.raises(ImageLoadError, match="stored mask"):
            decode_png(base64.b64encode(buf.getvalue()).decode())
    eps = base64.b64encode(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n{ } loop\n").decode()
    with pytest.raises(ImageLoadError, match="PostScript"):
        decode_png(eps)
    with pytest.raises(ImageLoadError, match="base64"):
        decode_png("not base64 at all!")
    buf = io.BytesIO()
    Image.new("L", (5000, 4000)).save(buf, format="PNG")  # 20 MP: far more than a crop-sized mask
    with pytest.raises(ImageLoadError, match="larger than"):
        decode_png(base64.b64encode(buf.getvalue()).decode())
