"""Bytes -> RGB array: EXIF orientation applied, any mode converted, big JPEGs decoded at reduced size."""
from __future__ import annotations

import io
import struct
import time
import warnings
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError
from .scan import sniff_image

try:  # HEIC/HEIF (iPhone photos) when pillow-heif is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a dependency, but stay usable without it
    pass

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 36867
_DATETIME_DIGITIZED = 36868
_DATETIME = 306
_ORIENTATION = 274
#: How photos are decoded, part of the eval cache key: 2 keeps a large JPEG at the DCT
#: scale it was decoded at (1 resized it down to max_side_px as well).
DECODE_VERSION = 2


@dataclass
class DecodedImage:
    """An RGB image and how it relates to the original file.

    ``scale`` maps this array's pixels to the original (EXIF-oriented) image:
    original_xy = array_xy * scale.
    """

    rgb: np.ndarray  # (H, W, 3) uint8
    width: int  # original width after EXIF orientation
    height: int
    scale: float
    taken_at: str | None


#: Bytes per pixel of Pillow's modes as decoded (anything else: 4).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "La": 2, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2,
               "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3}
#: Single-image formats whose files are never much larger than their raw pixels.
_SINGLE_IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "HEIF", "AVIF")


def decode_bytes_needed(width: int, height: int, mode: str, rotated: bool = False) -> int:
    """About the most memory decoding a ``width`` x ``height`` image of ``mode`` to an RGB
    array takes: the decoded pixels, the conversions to 8-bit RGB (compositing transparency
    on white takes three more full images), a rotated copy, and the final array."""
    own = _MODE_BYTES.get(mode, 4)
    if mode == "RGB":
        convert = 0
    elif mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        convert = 4 + 4 + 3  # RGBA copy, white background, composite, then RGB
    elif mode in ("I", "F") or mode.startswith("I;16"):
        convert = 8 + 1 + 3  # float64, 8-bit grey, RGB
    elif mode == "P":
        convert = 4 + 3  # a palette image with transparency goes through RGBA
    else:
        convert = 3  # L, CMYK, YCbCr...: one conversion to RGB
    return width * height * (own + convert + 3 + (3 if rotated else 0))


def plausible_file_bytes(width: int, height: int, image_format: str | None) -> int | None:
    """The largest a file holding one ``width`` x ``height`` image of this format can
    reasonably be (raw 16-bit RGBA pixels plus 64 MB of metadata); None for formats that
    hold several images (TIFF, GIF), where no such bound exists."""
    if image_format not in _SINGLE_IMAGE_FORMATS:
        return None
    return width * height * 8 + (64 << 20)


class TimedBytes(io.BytesIO):
    """Bytes that Pillow reads until ``seconds`` have passed, then an ImageError.

    Pillow's slow paths are Python loops that read: skipping junk between a JPEG's markers
    a byte at a time (a 1 GiB file held a worker for minutes), walking a TIFF's pages, a
    PNG's chunks. Every 256th read checks the clock (checking each one made skipping junk
    4x slower), so no file holds a worker much longer than ``seconds``."""

    _read = io.BytesIO.read

    def __init__(self, data: bytes, seconds: float):
        super().__init__(data)
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.until_check = 0

    def read(self, size: int | None = -1) -> bytes:
        self.until_check -= 1
        if self.until_check < 0:
            self.until_check = 255
            if time.monotonic() > self.deadline:
                raise ImageError(f"gave up: decoding took more than {self.seconds:g} s (a damaged or hostile file)")
        return self._read(size)


