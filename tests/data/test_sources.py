import io

from _support import jpeg_bytes, png_header

from hwr.data import sources


def test_find_images_in_order_with_skips(tmp_path, monkeypatch):
    (tmp_path / "b").mkdir()
    for name in ("b/2.png", "b/1.jpg", "a.JPEG", "b/notes.md", "b/.hidden.jpg"):
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    found = sources.find_images(["b", "a.*", "none.jpg", "z*", "-"], stdin=io.StringIO("a.JPEG\n\nb[1].jpg\n"))
    assert found.paths == ["b/1.jpg", "b/2.png", "a.JPEG", "a.JPEG"]
    assert [(s.path, s.reason) for s in found.skips] == [("none.jpg", "not found"), ("z*", "no match"),
                                                         ("b[1].jpg", "not found")]  # stdin lines are names, not globs
    assert found.ignored == 2


def test_load_image_reasons(tmp_path, monkeypatch):
    good = tmp_path / "good.png"
    good.write_bytes(jpeg_bytes(fmt="PNG"))
    assert sources.load_image(str(good), "fit").shape == (64, 256)
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert sources.load_image(str(tmp_path / "empty.jpg"), "crop").reason == "empty file"
    assert sources.load_image(str(tmp_path), "crop").reason == "unreadable"  # a folder named as a file
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 100)
    big = sources.load_image(str(good), "crop")
    assert big.reason == "too large" and big.message().startswith(f"skipped {good}: too large (")


def test_summary_counts_by_reason():
    skips = [sources.Skip("a", "empty file"), sources.Skip("b", "not an image"), sources.Skip("c", "not an image")]
    assert sources.summary(1, skips, 0) == "read 1 image; skipped 3: 2 not an image, 1 empty file"
    assert sources.summary(5, [], 1) == "read 5 images; ignored 1 other file in folders (not named like images)"


def test_an_image_with_too_many_pixels_is_named_so_not_not_an_image(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(png_header(40000, 40000))  # declared only
    skip = sources.load_image(str(path), "crop")
    assert isinstance(skip, sources.Skip) and skip.reason == "too many pixels"
    assert "1,600,000,000 pixels, over the 16,000,000-pixel limit" in skip.message()
