"""hwr.synth.preview: the contact sheet."""

from PIL import Image

from hwr.synth import render_preview


def test_preview_png(tmp_path):
    path = tmp_path / "sheet" / "preview.png"
    render_preview(path, n=6, seed=2, columns=3)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 3 * 284 and im.height > 2 * 31
