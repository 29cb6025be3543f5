"""Safe image I/O: every photo enters and leaves the engine through here.

Images inside the engine are ``numpy.uint8`` arrays of shape (H, W, 3), RGB, upright (EXIF applied), in
sRGB (an embedded RGB colour profile such as Display P3 or Adobe RGB is converted on loading).
Loading reads only regular files of bounded size, hands them only to the decoders of :data:`OPEN_FORMATS`
(whatever the extension says: a PostScript file named ``.jpg`` never reaches Ghostscript), refuses bombs
before decoding, refuses truncated files instead of returning half-grey pictures, converts a strip of rows
at a time so memory stays about 7 bytes a pixel, and turns every failure into :class:`ImageLoadError`
naming the file and what is wrong with it.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from engine.errors import ImageLoadError
from engine.fileio import check_regular_file, commit

#: Refuse images above this many pixels before decoding. Loading costs about 7 bytes a pixel; what bounds the
#: limit is an edit pasted back at full resolution (engine.face.paste, ~50 bytes a pixel of the pasted region,
#: most of the photo when a face fills it): at 30 MP the worst case (`facet edit --photo`) peaks at 1.9 GB,
#: at 99 MP it took 4.3 GB. 30 MP takes 24-26 MP cameras and phone photos as they are.
MAX_PIXELS = 30_000_000
#: Refuse image files above this size before reading them: an uncompressed 16-bit RGBA TIFF at the pixel
#: limit is 8 bytes a pixel.
MAX_FILE_BYTES = 8 * MAX_PIXELS + 16 * 2**20
#: Extensions offered in file dialogs and accepted by batch commands.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}
#: The only decoders a file reaches (Pillow's names), whatever its extension says. Pillow would otherwise try
#: every plugin it has: its EPS plugin runs Ghostscript, a PostScript interpreter, on the file, and add-on
#: plugins (HEIF, AVIF, SVG, ...) bring decoders nobody reviewed for this product.
OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF")
#: What the open formats are called for people; MPO is Pillow's name for a JPEG holding several pictures (phones
#: store depth and HDR maps that way), which the JPEG decoder opens.
FORMAT_NAMES = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP", "TIFF": "TIFF", "BMP": "BMP", "GIF": "GIF"}
SUPPORTED = "JPEG, PNG, WebP, TIFF, BMP or GIF"

# Truncated files must fail loudly, never decode into silently grey halves.
ImageFile.LOAD_TRUNCATED_IMAGES = False
log = logging.getLogger(__name__)

#: Leading bytes of formats that are refused, to say what a file is: (prefix, offset, what it is).
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"%!PS", 0, "a PostScript/EPS document"),
    (b"\xc5\xd0\xd3\xc6", 0, "a PostScript/EPS document"),
    (b"%PDF", 0, "a PDF document"),
    (b"8BPS", 0, "a Photoshop (PSD) file"),
    (b"gimp xcf", 0, "a GIMP (XCF) file"),
    (b"ftypheic", 4, "a HEIC image"), (b"ftypheix", 4, "a HEIC image"), (b"ftypmif1", 4, "a HEIF image"),
    (b"ftypavif", 4, "an AVIF image"), (b"ftyp", 4, "an MP4/QuickTime/HEIF file"),
    (b"\x00\x00\x00\x0cjP  ", 0, "a JPEG 2000 image"), (b"\xffO\xffQ", 0, "a JPEG 2000 image"),
    (b"\xff\x0a", 0, "a JPEG XL image"), (b"\x00\x00\x00\x0cJXL ", 0, "a JPEG XL image"),
    (b"\x00\x00\x01\x00", 0, "an icon (ICO)"), (b"icns", 0, "an icon (ICNS)"),
    (b"DDS ", 0, "a DirectDraw Surface (DDS)"), (b"qoif", 0, "a QOI image"), (b"v/1\x01", 0, "an OpenEXR image"),
    (b"SIMPLE  =", 0, "a FITS file"), (b"#?RADIANCE", 0, "a Radiance HDR image"),
    (b"PK\x03\x04", 0, "a zip archive"), (b"\x1f\x8b", 0, "a gzip archive"), (b"BZh", 0, "a bzip2 archive"),
    (b"\x7fELF", 0, "a program (ELF)"), (b"MZ", 0, "a Windows program"), (b"#!", 0, "a script"),
    (b"RIFF", 0, "a RIFF file (audio or video)"),
)


def _what_it_is(head: bytes) -> str | None:
    """What a file that no open decoder accepted is, from its first bytes; None when unknown."""
    for prefix, offset, what in _SIGNATURES:
        if head[offset:offset + len(prefix)] == prefix:
            return what
    if len(head) >= 3 and head[0:1] == b"P" and head[1:2] in b"1234567" and head[2:3].isspace():
        return "a Netpbm (PBM/PGM/PPM) image"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<svg", b"<?xml")) and b"<svg" in head.lower():
        return "an SVG drawing"
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "a text file"
    return None


def _is_open_format(head: bytes) -> bool:
    """Whether the first bytes are those of a format the loader opens (then a refusal means damage)."""
    return (head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
                             b"II+\x00", b"MM\x00+"))
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"))


def _open_file(path: str | os.PathLike) -> BinaryIO:
    """A regular file of bounded size, opened for reading; every other path is refused saying what it is.

    Opened non-blocking and checked again once open, so a FIFO swapped in after the check cannot hang the
    caller. Files that report no size but are not empty (``/proc/self/mem``) are refused too.
    """
    name = str(path)
    if not os.path.exists(path):  # a dangling link too
        raise ImageLoadError(f"{name}: no such file")
    check_regular_file(path, MAX_FILE_BYTES, what="image", error=ImageLoadError)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except PermissionError:
        raise ImageLoadError(f"{name}: permission denied (this user may not read the file)") from None
    except OSError as exc:
        raise ImageLoadError(f"{name}: cannot read the image ({exc.strerror or exc})") from None
    f = os.fdopen(fd, "rb")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced between the check and the open
            raise ImageLoadError(f"{name}: the image is not a regular file")
        if st.st_size == 0:
            try:
                empty = not f.read(1)
            except OSError:
                empty = False
            if empty:
                raise ImageLoadError(f"{name}: the file is empty (0 bytes)")
            raise ImageLoadError(f"{name}: not a regular image file (a system file that reports no size, "
                                 "as those in /proc do)")
        return f
    except BaseException:
        f.close()
        raise


def _refusal(fp: BinaryIO, name: str, formats: tuple[str, ...]) -> ImageLoadError:
    """The error for a file none of ``formats`` accepted: what it is, when that can be told."""
    try:
        fp.seek(0)
        head = fp.read(64)
    except OSError:
        head = b""
    accepted = SUPPORTED if formats == OPEN_FORMATS else " or ".join(formats)
    if formats == OPEN_FORMATS and _is_open_format(head):
        return ImageLoadError(f"{name}: damaged image (its header cannot be read)")
    what = _what_it_is(head)
    if what is None:
        return ImageLoadError(f"{name}: not an image file Facet Studio can read (unknown or damaged format; "
                              f"it opens {accepted})")
    return ImageLoadError(f"{name}: {what}, not an image format Facet Studio opens ({accepted})")


@contextmanager
def _opened(source: str | os.PathLike | bytes, max_pixels: int, formats: tuple[str, ...] = OPEN_FORMATS,
            name: str | None = None) -> Iterator[tuple[Image.Image, str]]:
    """The image in ``source`` opened (its header read, not decoded) by one of the ``formats``' decoders, its
    size checked; with its name for messages. Every decoder failure inside the block becomes
    :class:`ImageLoadError`."""
    name = name or ("<bytes>" if isinstance(source, bytes | bytearray) else str(source))
    fp: BinaryIO = io.BytesIO(source) if isinstance(source, bytes | bytearray) else _open_file(source)
    try:
        with warnings.catch_warnings():
            # Our own limit below decides; Pillow still raises DecompressionBombError past 2x its own.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                img = Image.open(fp, formats=formats)
            except UnidentifiedImageError:
                raise _refusal(fp, name, formats) from None
        with img:
            if ("JPEG" if img.format == "MPO" else img.format) not in formats:  # a plugin factory's surprise
                raise ImageLoadError(f"{name}: a {img.format} image, not a format Facet Studio opens here")
            w, h = img.size
            if w * h > max_pixels:
                raise ImageLoadError(
                    f"{name}: {w} x {h} pixels ({w * h / 1e6:.0f} MP) is larger than the "
                    f"{max_pixels / 1e6:.0f} MP limit; scale it down first"
                )
            if w < 1 or h < 1:
                raise ImageLoadError(f"{name}: the image has no pixels ({w} x {h})")
            yield img, name
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"{name}: refused as a decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(f"{name}: damaged or truncated image ({exc})") from None
    except MemoryError:
        raise ImageLoadError(f"{name}: not enough memory to decode this image") from None
    finally:
        fp.close()


@cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _srgb_transform(icc: bytes | None, name: str) -> ImageCms.ImageCmsTransform | None:
    """The conversion of RGB pixels in an embedded profile's colour space to sRGB; None when there is none to do.

    sRGB is what the models were trained on and how an untagged export is read: without this a Display P3
    or Adobe RGB photo looks dull in the editor and its export changes colour. Profiles that say they are
    sRGB are taken as they are (converting 12 MP costs ~0.3 s); an unreadable profile is ignored.
    """
    if not icc:
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        described = (ImageCms.getProfileDescription(source) or "").lower().replace(" ", "")
        if source.profile.xcolor_space.strip() != "RGB" or "srgb" in described:
            return None
        return ImageCms.buildTransform(source, _srgb(), "RGB", "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        log.warning("%s: its colour profile is ignored (%s)", name, exc)
        return None


def _wide_range(img: Image.Image) -> float | None:
    """For 16- and 32-bit modes, the value that becomes 255 (the whole image's range, not one strip's)."""
    if img.mode.startswith("I;16"):
        return 65535.0
    if img.mode in ("I", "F"):
        return 65535.0 if (img.getextrema()[1] or 0) > 255 else 255.0
    return None


def _strip_to_rgb(img: Image.Image, hi: float | None) -> Image.Image:
    """Convert any PIL mode to RGB; alpha is composited on white, 16-bit is scaled (by ``hi``), not clipped."""
    if hi is not None:
        arr = np.asarray(img, dtype=np.float32)  # one strip: float32 is exact enough and small
        arr = np.clip(arr * np.float32(255.0 / hi) + np.float32(0.5), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode != "RGB":
        return img.convert("RGB")  # L, 1, CMYK (Pillow inverts Adobe CMYK correctly), YCbCr, LAB
    return img


#: Pixels converted at a time: keeps every intermediate copy (RGBA, float) a few MB whatever the photo's size.
STRIP_PIXELS = 1 << 22


def _rgb_array(img: Image.Image, name: str) -> np.ndarray:
    """A decoded, upright image → RGB uint8 (H, W, 3) in sRGB, converted a strip of rows at a time.

    Converting the whole image at once would hold the source, an RGBA copy, a composited copy and (16-bit)
    a float64 copy together: 30 bytes a pixel, 3 GB for a 99 MP greyscale PNG that is 96 KB on disk.
    """
    w, h = img.size
    hi = _wide_range(img)
    transform = _srgb_transform(img.info.get("icc_profile"), name)
    out = np.empty((h, w, 3), np.uint8)
    rows = max(1, STRIP_PIXELS // w)
    for y in range(0, h, rows):
        strip = _strip_to_rgb(img.crop((0, y, w, min(h, y + rows))), hi)
        if transform is not None:
            try:
                strip = ImageCms.applyTransform(strip, transform)
            except (ImageCms.PyCMSError, OSError, ValueError) as exc:
                log.warning("%s: its colour profile is ignored (%s)", name, exc)
                transform = None
        out[y:y + rows] = np.asarray(strip)
    return out


def _decode(img: Image.Image, draft: int | None = None) -> Image.Image:
    """The first frame decoded and turned upright (EXIF orientation), in place: no second copy of the photo."""
    img.seek(0)  # animated images: the first frame
    if draft is not None:
        img.draft("RGB", (draft, draft))  # JPEG: decode at a reduced scale, cheaply
    img.load()
    ImageOps.exif_transpose(img, in_place=True)
    return img


def load_image(source: str | os.PathLike | bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Load an image file as an upright RGB ``uint8`` array of shape (H, W, 3), in sRGB.

    Only regular files of :data:`OPEN_FORMATS` are decoded (see :func:`check_image`); the rest is refused
    with :class:`ImageLoadError` saying what it is. Peak memory is about 7 bytes a pixel.
    """
    with _opened(source, max_pixels) as (img, name):
        return _rgb_array(_decode(img), name)


