"""Pen-stroke handwriting from the Hershey single-stroke fonts.

Why Hershey: its glyphs are centre lines, like a ball-point pen trace, which is what the scanned
forms show (thin 1.5-2 px strokes of block capitals). Each glyph is densified once per process
(so noise can bend straight lines), then every image applies, all vectorised over the points of
the whole name:

* a per-writer smooth shape distortion (the same letters look alike within a name),
* per-letter size, rotation and baseline jitter, a baseline wave, slant and rotation,
* per-stroke smooth wobble and drifting stroke ends (over/under-shoot), per-point jitter.

Strokes are drawn with PIL at ``SS`` times the target resolution and box-downsampled, which
gives the anti-aliased edge of a scan at a fraction of the cost of drawing anti-aliased lines.
Coordinates are in Hershey units: cap line at y=-12, baseline at y=9 (cap height 21 units).
"""

from __future__ import annotations

import functools
import math
import unicodedata
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

SS = 3  # supersampling factor of the stroke canvas
CAP_UNITS = 21.0
INK_GAIN = [min(255, int(v * 1.35)) for v in range(256)]  # coverage -> ink density LUT
BOXED_P = 0.85  # share of writers who write one letter per box of the form
_STEP = 1.6  # densify segments to at most this many units so wobble can bend them


@dataclass(frozen=True)
class Glyph:
    pts: np.ndarray  # (M, 2) float64, glyph-local, x relative to the glyph's left side
    sid: np.ndarray  # (M,) local stroke index
    t: np.ndarray  # (M,) position along its stroke, 0..1
    s: np.ndarray  # (M,) arc length from the stroke start, units
    starts: tuple[int, ...]  # index of each stroke's first point
    width: float  # advance width, units


def _densify(stroke) -> np.ndarray:
    p = np.asarray(stroke, dtype=np.float64)
    if len(p) < 2:
        return np.vstack([p, p + [0.3, 0.3]])
    out = [p[:1]]
    for a, b in zip(p[:-1], p[1:]):
        n = max(1, math.ceil(float(np.hypot(*(b - a))) / _STEP))
        f = np.arange(1, n + 1, dtype=np.float64)[:, None] / n
        out.append(a + (b - a) * f)
    return np.vstack(out)


def _make_glyph(strokes, left: float, right: float) -> Glyph:
    pts, sid, ts, ss, starts = [], [], [], [], []
    n = 0
    for k, stroke in enumerate(strokes):
        d = _densify(stroke)
        seg = np.hypot(*np.diff(d, axis=0).T)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        starts.append(n)
        n += len(d)
        pts.append(d - [left, 0.0])
        sid.append(np.full(len(d), k))
        ss.append(s)
        ts.append(s / max(s[-1], 1e-6))
    if not pts:  # space
        empty = np.zeros((0, 2))
        return Glyph(empty, np.zeros(0, int), np.zeros(0), np.zeros(0), (), float(right - left))
    return Glyph(np.vstack(pts), np.concatenate(sid), np.concatenate(ts), np.concatenate(ss),
                 tuple(starts), float(right - left))


def _arc(cx, cy, rx, ry, a0, a1, n=10):
    a = np.radians(np.linspace(a0, a1, n))
    return list(zip(cx + rx * np.cos(a), cy + ry * np.sin(a)))


