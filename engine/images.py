"""Safe image I/O: every photo enters and leaves the engine through here.

Images inside the engine are ``numpy.uint8`` arrays of shape (H, W, 3), RGB, upright (EXIF applied), in
sRGB (an embedded RGB colour profile such as Display P3 or Adobe RGB is converted on loading).
Loading refuses bombs before decoding, refuses truncated files instead of returning half-grey pictures,
and turns every decoder failure into :class:`ImageLoadError` naming the file.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from engine.errors import ImageLoadError
from engine.fileio import commit

#: Refuse images above this many pixels before decoding (a 100-megapixel photo is ~300 MB as RGB).
MAX_PIXELS = 100_000_000
#: Extensions offered in file dialogs and accepted by batch commands.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}

# Truncated files must fail loudly, never decode into silently grey halves.
ImageFile.LOAD_TRUNCATED_IMAGES = False
log = logging.getLogger(__name__)


@cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(img: Image.Image, icc: bytes | None, name: str) -> Image.Image:
    """RGB pixels in their embedded profile's colour space → sRGB.

    sRGB is what the models were trained on and how an untagged export is read: without this a Display P3
    or Adobe RGB photo looks dull in the editor and its export changes colour. Profiles that say they are
    sRGB are taken as they are (converting 12 MP costs ~0.3 s); an unreadable profile is ignored.
    """
    if not icc or img.mode != "RGB":
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        described = (ImageCms.getProfileDescription(source) or "").lower().replace(" ", "")
        if source.profile.xcolor_space.strip() != "RGB" or "srgb" in described:
            return img
        return ImageCms.profileToProfile(img, source, _srgb(), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        log.warning("%s: its colour profile is ignored (%s)", name, exc)
        return img


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; alpha is composited on white, 16-bit is scaled, not clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode != "RGB":
        return img.convert("RGB")  # L, 1, CMYK (Pillow inverts Adobe CMYK correctly), YCbCr, LAB
    return img


def open_pil(source: str | os.PathLike | bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open, check size, fully decode and orient an image; returns an RGB PIL image."""
    name = "<bytes>" if isinstance(source, bytes | bytearray) else str(source)
    if not isinstance(source, bytes | bytearray):
        path = Path(source)
        if not path.exists():
            raise ImageLoadError(f"{name}: no such file")
        if path.is_dir():
            raise ImageLoadError(f"{name}: is a folder, not an image")
        if path.stat().st_size == 0:
            raise ImageLoadError(f"{name}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Our own limit below decides; Pillow still raises DecompressionBombError past 2x its own.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(source) if isinstance(source, bytes | bytearray) else source)
        with img:
            w, h = img.size
            if w * h > max_pixels:
                raise ImageLoadError(
                    f"{name}: {w} x {h} pixels ({w * h / 1e6:.0f} MP) is larger than the "
                    f"{max_pixels / 1e6:.0f} MP limit"
                )
            if w < 1 or h < 1:
                raise ImageLoadError(f"{name}: the image has no pixels ({w} x {h})")
            img.seek(0)  # animated images: the first frame
            img.load()
            icc = img.info.get("icc_profile")
            upright = ImageOps.exif_transpose(img)
            rgb = _to_srgb(_to_rgb(upright), icc, name)
            return rgb.copy() if rgb is img else rgb
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"{name}: refused as a decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name}: not an image file Pillow can read (unknown or damaged format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(f"{name}: damaged or truncated image ({exc})") from None
    except MemoryError:
        raise ImageLoadError(f"{name}: not enough memory to decode this image") from None


def load_image(source: str | os.PathLike | bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Load an image file as an upright RGB ``uint8`` array of shape (H, W, 3)."""
    return np.asarray(open_pil(source, max_pixels), dtype=np.uint8).copy()


#: formats whose files carry EXIF through Pillow
EXIF_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")
ORIENTATION = 0x0112


def read_exif(source: str | os.PathLike) -> bytes | None:
    """A photo's EXIF (camera, date, …) to write into its edited export, or None when it has none.

    The orientation tag is set to 1: loading already turned the pixels upright, and an export that kept
    the old tag would be turned again by every viewer. Reads the header only; never raises.
    """
    try:
        with Image.open(source) as img:
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
