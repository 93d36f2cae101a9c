"""decode_image: every mode and format a library holds, orientation, reduced-size decoding, bad bytes."""
import io

import numpy as np
import pytest
from PIL import Image

from photoface.decode import decode_image
from photoface.errors import ImageError

from conftest import PHOTOS, load_rgb


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def face_photo():
    return load_rgb("obama2.jpg")  # 626 x 1200


@pytest.mark.parametrize("fmt,mode", [
    ("PNG", "RGB"), ("PNG", "RGBA"), ("PNG", "LA"), ("PNG", "P"), ("PNG", "L"), ("PNG", "I;16"),
    ("WEBP", "RGB"), ("TIFF", "RGB"), ("TIFF", "CMYK"), ("BMP", "RGB"), ("GIF", "P"), ("JPEG", "CMYK"),
    ("JPEG", "L"),
])
def test_formats_and_modes_decode_to_rgb(face_photo, fmt, mode):
    im = face_photo.convert(mode) if mode != "I;16" else Image.fromarray(
        (np.asarray(face_photo.convert("L"), np.uint16) * 257))
    out = decode_image(encode(im, fmt))
    assert out.rgb.dtype == np.uint8 and out.rgb.shape == (1200, 626, 3)
    assert (out.width, out.height, out.scale) == (626, 1200, 1.0)
    # the picture survives the conversion: correlated with the original's luminance
    ref = np.asarray(face_photo.convert("L"), np.float64).ravel()
    got = out.rgb.mean(axis=2).ravel()
    assert np.corrcoef(ref, got)[0, 1] > 0.9


def test_alpha_is_composited_on_white():
    im = Image.new("RGBA", (40, 30), (255, 0, 0, 0))
    out = decode_image(encode(im, "PNG"))
    assert out.rgb[5, 5].tolist() == [255, 255, 255]


def test_heic_decodes_through_pillow_heif(face_photo):
    import pillow_heif  # a dependency of photoface: HEIC support must not silently go missing
    buf = io.BytesIO()
    pillow_heif.from_pillow(face_photo).save(buf, format="HEIF", quality=80)
    out = decode_image(buf.getvalue())
    assert out.rgb.shape == (1200, 626, 3)


