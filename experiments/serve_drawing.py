"""Names drawn on ``hwr serve``'s page at full pad height, read, and screenshotted (Chromium, Playwright).

    python experiments/serve_drawing.py --model readers/gru-full.pt --out shots/ [NAME ...]

Starts ``hwr serve`` on a free port with the model given (``--decoder``/``--lexicon`` pass through),
writes each name in block capitals as tall as the pad allows (mouse strokes), presses "Read the
drawing", and prints one JSON line per name: what was drawn, the letter height in pad pixels, what
was read and with what confidence; ``serve-<NAME>.png`` is the page after it. Letters: A E H I L M N O T.
Needs Debian's chromium and playwright (the test extra).
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from playwright.sync_api import expect, sync_playwright

LETTERS = {  # strokes in a unit box per letter, 0.7 wide, (x, y) from the top left
    "L": [[(0, 0), (0, 1), (0.7, 1)]],
    "I": [[(0.35, 0), (0.35, 1)]],
    "E": [[(0.7, 0), (0, 0), (0, 1), (0.7, 1)], [(0, 0.5), (0.5, 0.5)]],
    "A": [[(0, 1), (0.35, 0), (0.7, 1)], [(0.15, 0.6), (0.55, 0.6)]],
    "N": [[(0, 1), (0, 0), (0.7, 1), (0.7, 0)]],
    "M": [[(0, 1), (0, 0), (0.35, 0.6), (0.7, 0), (0.7, 1)]],
    "T": [[(0, 0), (0.7, 0)], [(0.35, 0), (0.35, 1)]],
    "O": [[(0.35, 0), (0.05, 0.15), (0, 0.5), (0.05, 0.85), (0.35, 1), (0.65, 0.85), (0.7, 0.5), (0.65, 0.15),
           (0.35, 0)]],
    "H": [[(0, 0), (0, 1)], [(0.7, 0), (0.7, 1)], [(0, 0.5), (0.7, 0.5)]],
}
PAD_WIDTH, FULL_HEIGHT = 512, 116  # the pad's drawing size; letters as tall as it allows


def draw(page, name: str) -> float:
    """``name`` in block capitals, as tall as fits; returns the letter height in pad pixels."""
    box = page.locator("#pad").bounding_box()
    css = box["width"] / PAD_WIDTH
    width = ((len(name) - 1) * 1.1 + 0.7) * FULL_HEIGHT
    height = FULL_HEIGHT * min(1.0, (PAD_WIDTH - 22) / width)
    for n, letter in enumerate(name):
        for stroke in LETTERS[letter]:
            points = [(12 + (n * 1.1 + x) * height, 6 + y * height) for x, y in stroke]
            page.mouse.move(box["x"] + points[0][0] * css, box["y"] + points[0][1] * css)
            page.mouse.down()
            for x, y in points[1:]:
                page.mouse.move(box["x"] + x * css, box["y"] + y * css, steps=10)
            page.mouse.up()
    return height


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--decoder")
    ap.add_argument("--lexicon")
    ap.add_argument("--out", default=".")
    ap.add_argument("names", nargs="*", default=["LEA", "EMMA", "ANNA", "LEO", "THEO", "ELIOT"])
    args = ap.parse_args()
    unknown = sorted({c for name in args.names for c in name} - set(LETTERS))
    if unknown:
        sys.exit(f"error: no strokes for {' '.join(unknown)}; names of the letters {' '.join(sorted(LETTERS))}")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ["hwr", "serve", "--model", args.model, "--port", str(port)]
    command += ["--decoder", args.decoder] if args.decoder else []
    command += ["--lexicon", args.lexicon] if args.lexicon else []
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    os.makedirs(args.out, exist_ok=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    said = server.stderr.read() if server.poll() is not None else "no answer in 2 minutes"
                    sys.exit(f"error: hwr serve did not start: {said}")
                time.sleep(0.5)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                                 args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 900, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            for name in args.names:
                page.click("#clear")
                height = draw(page, name)
                cards = page.locator('.result[data-name="drawing.png"]')
                before = cards.count()
                page.click("#read-drawing")
                expect(cards).to_have_count(before + 1, timeout=60_000)
                card = cards.first  # the newest result is on top
                print(json.dumps({"drawn": name, "letter_height_px": round(height),
                                  "read": card.locator(".text").inner_text(),
                                  "confidence": card.locator(".confidence").inner_text()}), flush=True)
                page.screenshot(path=os.path.join(args.out, f"serve-{name}.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
