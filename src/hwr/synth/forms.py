"""The form crops of the Kaggle set: page sizes, printed labels and cut-off neighbouring lines.

The real images are crops of a French school form, in three families (shares from the real
sample): ``form388`` 388 px wide, 14-36 high, one form row with a bold "NOM :"/"PRENOM :" at the
left, a sideways time stamp on the left edge and the rows above/below cut off (~34 %);
``box284`` 284 wide, either 31 high with the name alone or 44-72 high with a "NOM"/"PRENOM"
header and cut-off text (~39 %); ``box324`` 324 x 44, the name alone (~27 %).

Everything is composed on a white 'L' page by pasting ink coverage masks with an ink level,
so handwriting from either renderer and printed text mix the way ink does.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from . import fonts, names, strokes

LAYOUTS = ("form388", "box284", "box324")
LAYOUT_P = np.array([0.34, 0.39, 0.27])

_MONTHS_DAYS = 28

# Geometry measured on the real sample (middle rows, ink < 110): letter height, the letter-box
# pitch of the form (one letter per box; box284 crops are scanned a little smaller) and where
# the name starts. Mean cap height (px), box pitch (px), name-box left edge ranges (px).
CAP = {"form388": 13.0, "box284": 11.3, "box324": 12.8}
PITCH = {"form388": 18.2, "box284": 15.2, "box324": 17.8}
NAME_X388 = (74.0, 88.0)
X284, X284H, X324 = (14.0, 24.0), (24.0, 34.0), (5.0, 11.0)
# Pen pressure (pen_pressure): the mean of the field per writer, its spread, its smoothness (px);
# chosen with experiments/scan_statistics.py against the real unlabelled scans' ink tones.
PRESSURE_MEAN, PRESSURE_SD, PRESSURE_BLUR = (0.8, 1.0), 0.15, 1.5


class Hand:
    """One person's handwriting on the form (the same writer fills every field)."""

    def __init__(self, rng: np.random.Generator, style: str, cap_px: float, pitch_px: float | None = None):
        self.style = style if (style != "ttf" or fonts.available()) else "hershey"
        self.writer = strokes.random_writer(rng, cap_px, pitch_px)
        self.level = int(np.clip(rng.normal(8, 14), 0, 60))  # ink grey level, 0 = black (scans are contrasty)
        self.font = ""

    def ink(self, rng, text: str, max_w: float, max_h: float | None = None, main: bool = False):
        """(coverage image, x, y of the baseline start inside it)."""
        if main and self.style == "ttf":
            img, ox, oy, self.font = fonts.render(rng, text, self.writer.cap_px, max_w, self.writer.lower,
                                                  self.writer.pitch)
            return img, ox, oy
        path = strokes.fit(strokes.layout(rng, text, self.writer), max_w, max_h)
        return strokes.draw(path)

    def write(self, page: Image.Image, rng, text: str, x: float, y: float, max_w: float,
              max_h: float | None = None, main: bool = False) -> None:
        img, ox, oy = self.ink(rng, text, max_w, max_h, main)
        box = img.getbbox()
        if box is None:
            return
        if box != (0, 0, img.width, img.height):  # trim empty margins so clamping is exact
            img, ox, oy = img.crop(box), ox - box[0], oy - box[1]
        img = pen_pressure(rng, img)
        left, top = int(round(x - ox)), int(round(y - oy))
        if main:  # the labelled name itself is never cut off by the crop
            left = max(0, min(left, page.width - img.width))
            top = max(0, min(top, page.height - img.height))
        page.paste(self.level, (left, top), mask=img)

    def fragment(self, page: Image.Image, rng, base: float, cap: float, x: float) -> None:
        """A cut-off piece of a neighbouring line above or below the name (tops or bottoms only)."""
        H = page.height
        nb = self.writer.cap_px
        # never more than ~half of the neighbour shows: it must not read as a second name
        if rng.random() < 0.5:
            lo, hi = 1.0, min(base - cap - 4, 0.45 * nb)  # its baseline above the name's top
        else:
            lo, hi = max(base + nb + 4, H + 0.65 * nb), H + nb - 2  # its top below the baseline
        if hi > lo:
            self.write(page, rng, names.draw_name(rng)[1], x, rng.uniform(lo, hi), page.width - x - 4)