def test_gif_first_frame():
    frames = [Image.new("RGB", (32, 32), c) for c in ((250, 0, 0), (0, 0, 250))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    out = decode_image(buf.getvalue())
    assert out.rgb[16, 16, 0] > 200 and out.rgb[16, 16, 2] < 50


def test_exif_orientation_applied(face_photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated; viewer rotates 90 degrees clockwise
    data = encode(face_photo.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif)
    out = decode_image(data)
    assert (out.width, out.height) == (626, 1200) and out.rgb.shape == (1200, 626, 3)
    diff = np.abs(out.rgb.astype(int) - np.asarray(face_photo, int)).mean()
    assert diff < 6


def test_large_jpeg_decoded_at_reduced_size_with_scale(face_photo):
    big = face_photo.resize((626 * 5, 1200 * 5))
    out = decode_image(encode(big, "JPEG", quality=85), max_side_px=1600)
    assert (out.width, out.height) == (3130, 6000)
    # decoded at 1/2 (1/4 would be under 1600) and kept at that size, not resized again
    assert out.rgb.shape[:2] == (3000, 1565)
    assert out.scale == pytest.approx(2.0, rel=1e-6)
    diff = np.abs(out.rgb.astype(int) - np.asarray(big.resize((1565, 3000), Image.Resampling.BOX), int)).mean()
    assert diff < 6


def test_jpeg_below_twice_the_limit_is_kept_whole_other_formats_are_resized(face_photo):
    photo = face_photo.resize((2400, 1800))
    jpeg = decode_image(encode(photo, "JPEG", quality=90), max_side_px=1600)
    assert jpeg.rgb.shape[:2] == (1800, 2400) and jpeg.scale == 1.0
    png = decode_image(encode(photo, "PNG"), max_side_px=1600)
    assert png.rgb.shape[:2] == (1200, 1600)
    assert png.scale == pytest.approx(1.5, rel=1e-6)
    # a JPEG still twice the limit at 1/8 (a panorama) is resized to the limit
    wide = decode_image(encode(face_photo.resize((28000, 400)), "JPEG", quality=80), max_side_px=1600)
    assert max(wide.rgb.shape[:2]) == 1600


def test_exif_date_taken():
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2021:03:04 05:06:07"
    out = decode_image(encode(Image.new("RGB", (20, 20)), "JPEG", exif=exif))
    assert out.taken_at == "2021-03-04T05:06:07"


@pytest.mark.parametrize("data,words", [
    (b"", "empty file"),
    (b"hello, I am text", "not an image"),
    ((PHOTOS / "obama2.jpg").read_bytes()[:20000], "truncated"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "corrupt"),
])
def test_bad_bytes_raise_image_error(data, words):
    with pytest.raises(ImageError, match=words):
        decode_image(data)


def test_decompression_bomb_refused_before_decoding():
    data = encode(Image.new("1", (20000, 20000)), "PNG")
    with pytest.raises(ImageError, match="too large"):
        decode_image(data, max_pixels=100_000_000)


def _png_header_only(path, width: int, height: int, colour_type: int, channels: int) -> None:
    """A valid PNG of ``width`` x ``height`` black pixels, written row by row (never held whole)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    comp, row, idat = zlib.compressobj(9), b"\x00" * (1 + width * channels), []
    for _ in range(height):
        idat.append(comp.compress(row))
    idat.append(comp.flush())
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)))
        fh.write(chunk(b"IDAT", b"".join(idat)) + chunk(b"IEND", b""))


def test_small_files_that_decode_huge_and_huge_files_of_junk_are_refused_cheaply(tmp_path):
    """A 0.3 MB PNG of 9,000 x 9,000 RGBA pixels (under the pixel limit) would take about
    1.2 GB to decode (one of 13,300 px: 3.4 GB, benchmarks/hostile_corpus.py); a JPEG header followed by 1 GiB of nothing would be read whole and
    skipped byte by byte for minutes. Both are refused from their headers, in a process
    that checks its own peak memory and time."""
    import subprocess
    import sys

    rgba, grey, sparse = tmp_path / "rgba.png", tmp_path / "grey.png", tmp_path / "sparse.jpg"
    large = tmp_path / "large.png"
    _png_header_only(rgba, 9_000, 9_000, 6, 4)  # 81 Mpx: under the pixel limit, 1.2 GB to decode
    _png_header_only(grey, 12_500, 12_500, 0, 1)  # 156 Mpx grey: 1.1 GB
    _png_header_only(large, 6_000, 4_000, 2, 3)  # a 24 MP RGB photo: decoded as ever
    assert rgba.stat().st_size < 2 << 20
    with open(sparse, "wb") as fh:
        fh.write((PHOTOS / "obama.jpg").read_bytes())
        fh.truncate(1 << 30)  # sparse: takes no disk
    headless = tmp_path / "headless.jpg"  # cut before its size is declared: junk all the way
    with open(headless, "wb") as fh:
        fh.write((PHOTOS / "obama.jpg").read_bytes()[:100])
        fh.truncate(1 << 30)
    code = (
        "import sys, time\n"
        "from photoface.decode import decode_image\n"
        "from photoface.errors import ImageError\n"
        "from photoface.pipeline import read_file\n"
        "for path in sys.argv[1:]:\n"
        "    t = time.monotonic()\n"
        "    try:\n"
        "        decode_image(read_file(path), 1600)\n"
        "        print('decoded', path, flush=True)\n"
        "    except ImageError as exc:\n"
        "        print('refused', round(time.monotonic() - t, 2), exc, flush=True)\n"
        # VmHWM: this program's own peak (ru_maxrss would include the test process it was forked from)
        "print('peak_mb', [int(l.split()[1]) // 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n")
    out = subprocess.run([sys.executable, "-c", code, str(rgba), str(grey), str(sparse), str(headless),
                          str(large)],
                         capture_output=True, text=True, timeout=120)
    lines = out.stdout.splitlines()
    assert out.returncode == 0, out.stderr
    assert lines[0].startswith("refused") and "image too large to decode: 9000x9000 (RGBA)" in lines[0], lines
    assert lines[1].startswith("refused") and "12500x12500 (L)" in lines[1], lines
    assert lines[2].startswith("refused") and "far larger than a 910x1137 JPEG can be" in lines[2], lines
    assert lines[3].startswith("refused") and "first 4 MB hold no readable image header" in lines[3], lines
    assert all(float(line.split()[1]) < 5 for line in lines[:4]), lines
    assert lines[4].startswith("decoded"), lines
    assert int(lines[5].split()[1]) < 700, lines  # the 24 MP photo's own decode (about 150 MB), no more


def test_decoding_gives_up_after_its_time_bound():
    """A JPEG cut before its size is declared, then 64 MB of zeros: Pillow skips them a byte
    at a time (about 3 s here, minutes for a larger file). Decoding stops at its bound."""
    import time

    data = (PHOTOS / "obama.jpg").read_bytes()[:100] + bytes(64 << 20)
    t = time.monotonic()
    with pytest.raises(ImageError, match=r"gave up: decoding took more than 0.3 s"):
        decode_image(data, 1600, max_seconds=0.3)
    assert time.monotonic() - t < 2.0
    decoded = decode_image((PHOTOS / "obama.jpg").read_bytes(), 1600, max_seconds=0.3)  # a photo is quick
    assert decoded.rgb.shape[2] == 3