# Letter variants people actually write on these forms (strokes in Hershey units; y down).
_EXTRA = {
    "I_serif": ([[(0, -12), (0, 9)], [(-4, -12), (4, -12)], [(-4, 9), (4, 9)]], -6, 6),
    # a handwritten capital I written as a tall dotted i; the dot is a tiny stroke
    "I_dot": ([[(0, -6.5), (0, 9)], [(0, -11.8), (0.35, -11.3)]], -4, 4),
    "I_dotlow": ([[(0, -3), (0, 9)], [(0, -8.5), (0.35, -8.0)]], -4, 4),
    "J_bar": ([[(3, -12), (3, 4), (2, 7), (1, 8), (-1, 9), (-3, 9), (-5, 8), (-6, 6)], [(-3, -12), (8, -12)]], -8, 9),
    "E_round": ([_arc(1.5, -6.5, 6, 5.5, -40, -270, 12) + _arc(1.5, 3.5, 6.5, 5.5, -90, -320, 12)[1:]], -8, 9),
    "M_slant": ([[(-9, 9), (-6, -12), (0, 4), (6, -12), (9, 9)]], -11, 11),
    "A_round": ([[(-7, 9), (-6, -5), (-4, -10), (0, -12), (4, -10), (6, -5), (7, 9)], [(-6, 1), (6, 1)]], -9, 9),
    "Y_one": ([[(-7, -12), (-3, -4), (0, -2), (3, -4), (7, -12)], [(7, -12), (-1, 9)]], -9, 9),
}
# variant -> (probability a writer uses it for that letter)
VARIANTS = {
    "I": (("I", 0.35), ("I_serif", 0.2), ("I_dot", 0.4), ("I_dotlow", 0.05)),
    "J": (("J", 0.6), ("J_bar", 0.4)),
    "E": (("E", 0.85), ("E_round", 0.15)),
    "M": (("M", 0.7), ("M_slant", 0.3)),
    "A": (("A", 0.85), ("A_round", 0.15)),
    "Y": (("Y", 0.8), ("Y_one", 0.2)),
}
LOWER_CANDIDATES = "AEINRHDBMTGQL"

# Accent strokes, relative to the top centre of the base glyph (y grows downwards).
_ACCENTS = {
    "\u0301": [[(-1.5, -2.5), (2.0, -6.5)]],  # acute
    "\u0300": [[(-2.0, -6.5), (1.5, -2.5)]],  # grave
    "\u0302": [[(-3.5, -2.5), (0.0, -6.0), (3.5, -2.5)]],  # circumflex
    "\u0308": [[(-3.0, -4.0), (-2.7, -3.6)], [(3.0, -4.0), (3.3, -3.6)]],  # diaeresis
    "\u0303": [[(-3.5, -3.5), (-1.5, -5.5), (1.5, -3.5), (3.5, -5.5)]],  # tilde
    "\u030a": [_arc(0, -4.5, 1.8, 1.8, 0, 360, 9)],  # ring
}
_CEDILLA = [[(0.0, 0.0), (0.5, 2.0), (2.0, 3.0), (0.5, 5.5), (-1.5, 5.0)]]  # below the baseline


@functools.lru_cache(maxsize=None)
def _font(name: str = "futural"):
    from HersheyFonts import HersheyFonts

    h = HersheyFonts()
    h.load_default_font(name)
    return h.all_glyphs


@functools.lru_cache(maxsize=None)
def glyph(key: str, marks: str = "", font: str = "futural") -> Glyph:
    """The densified glyph for a variant key ('A', 'I_dot', 'e', ...) with combining marks."""
    if key in _EXTRA:
        strokes, left, right = _EXTRA[key]
        strokes = [list(s) for s in strokes]
    else:
        g = _font(font).get(key) or _font(font)["?"]
        strokes = [list(s) for s in g.strokes]
        left, right = g.left_offset, g.left_offset + g.char_width
    if marks:
        xs = [p[0] for s in strokes for p in s] or [0.0]
        ys = [p[1] for s in strokes for p in s] or [-12.0]
        cx, top = (min(xs) + max(xs)) / 2.0, min(ys)
        for m in marks:
            if m == "\u0327":
                strokes += [[(cx + x, 9 + y) for x, y in s] for s in _CEDILLA]
            elif m in _ACCENTS:
                strokes += [[(cx + x, top + y) for x, y in s] for s in _ACCENTS[m]]
    return _make_glyph(strokes, left, right)


