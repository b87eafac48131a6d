"""What ``hwr predict`` writes per image: a TSV line or a JSON line."""

from __future__ import annotations

import json


def escape(text: str) -> str:
    """A path safe in a TSV field: tab, newline and backslash escaped as in Python literals."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def tsv_line(path: str, reading) -> str:
    """path, text, confidence, then (text, confidence) of each alternative, tab-separated."""
    fields = [escape(path), reading.text, f"{reading.confidence:.4f}"]
    for text, confidence in reading.alternatives:
        fields += [text, f"{confidence:.4f}"]
    return "\t".join(fields) + "\n"


def json_line(path: str, reading) -> str:
    """One JSON object a line: path, text, confidence, and alternatives when the decoder gives them."""
    obj = {"path": path, "text": reading.text, "confidence": round(reading.confidence, 6)}
    if reading.alternatives:
        obj["alternatives"] = [{"text": t, "confidence": round(c, 6)} for t, c in reading.alternatives]
    return json.dumps(obj, ensure_ascii=False) + "\n"
