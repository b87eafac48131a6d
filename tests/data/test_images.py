import io
import zipfile

import numpy as np
import pytest
from _support import jpeg_bytes, png_header
from PIL import Image

from hwr.data import images
from hwr.data.images import HEIGHT, WIDTH, DamagedImage, TooManyPixels, UndecodableImage, to_model_input


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
        patch.setattr(images, "_decode_jpeg_fast", lambda *args: None)
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


def test_jpeg_with_a_recoverable_flaw_is_damaged_unless_kept(monkeypatch):
    """Stray bytes before a marker: libjpeg reports corrupt data, so the image is refused as damaged;
    kept on request, Pillow decodes it as it always did."""
    data = jpeg_bytes(324, 36, seed=5)
    sos = data.index(b"\xff\xda")
    flawed = data[:sos] + b"\x00\x00\x00" + data[sos:]
    with pytest.raises(DamagedImage, match="extraneous bytes"):
        to_model_input(flawed)
    assert images._decode_jpeg_fast(flawed, "crop", images.DEFAULT_MAX_PIXELS, True) is None
    np.testing.assert_array_equal(to_model_input(flawed, keep_damaged=True), pillow_only(monkeypatch, flawed, "crop"))


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


def zeroed_scan(data: bytes, start: int = 40, length: int = 200) -> bytes:
    """``data`` with ``length`` bytes of its entropy-coded scan overwritten by zeros (a damaged disk
    block, a bad transfer): every marker stays in place, so the file still parses."""
    sos = data.index(b"\xff\xda")
    return data[: sos + start] + b"\x00" * length + data[sos + start + length :]