@dataclass
class Writer:
    """Everything that stays the same within one person's writing."""

    cap_px: float = 13.0
    xscale: float = 0.9  # glyph width relative to a plain Hershey glyph
    tracking: float = 6.0  # extra space between letters, units
    word_gap: float = 16.0  # extra space for a blank, units
    slant: float = 0.05  # shear: x += slant * (-y)
    rotation: float = 0.0  # degrees
    pen_px: float = 1.7
    size_sd: float = 0.05
    rot_sd: float = 2.0  # per-letter degrees
    base_sd: float = 0.6  # per-letter baseline jitter, units
    track_sd: float = 1.5
    jitter: float = 0.2  # per-point, units
    wobble: float = 0.5  # per-stroke smooth wobble amplitude, units
    drift: float = 0.9  # stroke-end drift, units
    wave_amp: float = 0.8  # baseline wave, units
    wave_len: float = 120.0
    wave_phase: float = 0.0
    shape: np.ndarray = field(default_factory=lambda: np.zeros((3, 4)))  # distortion field
    variants: dict = field(default_factory=dict)
    lower: str = ""
    accents: bool = True
    font: str = "futural"
    # the forms have one box per letter: most writers put one letter per box, so the letter
    # pitch is the box pitch (px), not glyph width + tracking; 0 = free spacing
    pitch: float = 0.0


def random_writer(rng: np.random.Generator, cap_px: float | None = None, pitch_px: float | None = None) -> Writer:
    """A random writer; with ``pitch_px`` (the form's letter-box pitch) most writers keep to the boxes."""
    variants = {}
    for letter, opts in VARIANTS.items():
        p = np.array([o[1] for o in opts])
        variants[letter] = opts[int(rng.choice(len(opts), p=p / p.sum()))][0]
    u = rng.random()
    lower = ""
    font = "futural"
    if u < 0.05:  # ~5 %: a few letters always in lower case
        lower = "".join(c for c in LOWER_CANDIDATES if rng.random() < 0.45)
    elif u < 0.075:  # ~2.5 %: whole name in lower case, sometimes joined-up script
        lower = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        if rng.random() < 0.3:
            font = "scripts"
    # shape field: 3 sinusoids, each (amp_x, amp_y, freq, phase) applied to glyph-local coords
    mess = float(rng.uniform(0.5, 1.6))  # how sloppy this writer is; scales every noise term
    shape = np.column_stack([
        rng.normal(0, 0.6 * mess, 3), rng.normal(0, 0.6 * mess, 3), rng.uniform(0.08, 0.3, 3),
        rng.uniform(0, 2 * np.pi, 3)])
    wide = rng.random() < 0.5  # free spacing is mostly moderate: real names are ~1.2 caps per letter
    return Writer(
        cap_px=float(cap_px if cap_px is not None else np.clip(rng.normal(13.3, 1.6), 9.5, 18.0)),
        xscale=float(rng.uniform(0.7, 1.15)),
        tracking=float(rng.uniform(5.0, 10.0) if wide else rng.uniform(2.0, 5.0)) if font == "futural" else 0.0,
        word_gap=float(rng.uniform(12.0, 28.0)),
        slant=float(np.clip(rng.normal(0.04, 0.12), -0.25, 0.35)),
        rotation=float(rng.normal(0.0, 1.2)),
        pen_px=float(np.clip(rng.normal(1.0, 0.2), 0.75, 1.9)),
        size_sd=float(rng.uniform(0.02, 0.08)),
        rot_sd=float(rng.uniform(0.5, 3.0) * mess),
        base_sd=float(rng.uniform(0.2, 1.0) * mess),
        track_sd=float(rng.uniform(0.5, 3.0)),
        jitter=float(rng.uniform(0.05, 0.25) * mess),
        wobble=float(rng.uniform(0.1, 0.7) * mess),
        drift=float(rng.uniform(0.3, 1.3) * mess),
        wave_amp=float(rng.uniform(0.0, 1.8)),
        wave_len=float(rng.uniform(60.0, 250.0)),
        wave_phase=float(rng.uniform(0, 2 * np.pi)),
        shape=shape,
        variants=variants,
        lower=lower,
        accents=bool(rng.random() < 0.6),
        font=font,
        pitch=float(pitch_px * rng.normal(1.0, 0.035)) if (
            pitch_px and font == "futural" and rng.random() < BOXED_P) else 0.0,
    )


