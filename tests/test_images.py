import io
import zipfile

import numpy as np
import pytest
from _support import jpeg_bytes
from PIL import Image

from hwr import images
from hwr.images import HEIGHT, WIDTH, UndecodableImage, to_model_input


def png(array: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array.astype(np.uint8), mode).save(buf, format="PNG")
    return buf.getvalue()


def gradient(height: int, width: int) -> np.ndarray:
    """Distinct, never-white pixels, so a crop or a padding shows exactly."""
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 7 + y * 13) % 200).astype(np.uint8)


def check_shape(out):
    assert out.shape == (HEIGHT, WIDTH) == (64, 256) and out.dtype == np.uint8


def test_crop_keeps_the_top_left_window():
    src = gradient(100, 400)
    out = to_model_input(png(src), "crop")
    check_shape(out)
    np.testing.assert_array_equal(out, src[:64, :256])


def test_crop_pads_small_images_white():
    src = gradient(30, 100)
    out = to_model_input(png(src), "crop")
    check_shape(out)
    np.testing.assert_array_equal(out[:30, :100], src)
    assert (out[30:, :] == 255).all() and (out[:, 100:] == 255).all()


def test_crop_of_wide_short_scan_pads_below_and_cuts_the_right():
    src = gradient(36, 324)  # the median real scan
    out = to_model_input(png(src), "crop")
    np.testing.assert_array_equal(out[:36], src[:, :256])
    assert (out[36:] == 255).all()


def test_fit_keeps_aspect_and_the_whole_width():
    src = np.full((64, 512), 255, np.uint8)
    src[:, -16:] = 0  # ink at the right end: crop cuts it off, fit keeps it
    src[:, :16] = 0
    fit = to_model_input(png(src), "fit")
    crop = to_model_input(png(src), "crop")
    check_shape(fit)
    assert (crop[:, 200:] == 255).all()  # crop lost the right edge
    assert fit[:32, -4:].max() < 60 and fit[:32, :4].max() < 60  # fit: scaled to 256 x 32, both ends inked
    assert (fit[33:] == 255).all()  # white below the scaled image
    assert (fit[:30, 20:230] > 200).all()  # the white middle stays white


def test_fit_scales_by_height_when_tall():
    src = np.zeros((128, 100), np.uint8)
    fit = to_model_input(png(src), "fit")
    assert (fit[:, :50] < 30).all()  # 128 x 100 -> 64 x 50
    assert (fit[:, 51:] == 255).all()


def test_fit_never_upscales():
    src = gradient(30, 100)
    np.testing.assert_array_equal(to_model_input(png(src), "fit"), to_model_input(png(src), "crop"))


def test_colour_jpeg_becomes_gray():
    data = jpeg_bytes(324, 36, seed=3)
    for mode in ("crop", "fit"):
        out = to_model_input(data, mode)
        check_shape(out)
    out = to_model_input(data, "crop")
    reference = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    assert np.abs(out[:36, :256].astype(int) - reference[:, :256]).max() <= 3  # JPEG luma vs PIL's conversion
    assert (out[36:] == 255).all()
    assert out.min() < 100  # the ink is there


def test_rgba_and_palette_images():
    rgb = np.stack([gradient(20, 40)] * 3, axis=-1)
    out = to_model_input(png(rgb, "RGB"), "crop")
    np.testing.assert_array_equal(out[:20, :40], gradient(20, 40))
    pal = Image.fromarray(gradient(20, 40)).convert("P")
    buf = io.BytesIO()
    pal.save(buf, format="PNG")
    check_shape(to_model_input(buf.getvalue(), "crop"))


@pytest.mark.parametrize("data", [b"", b"not an image", jpeg_bytes()[:200], b"\xff\xd8\xff\xe0" + b"\0" * 64])
def test_undecodable(data):
    with pytest.raises(UndecodableImage):
        to_model_input(data)


def test_unknown_mode():
    with pytest.raises(ValueError, match="resize"):
        to_model_input(jpeg_bytes(), "stretch")


def pillow_only(monkeypatch, data: bytes, resize: str) -> np.ndarray:
    with monkeypatch.context() as patch:
        patch.setattr(images, "_decode_jpeg_fast", lambda data, resize: None)
        return to_model_input(data, resize)


@pytest.mark.parametrize("resize", ["crop", "fit"])
@pytest.mark.parametrize("size", [(324, 36), (300, 70), (200, 100), (511, 127), (700, 150), (1100, 300), (40, 20)])
@pytest.mark.parametrize("fmt", ["colour", "gray"])
def test_fast_jpeg_decoding_gives_pillows_pixels(monkeypatch, size, resize, fmt):
    """simplejpeg decodes JPEGs where it gives Pillow's exact pixels; Pillow keeps the images its draft
    mode shrinks by DCT scaling (fit mode, twice the target size or more)."""
    data = jpeg_bytes(*size, seed=sum(size))
    if fmt == "gray":
        buf = io.BytesIO()
        Image.open(io.BytesIO(data)).convert("L").save(buf, format="JPEG")
        data = buf.getvalue()
    # fit mode asks draft mode for the scaled size; at twice that or more it decodes at 1/2 or 1/4
    scaled_by_draft = resize == "fit" and size in [(700, 150), (1100, 300)]
    assert (images._decode_jpeg_fast(data, resize) is None) == scaled_by_draft
    np.testing.assert_array_equal(to_model_input(data, resize), pillow_only(monkeypatch, data, resize))


def test_jpeg_with_a_recoverable_flaw_is_left_to_pillow(monkeypatch):
    """Stray bytes before a marker: libjpeg warns, simplejpeg (strict) refuses, Pillow decodes it."""
    data = jpeg_bytes(324, 36, seed=5)
    sos = data.index(b"\xff\xda")
    flawed = data[:sos] + b"\x00\x00\x00" + data[sos:]
    assert images._decode_jpeg_fast(flawed, "crop") is None
    np.testing.assert_array_equal(to_model_input(flawed), pillow_only(monkeypatch, flawed, "crop"))


def test_real_scans_decode_to_pillows_pixels(monkeypatch, real_sample):
    with zipfile.ZipFile(real_sample / "validation_v2.zip") as zf:
        names = [n for n in zf.namelist() if n.lower().endswith(".jpg")][:150]
        blobs = [zf.read(n) for n in names]
    assert len(blobs) == 150
    for resize in ("crop", "fit"):
        fast = [to_model_input(b, resize) for b in blobs]
        assert all(images._decode_jpeg_fast(b, resize) is not None for b in blobs)
        for name, got, data in zip(names, fast, blobs):
            np.testing.assert_array_equal(got, pillow_only(monkeypatch, data, resize), err_msg=name)