def check_image(source: str | os.PathLike | bytes, max_pixels: int = MAX_PIXELS) -> tuple[int, int, str]:
    """(width, height, format) of an image :func:`load_image` would open, from its header alone (no decoding);
    :class:`ImageLoadError` saying why not otherwise. For checks before a long operation (opening, a batch)."""
    with _opened(source, max_pixels) as (img, _):
        w, h = img.size
        return w, h, FORMAT_NAMES[str(img.format)]


def load_thumbnail(source: str | os.PathLike, size: int, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A preview of at most ``size`` x ``size`` pixels (RGB uint8, upright), read as :func:`load_image` reads.

    JPEGs are decoded at a reduced scale; other formats are decoded whole (within the pixel limit).
    """
    with _opened(source, max_pixels) as (img, name):
        rgb = _rgb_array(_decode(img, draft=size), name)
    h, w = rgb.shape[:2]
    scale = min(1.0, size / max(h, w))
    if scale >= 1.0:
        return rgb
    pil = Image.fromarray(rgb)
    return np.asarray(pil.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS))


def decode_png_bytes(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    """A PNG stored inside another file (a project's masks and strokes) → its array, mode as stored (L, RGB,
    RGBA). Only the PNG decoder reads it: a project is a user file, and what it holds must not reach the
    decoders a photo may not reach either."""
    with _opened(bytes(data), max_pixels, ("PNG",), name) as (img, _):
        img.load()
        return np.array(img)


#: formats whose files carry EXIF through Pillow
EXIF_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")
ORIENTATION = 0x0112


def read_exif(source: str | os.PathLike) -> bytes | None:
    """A photo's EXIF (camera, date, …) to write into its edited export, or None when it has none.

    The orientation tag is set to 1: loading already turned the pixels upright, and an export that kept
    the old tag would be turned again by every viewer. Reads the header only; never raises.
    """
    try:
        with _opened(source, MAX_PIXELS) as (img, _):  # the same decoders and checks as loading
            exif = img.getexif()
            if not len(exif):
                return None
            if ORIENTATION in exif:
                exif[ORIENTATION] = 1
            return exif.tobytes()
    except Exception as exc:  # noqa: BLE001 - metadata is a bonus: a photo that loads must export without it
        log.info("%s: its EXIF is not carried over (%s)", source, exc)
        return None


def save_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95, exif: bytes | None = None) -> Path:
    """Write an RGB uint8 array atomically (temp file + rename) in the format of the file's extension.

    ``exif``: metadata to embed (from :func:`read_exif`), where the format carries it.
    """
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageLoadError(f"{path}: unsupported output format {path.suffix!r}; use one of {sorted(SAVE_FORMATS)}")
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"save_image expects uint8 (H, W, 3), got {arr.dtype} {arr.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    options: dict = {"quality": int(quality)} if fmt in ("JPEG", "WEBP") else {}
    if exif and fmt in EXIF_FORMATS:
        options["exif"] = exif
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        Image.fromarray(arr, "RGB").save(tmp, format=fmt, **options)
        commit(tmp, path)
    finally:  # a full disk or a cancelled write leaves no half file behind
        tmp.unlink(missing_ok=True)
    return path


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an RGB uint8 array to (width, height) with a high-quality filter."""
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def center_square(image: np.ndarray, resolution: int) -> np.ndarray:
    """The centred square crop of an image, resized to ``resolution`` — the dataset convention."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return resize(image[top : top + side, left : left + side], (resolution, resolution))


def iter_image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder`` (sorted), by extension."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