def _glyph_for(ch: str, w: Writer, rng: np.random.Generator) -> Glyph:
    base = unicodedata.normalize("NFD", ch)
    letter, marks = base[0], base[1:] if w.accents else ""
    if letter in w.lower:
        key = letter.lower()
        if key == "i" and marks:  # no dot when an accent sits on the i
            return glyph("l", marks, w.font)
    else:
        key = w.variants.get(letter, letter)
        if key != letter and rng.random() < 0.1:  # people are not perfectly consistent
            key = letter
    if letter == "I" and marks and key.startswith("I_dot"):
        key = "I"
    return glyph(key, marks, w.font)


@dataclass
class Path:
    """A name laid out in pixels (1x), origin at the left end of the baseline."""

    strokes: list  # list of (K, 2) float arrays
    pen_px: float
    bbox: tuple  # (x0, y0, x1, y1)
    corners: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # points needing a round joint


def layout(rng: np.random.Generator, text: str, w: Writer) -> Path:
    """Place and perturb all glyph points of ``text`` (upper case, may carry accents)."""
    glyphs, xs, scales, rots, dys = [], [], [], [], []
    x = 0.0
    pitch = w.pitch / (w.cap_px / CAP_UNITS)  # box pitch in units (0 = free spacing)
    for ch in text:
        if ch == " ":
            x += pitch if pitch else w.word_gap + w.tracking  # a blank box
            continue
        g = _glyph_for(ch, w, rng)
        sc = 1.0 + rng.normal(0.0, w.size_sd)
        if ch in "-'":
            sc = 1.0
        glyphs.append(g)
        gw = g.width * w.xscale * sc
        if pitch:  # centred in its box, give or take
            xs.append(x + (pitch - gw) / 2 + rng.normal(0.0, 0.4 * w.track_sd))
            x += pitch
        else:
            xs.append(x)
            x += gw + max(2.0 if w.font == "futural" else 0.0, w.tracking + rng.normal(0.0, w.track_sd))
        scales.append(sc)
        rots.append(math.radians(rng.normal(0.0, w.rot_sd)))
        dys.append(rng.normal(0.0, w.base_sd))
    if not glyphs:
        return Path([], w.pen_px, (0.0, 0.0, 1.0, 1.0))
    cap_px = w.cap_px * (1.4 if w.font == "scripts" else 1.0)  # script x-height is small
    counts = np.array([len(g.pts) for g in glyphs])
    local = np.vstack([g.pts for g in glyphs])
    sid_off = np.cumsum([0] + [len(g.starts) for g in glyphs[:-1]])
    sid = np.concatenate([g.sid + o for g, o in zip(glyphs, sid_off)])
    t = np.concatenate([g.t for g in glyphs])
    s = np.concatenate([g.s for g in glyphs])
    n_strokes = int(sid[-1]) + 1

    # per-writer shape distortion in glyph-local coordinates (consistent letter shapes)
    sh = w.shape
    ph = local[:, :1] * sh[:, 2] + local[:, 1:2] * sh[:, 2][::-1] + sh[:, 3]
    sn = np.sin(ph)
    local = local + np.column_stack([sn @ sh[:, 0], sn @ sh[:, 1]])

    # per-letter scale / rotation about the glyph's baseline centre, then placement
    rep = lambda v: np.repeat(np.asarray(v, dtype=np.float64), counts)  # noqa: E731
    sc, rot = rep(scales), rep(rots)
    cx = rep([g.width / 2 for g in glyphs])
    lx = (local[:, 0] - cx) * w.xscale * sc
    ly = local[:, 1] * sc
    cr, sr = np.cos(rot), np.sin(rot)
    px = lx * cr - ly * sr + cx * w.xscale * sc + rep(xs)
    py = lx * sr + ly * cr + rep(dys)

    # per-stroke smooth wobble + drifting ends, per-point jitter
    k = rng.normal(0.0, 1.0, (n_strokes, 6))
    amp, freq, phase = w.wobble * k[:, 0], 0.05 + 0.05 * np.abs(k[:, 1]), k[:, 2] * 3.0
    wob = (amp[sid] * np.sin(s * freq[sid] * 2 * np.pi + phase[sid]))
    ang = k[:, 3][sid]
    end = np.where(t < 0.5, (1 - 2 * t) ** 2, 0.0)
    end2 = np.where(t >= 0.5, (2 * t - 1) ** 2, 0.0)
    d = w.drift
    px = px + wob * np.cos(ang) + d * (k[:, 4][sid] * end) + rng.normal(0, w.jitter, len(px))
    py = py + wob * np.sin(ang) + d * (k[:, 5][sid] * end2) + rng.normal(0, w.jitter, len(px))

    # baseline wave, slant, global rotation, scale to pixels
    py = py + w.wave_amp * np.sin(px / w.wave_len * 2 * np.pi + w.wave_phase)
    px = px - w.slant * py
    a = math.radians(w.rotation)
    ca, sa = math.cos(a), math.sin(a)
    unit = cap_px / CAP_UNITS
    X = (px * ca - py * sa) * unit
    Y = (px * sa + py * ca - 9.0) * unit  # baseline (y=9) -> 0
    pts = np.column_stack([X, Y])
    # sharp turns get a round joint when drawn; smooth runs are dense enough to need none
    # (PIL's joint="curve" on every vertex was half the rendering time)
    d1 = pts[1:-1] - pts[:-2]
    d2 = pts[2:] - pts[1:-1]
    same = (sid[1:-1] == sid[:-2]) & (sid[1:-1] == sid[2:])
    dot = (d1 * d2).sum(1)
    norm = np.sqrt((d1 * d1).sum(1) * (d2 * d2).sum(1)) + 1e-9
    corners = pts[1:-1][same & (dot < 0.93 * norm)]
    bounds = np.flatnonzero(np.diff(sid)) + 1
    return Path(np.split(pts, bounds), w.pen_px, (float(X.min()), float(Y.min()), float(X.max()), float(Y.max())),
                corners)