def pen_pressure(rng: np.random.Generator, coverage: Image.Image) -> Image.Image:
    """Ink laid down unevenly, as a ballpoint does: the coverage mask times a smooth random field.

    Real scans' handwriting is mid-grey with a few black pixels (the median ink pixel of a real crop
    is grey ~48, a quarter of its ink pixels near black); a solid stroke would scan black through.
    """
    # Pillow blurs 8-bit images: the noise goes in at 40 grey levels per sd, +-3 sd fits
    noise = rng.normal(0.0, 1.0, (coverage.height, coverage.width)).astype(np.float32)
    smooth = np.asarray(Image.fromarray(np.clip(noise * 40.0 + 128.0, 0, 255).astype(np.uint8))
                        .filter(ImageFilter.GaussianBlur(PRESSURE_BLUR)), np.float32) - 128.0
    smooth /= max(float(smooth.std()), 1e-3)
    field = np.clip(rng.uniform(*PRESSURE_MEAN) + PRESSURE_SD * smooth, 0.3, 1.0)
    return Image.fromarray((np.asarray(coverage, np.float32) * field + 0.5).astype(np.uint8), "L")


def _printed(page: Image.Image, text: str, x: float, y: float, size: int, bold: bool, level: int) -> float:
    """Printed form text with its baseline at y; returns the x where it ends."""
    font = fonts.printed(size, bold)
    ImageDraw.Draw(page).text((x, y), text, font=font, fill=level, anchor="ls")
    return x + font.getlength(text)


def _digits(rng, n: int) -> str:
    return "".join(str(int(d)) for d in rng.integers(0, 10, n))


def _date(rng) -> str:
    d, m, y = int(rng.integers(1, _MONTHS_DAYS + 1)), int(rng.integers(1, 13)), int(rng.integers(1998, 2014))
    sep = " / " if rng.random() < 0.6 else " "
    return f"{d:02d}{sep}{m:02d}{sep}{y}"