@pytest.mark.parametrize("resize,size", [("crop", (324, 36)), ("fit", (324, 36)), ("fit", (1100, 300))])
def test_corrupt_scan_data_is_damaged(resize, size):
    """Pillow decodes a JPEG with corrupt scan data without a word (the lost part turns grey);
    libjpeg reports it, so it is refused as damaged, in either decoder's path (fit mode decodes large
    images with Pillow's draft mode: they are checked too)."""
    data = zeroed_scan(jpeg_bytes(*size, seed=9), length=min(200, len(jpeg_bytes(*size, seed=9)) // 4))
    Image.open(io.BytesIO(data)).load()  # Pillow alone: no complaint
    with pytest.raises(DamagedImage) as info:
        to_model_input(data, resize)
    assert info.value.reason == "damaged" and "libjpeg" in str(info.value) and "Corrupt JPEG data" in str(info.value)
    assert isinstance(info.value, UndecodableImage)  # callers that skip undecodable images skip these too
    check_shape(to_model_input(data, resize, keep_damaged=True))


def test_truncated_jpeg_is_damaged_and_kept_only_if_pillow_reads_it():
    data = jpeg_bytes(324, 36, seed=2)
    with pytest.raises(DamagedImage, match="Premature end"):
        to_model_input(data[: len(data) // 2])
    with pytest.raises(UndecodableImage, match="truncated"):  # Pillow refuses a truncated file
        to_model_input(data[: len(data) // 2], keep_damaged=True)


def forged_jpeg(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims width x height: decoding it would allocate for that."""
    data = bytearray(jpeg_bytes(16, 16, seed=1))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def refuse_decoding(monkeypatch):
    """Any pixel decoding fails the test: the limit must be applied from the header alone."""
    def no(*args, **kwargs):
        raise AssertionError("decoded an image over the pixel limit")

    monkeypatch.setattr(images.simplejpeg, "decode_jpeg", no)
    monkeypatch.setattr(Image.Image, "load", no)


@pytest.mark.parametrize("resize", ["crop", "fit"])
def test_pixel_limit_is_applied_from_the_header_by_every_decoder(monkeypatch, resize):
    jpeg = jpeg_bytes(324, 36, seed=1)  # 11,664 pixels
    gray_png = png(gradient(36, 324))
    assert to_model_input(jpeg, resize, max_pixels=324 * 36).shape == (HEIGHT, WIDTH)  # at the limit: kept
    refuse_decoding(monkeypatch)
    for data in (jpeg, gray_png):  # simplejpeg's path, Pillow's path
        with pytest.raises(TooManyPixels) as info:
            to_model_input(data, resize, max_pixels=324 * 36 - 1)
        assert info.value.reason == "too_many_pixels"
        assert "324 x 36 = 11,664 pixels, over the 11,663-pixel limit" in str(info.value)


@pytest.mark.parametrize("data", [forged_jpeg(40000, 40000), png_header(40000, 40000), png_header(20000, 1000, 16)],
                         ids=["jpeg-40000x40000", "png-40000x40000", "png16-20000x1000"])
def test_huge_images_are_refused_before_decoding_at_the_default_limit(monkeypatch, data):
    """The default limit holds for what Pillow would refuse itself (40000 x 40000) and for what it
    would decode (20 megapixels, under its own limit): neither is decoded."""
    refuse_decoding(monkeypatch)
    with pytest.raises(TooManyPixels) as info:
        to_model_input(data)
    assert "pixel" in str(info.value) and "BytesIO" not in str(info.value)


def test_16_bit_images_are_scaled_not_clipped():
    """A 16-bit grayscale PNG is scaled to 8 bits: the same picture in 16 bits gives the 8-bit
    copy's pixels (Pillow's conversion clips every value over 255 to white: the ink is lost)."""
    eight = gradient(40, 300)
    eight[10:30, 20:280] = 15  # dark ink
    wide = eight.astype(np.uint16) * 257  # 0..255 -> 0..65535
    buf = io.BytesIO()
    Image.fromarray(wide).save(buf, format="PNG")
    assert Image.open(io.BytesIO(buf.getvalue())).mode.startswith("I;16")
    for resize in ("crop", "fit"):
        np.testing.assert_array_equal(to_model_input(buf.getvalue(), resize), to_model_input(png(eight), resize))
    assert to_model_input(buf.getvalue())[20, 100] == 15  # the ink is still dark


def _saved(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_a_transparent_background_is_white_paper(mode):
    """Ink drawn on a transparent PNG reads as ink on white, not on black (the pixels under the
    transparency are black, as most drawing programs leave them)."""
    ink = np.zeros((40, 300), np.uint8)
    ink[10:30, 20:280] = 255  # where the ink is: opaque
    alpha = Image.fromarray(ink)
    gray = Image.fromarray(np.full((40, 300), 15, np.uint8))  # dark everywhere; only the ink is opaque
    image = Image.merge(mode, (gray, gray, gray, alpha) if mode == "RGBA" else (gray, alpha))
    read = to_model_input(_saved(image, "PNG"))
    assert read[20, 100] == 15 and read[2, 100] == 255 and read[35, 250] == 255


@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_a_float_tiff_is_scaled_from_its_own_range(scale):
    """A float TIFF of 0-1 (or 0-255) values reads as the 8-bit picture, not as solid black."""
    eight = gradient(40, 300)
    eight[10:30, 20:280] = 15
    image = Image.fromarray((eight / 255.0 * scale).astype(np.float32), mode="F")
    np.testing.assert_array_equal(to_model_input(_saved(image, "TIFF")), to_model_input(png(eight)))


@pytest.mark.parametrize("data", [b"not an image", b"", b"\x89PNG\r\n\x1a\n broken", jpeg_bytes()[:200]])
def test_messages_name_the_problem_not_a_python_object(data):
    with pytest.raises(UndecodableImage) as info:
        to_model_input(data)
    message = str(info.value)
    assert message and "BytesIO" not in message and " at 0x" not in message and "\n" not in message


def test_a_wider_crop_keeps_more_of_the_name_and_begins_with_the_studys():
    src = gradient(36, 388)  # the widest real scans
    wide = to_model_input(png(src), "crop", width=384)
    assert wide.shape == (HEIGHT, 384)
    np.testing.assert_array_equal(wide[:36], src[:, :384])
    np.testing.assert_array_equal(wide[:, :WIDTH], to_model_input(png(src), "crop"))


@pytest.mark.parametrize("size", [(36, 388), (100, 200), (128, 100)])
def test_a_wider_fit_is_the_studys_fit_padded_white(size):
    """fit scales into 64 x 256 at any width, so the study's models read the left 256 columns of a
    wider store and see exactly their own input."""
    src = gradient(*size)
    wide = to_model_input(png(src), "fit", width=320)
    np.testing.assert_array_equal(wide[:, :WIDTH], to_model_input(png(src), "fit"))
    assert (wide[:, WIDTH:] == 255).all()


@pytest.mark.parametrize("width", [255, 1025, 300.0, True, "384"])
def test_widths_outside_what_hwr_prepares_are_refused(width):
    with pytest.raises(ValueError, match="input width"):
        to_model_input(png(gradient(36, 300)), "crop", width=width)