def fit(path: Path, max_w: float, max_h: float | None = None) -> Path:
    """Shrink a path about its origin so that it fits max_w x max_h pixels (never enlarges)."""
    x0, y0, x1, y1 = path.bbox
    f = min(1.0, max_w / max(x1 - x0, 1e-6))
    if max_h is not None:
        f = min(f, max_h / max(y1 - y0, 1e-6))
    if f >= 1.0:
        return path
    # squeeze x a bit more than y, like a writer running out of room
    fx, fy = f, min(1.0, f ** 0.6) if max_h is None else f
    strokes = [p * (fx, fy) for p in path.strokes]
    return Path(strokes, path.pen_px * max(fy, 0.85), (x0 * fx, y0 * fy, x1 * fx, y1 * fy),
                path.corners * (fx, fy))


def draw(path: Path, pad: float = 2.0) -> tuple[Image.Image, float, float]:
    """Rasterise ``path``: (coverage image 'L' at 1x, x, y of the path origin in that image)."""
    x0, y0, x1, y1 = path.bbox
    m = pad + path.pen_px
    W = int(math.ceil(x1 - x0 + 2 * m))
    H = int(math.ceil(y1 - y0 + 2 * m))
    ox, oy = m - x0, m - y0
    img = Image.new("L", (W * SS, H * SS), 0)
    dr = ImageDraw.Draw(img)
    width = max(1, int(round(path.pen_px * SS)))
    r = width / 2.0
    off = np.array([ox * SS, oy * SS])
    for st in path.strokes:
        p = st * SS + off
        flat = p.ravel().tolist()
        if len(p) == 2 and abs(flat[0] - flat[2]) + abs(flat[1] - flat[3]) < width * 0.6:
            cx, cy = (flat[0] + flat[2]) / 2, (flat[1] + flat[3]) / 2  # a dot
            dr.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
            continue
        dr.line(flat, fill=255, width=width)
        # round caps: PIL lines end square, pens do not
        for cx, cy in ((flat[0], flat[1]), (flat[-2], flat[-1])):
            dr.ellipse((cx - r + 0.5, cy - r + 0.5, cx + r - 0.5, cy + r - 0.5), fill=255)
    if len(path.corners):
        for cx, cy in (path.corners * SS + off).tolist():
            dr.ellipse((cx - r + 0.5, cy - r + 0.5, cx + r - 0.5, cy + r - 0.5), fill=255)
    # ink saturates: a pen line 1 px wide scans as black, not as 50 % grey
    return img.reduce(SS).point(INK_GAIN), ox, oy