def _timestamp(page: Image.Image, rng, level: int) -> None:
    """The scanner's time stamp printed sideways along the left edge, partly cut off."""
    h, m, sec = int(rng.integers(7, 19)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
    text = f"{h:02d}:{m:02d}:{sec:02d}"
    font = fonts.printed(int(rng.integers(10, 13)), True)
    w = int(font.getlength(text)) + 2
    tile = Image.new("L", (w, 14), 0)
    ImageDraw.Draw(tile).text((1, 11), text, font=font, fill=255, anchor="ls")
    tile = tile.transpose(Image.Transpose.ROTATE_90)
    y = int(rng.integers(-w // 2, max(1, page.height - w // 3)))
    page.paste(level, (int(rng.integers(-7, 1)), y), mask=tile)


def _frame_line(page: Image.Image, rng, level: int, right: bool = False) -> None:
    """The form's box border at the left (or right) edge of the crop."""
    x = int(rng.integers(0, 4))
    if right:
        x = page.width - 1 - x
    ImageDraw.Draw(page).line([(x, 0), (x, page.height)], fill=level, width=1)


def _form_row(page, rng, hand: Hand, row: str, y: float, name_x: float, lbl_x: float, lvl: int):
    """A neighbouring form row (drawn even when it falls mostly outside the crop)."""
    if y < -20 or y > page.height + 20:
        return
    if row == "CODE":
        end = _printed(page, "CODE RNE / UAI :", lbl_x, y, 14, True, lvl)
        code = _digits(rng, 7) + "ABCDEFGHJKLMNPRSTUVWXYZ"[int(rng.integers(23))]
        hand.write(page, rng, code, end + rng.uniform(4, 12), y, page.width - end - 10)
    elif row in ("NOM", "PRENOM"):
        _printed(page, f"{row} :", lbl_x, y, 14, True, lvl)
        _, shown, _ = names.draw_name(rng, row)
        hand.write(page, rng, shown, name_x, y, page.width - name_x - 4)
    else:  # date of birth + class
        end = _printed(page, "NÉ(E) LE :", lbl_x, y, 14, True, lvl)
        hand.write(page, rng, _date(rng), max(end + 10, name_x - 20), y, 150)
        cx = float(rng.uniform(255, 290))
        end = _printed(page, "CLASSE :", cx, y, 14, True, lvl)
        hand.write(page, rng, str(int(rng.integers(3, 7))), end + 8, y, 20)
        _printed(page, "ème", end + 17, y - 7, 9, True, lvl)


def compose(rng: np.random.Generator, style: str) -> tuple[Image.Image, str, str, str]:
    """One clean page ('L', white background): (page, label, layout name, style used)."""
    layout = LAYOUTS[int(rng.choice(3, p=LAYOUT_P))]
    field, shown, label = names.draw_name(rng)
    lvl = int(rng.integers(0, 40))  # printed text darkness

    if layout == "form388":
        H = 36 if rng.random() < 0.42 else int(rng.integers(18, 36)) if rng.random() < 0.93 else int(rng.integers(14, 18))
        cap = float(np.clip(rng.normal(CAP["form388"], 1.4), 9.5, max(10.0, H - 3.0)))
        hand = Hand(rng, style, cap, PITCH["form388"])
        page = Image.new("L", (388, H), 255)
        base = H / 2 + cap / 2 + rng.uniform(-3, 3)
        base = float(np.clip(base, cap + 1, H - 2))
        lbl_x = float(rng.uniform(3, 12))
        end = _printed(page, f"{field} :", lbl_x, base + rng.uniform(-1, 2), 14, True, lvl)
        name_x = max(end + rng.uniform(6, 14), rng.uniform(NAME_X388[0], NAME_X388[1]))
        # the crops are tight: only the bottom of the row above / top of the row below shows
        above, below = ("CODE", "PRENOM") if field == "NOM" else ("NOM", "DATE")
        # and never so much of a neighbour's handwriting that it reads as a second name
        nb = hand.writer.cap_px
        _form_row(page, rng, hand, above, min(base - rng.uniform(21, 28), 0.6 * nb), name_x, lbl_x, lvl)
        _form_row(page, rng, hand, below, max(base + rng.uniform(20, 26), H + 0.4 * nb), name_x, lbl_x, lvl)
        hand.write(page, rng, shown, name_x, base, 388 - name_x - 4, H + 2, main=True)
        if rng.random() < 0.5:
            _timestamp(page, rng, lvl)
        if rng.random() < 0.25:
            _frame_line(page, rng, lvl)
        if rng.random() < 0.07:  # ~6 % of the real 388 crops end on the form's right border
            _frame_line(page, rng, lvl, right=True)
    elif layout == "box284":
        u = rng.random()
        if u < 0.57:  # name only, 31 px high
            H = 31
            cap = float(np.clip(rng.normal(CAP["box284"], 1.2), 9, 16))
            hand = Hand(rng, style, cap, PITCH["box284"])
            page = Image.new("L", (284, H), 255)
            base = float(np.clip(H - rng.uniform(5, 10), cap + 1, H - 2))
            x = rng.uniform(*X284)
            if rng.random() < 0.25:  # a bit of the row above / below
                hand.fragment(page, rng, base, cap, rng.uniform(3, 40))
            hand.write(page, rng, shown, x, base, 284 - x - 4, H - 2, main=True)
        else:  # header above the name, cut-off lines around it
            header = field
            short = rng.random() < (0.8 if header == "NOM" else 0.2)
            H = int(rng.integers(44, 52)) if short else int(rng.integers(60, 73))
            cap = float(np.clip(rng.normal(CAP["box284"], 1.2), 9, 16))
            hand = Hand(rng, style, cap, PITCH["box284"])
            page = Image.new("L", (284, H), 255)
            hx = rng.uniform(30, 55)
            if header == "NOM":
                hb = rng.uniform(15, 20)
                hand.write(page, rng, _digits(rng, int(rng.integers(5, 9))), hx, hb - rng.uniform(14, 19), 220)
            else:
                hb = rng.uniform(11, 19)
            _printed(page, header, hx, hb, 14, False, lvl)
            # tall crops: the name sits low in its box, the next box's labels are cut at the bottom
            if H >= 58:
                base = min(hb + rng.uniform(31, 38), H - 13)
            else:
                base = min(hb + rng.uniform(20, 27), H - 4)
            below = base + rng.uniform(15, 22)
            if header == "PRENOM":  # the next box of the form, cut off at the bottom
                _printed(page, "DATE DE NAISSANCE", hx - 5, below, 14, False, lvl)
                _printed(page, "CLASSE", hx + rng.uniform(150, 175), below, 14, False, lvl)
            elif H >= 58:
                _printed(page, "PRENOM", hx, below + rng.uniform(0, 6), 14, False, lvl)
            x = rng.uniform(*X284H)  # the name box starts left of its header
            hand.write(page, rng, shown, x, base, 284 - x - 4, H - 2, main=True)
    else:  # box324: name only
        H = 44
        cap = float(np.clip(rng.normal(CAP["box324"], 1.4), 10, 18))
        hand = Hand(rng, style, cap, PITCH["box324"])
        page = Image.new("L", (324, H), 255)
        base = float(np.clip(rng.uniform(24, 36), cap + 2, H - 3))
        x = rng.uniform(*X324)
        if rng.random() < 0.15:
            hand.fragment(page, rng, base, cap, rng.uniform(3, 40))
        hand.write(page, rng, shown, x, base, 324 - x - 4, H - 2, main=True)
    return page, label, layout, hand.style