def decode_image(data: bytes, max_side_px: int | None = None, max_pixels: int = 180_000_000,
                 max_decode_mb: int = 1024, max_seconds: float = 30.0) -> DecodedImage:
    """Decode image bytes. Raises ImageError with a message fit for the photos table.

    ``max_pixels`` refuses images with more pixels (decompression bombs); ``max_decode_mb``
    refuses images whose decoding would take more memory than that (decode_bytes_needed,
    computed from the header before any pixel is decoded, after a JPEG's reduced-size
    decoding is chosen).

    With ``max_side_px``, a JPEG larger than that is decoded at the smallest of the scales
    JPEG decodes at directly (1/2, 1/4, 1/8) that keeps its longer side at least that
    large, and kept at that size (less than twice ``max_side_px``): resizing it further
    cost 24 ms for a 2400x1800 photo, 15% of indexing a 12 MP one (docs/performance.md).
    Other images, and JPEGs still twice as large at 1/8, are resized to ``max_side_px``.

    Decoding gives up after ``max_seconds`` (TimedBytes).
    """
    if not data:
        raise ImageError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # the pixel limit is checked below, before any pixels are decoded; Pillow's own
            # warning would reach the worker's log for every large photo (and a TIFF's each page)
            warnings.simplefilter("ignore")
            im = Image.open(TimedBytes(data, max_seconds))
            orig_w, orig_h = im.size
            if orig_w * orig_h > max_pixels:
                raise ImageError(
                    f"image too large: {orig_w}x{orig_h} = {orig_w * orig_h:,} pixels exceeds the limit of "
                    f"{max_pixels:,} (possible decompression bomb)"
                )
            limit = max_side_px
            if max_side_px and im.format == "JPEG" and max(orig_w, orig_h) > max_side_px:
                # JPEG can decode at 1/2, 1/4 or 1/8 scale directly, far cheaper than a full decode.
                ratio = max(orig_w, orig_h) / max_side_px
                im.draft("RGB", (int(orig_w / ratio) + 1, int(orig_h / ratio) + 1))
                limit = 2 * max_side_px - 1
            # before anything reads pixels (a PNG's EXIF can lie after them: reading it decodes the image)
            needed = decode_bytes_needed(*im.size, im.mode)
            if needed > max_decode_mb << 20:
                raise ImageError(
                    f"image too large to decode: {orig_w}x{orig_h} ({im.mode}) needs about {needed >> 20:,} MB, "
                    f"more than the {max_decode_mb:,} MB one image may take")
            exif = im.getexif()
            orientation = exif.get(_ORIENTATION, 1)
            taken_at = _exif_datetime(exif)
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)  # animated GIF/WebP, multi-page TIFF: first frame
            im.load()
            im = _to_rgb(im)
            if orientation in (2, 3, 4, 5, 6, 7, 8):
                im = ImageOps.exif_transpose(im)
            if orientation in (5, 6, 7, 8):
                orig_w, orig_h = orig_h, orig_w
            if limit and max(im.size) > limit:
                im.thumbnail((max_side_px, max_side_px), Image.Resampling.BILINEAR, reducing_gap=2.0)
            rgb = np.asarray(im, dtype=np.uint8)
    except ImageError:
        raise
    except UnidentifiedImageError:
        kind = sniff_image(data[:16])
        if kind:
            raise ImageError(f"corrupt image: the file starts like {kind.upper()} but cannot be decoded") from None
        raise ImageError("not an image, or a format photoface cannot read") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image too large (possible decompression bomb): {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise ImageError(f"corrupt or truncated image: {exc}") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise ImageError(f"unexpected decoded shape {rgb.shape}")
    return DecodedImage(rgb, orig_w, orig_h, max(orig_w, orig_h) / max(rgb.shape[:2]), taken_at)


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; transparency is composited on white."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        hi = arr.max() if arr.size else 1.0
        arr = arr * (255.0 / (65535.0 if hi > 255 else 255.0))
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L").convert("RGB")
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else arr * 0
        return Image.fromarray(arr.astype(np.uint8), "L").convert("RGB")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV, RGBX, 16-bit RGB...


def _exif_datetime(exif) -> str | None:
    """EXIF DateTimeOriginal (else Digitized, else DateTime) as ISO 8601, or None."""
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:
        sub = {}
    for value in (sub.get(_DATETIME_ORIGINAL), sub.get(_DATETIME_DIGITIZED), exif.get(_DATETIME)):
        if not value:
            continue
        text = str(value).strip().strip("\x00")
        for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M", "%Y:%m:%d"):
            try:
                return datetime.strptime(text, fmt).isoformat()
            except ValueError:
                continue
    return None
