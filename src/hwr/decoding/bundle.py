"""What reading with a model needs, carried inside the model file: the decoder and its settings,
the calibration fitted for them, and the lexicon (names + character model).

The evaluate stage writes it into ``readers/<run>.pt`` (the model file with a ``reading`` entry in
its config); ``hwr export`` copies it into the ONNX file's metadata. A model file that travels
alone - copied, ``dvc pull``-ed, ``dvc artifacts get``-ed, exported - reads as it does in the
project: nothing is looked up by folder name. ``--lexicon DIR`` replaces the carried lexicon.

The bundle is plain JSON data (strings, numbers, lists), so torch loads it with
``weights_only=True`` and ONNX keeps it as a metadata string. KenLM reads a character model from a
file only: the carried one is written once into hwr's cache, under the hash of its text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from hwr.core.errors import HwrError
from hwr.core.files import cache_dir, write_text
from hwr.decoding.confidence import Calibration
from hwr.decoding.factory import GREEDY, Decoder, make_decoder
from hwr.decoding.lexicon import LM_FILE, NAMES_FILE, lexicon_built, lexicon_files
from hwr.params import EvaluateParams

KEY = "reading"  # the model config's entry, and the ONNX metadata key
FORMAT = 1


def make_bundle(decoder: Decoder, calibration: Calibration | None, lexicon_dir: str | Path | None) -> dict:
    """The bundle of ``decoder`` (its name and settings), the ``calibration`` fitted for it (if
    any) and the lexicon of ``lexicon_dir`` (when built there)."""
    bundle = {"format": FORMAT, "decoder": decoder.name, "settings": dict(decoder.settings)}
    if calibration is not None:
        bundle["calibration"] = calibration.to_dict()
    if lexicon_dir is not None and lexicon_built(lexicon_dir):
        names, chars = lexicon_files(lexicon_dir)
        bundle["lexicon"] = {NAMES_FILE: names.read_text(encoding="utf-8"), LM_FILE: chars.read_text(encoding="utf-8")}
    return bundle


def parse_bundle(raw, where: str) -> dict | None:
    """A bundle read from a model (a dict, or its JSON text from ONNX metadata); None when absent;
    a damaged or newer one is a one-line error naming ``where``."""
    if raw is None:
        return None
    try:
        bundle = json.loads(raw) if isinstance(raw, str) else raw
        ok = isinstance(bundle, dict) and isinstance(bundle["decoder"], str) and isinstance(bundle["settings"], dict)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise HwrError(f"{where}: its reading settings are damaged; write it again (dvc repro evaluate, or hwr export)")
    if bundle.get("format", FORMAT) > FORMAT:
        raise HwrError(f"{where}: written by a newer hwr (reading format {bundle['format']}); upgrade hwr")
    return bundle


def bundled_lexicon(bundle: dict) -> Path | None:
    """The carried lexicon as a folder the decoders read (written once into the cache), or None."""
    lexicon = bundle.get("lexicon")
    if not lexicon:
        return None
    digest = hashlib.sha256(json.dumps(lexicon, sort_keys=True).encode()).hexdigest()[:20]
    folder = cache_dir() / "lexicons" / digest
    if not lexicon_built(folder):
        for name in (NAMES_FILE, LM_FILE):  # the character model last: lexicon_built sees both or none
            write_text(folder / name, lexicon[name])
    return folder


def reading_decoder(bundle: dict | None, *, name: str | None = None, settings: EvaluateParams | None = None,
                    lexicon_dir: str | Path | None = None, top_k: int = 1, where: str = "the model") -> Decoder:
    """The decoder to read a model with.

    - ``name``: the decoder asked for; default: the one the model carries, else ``settings.decoder``.
    - ``settings``: beam width and weights; default: those the model carries for its decoder.
    - ``lexicon_dir``: a lexicon folder that replaces the carried lexicon.
    The carried calibration applies when the decoder and its settings are those it was fitted for."""
    name = name or (bundle["decoder"] if bundle else None) or (settings.decoder if settings else "greedy")
    carried = bundle is not None and bundle["decoder"] == name
    if settings is None:
        settings = EvaluateParams()
        if carried:
            known = {f.name for f in dataclasses.fields(EvaluateParams)}
            settings = dataclasses.replace(settings, **{k: v for k, v in bundle["settings"].items()
                                                          if k in known and k != "decoder"})
    if name == "greedy" and top_k == 1:
        decoder = GREEDY
    else:
        folder = Path(lexicon_dir) if lexicon_dir is not None else (bundled_lexicon(bundle) if bundle else None)
        if folder is None and name != "greedy":
            raise HwrError(f"{where} carries no lexicon for the {name} decoder; give --lexicon DIR (a lexicon "
                           "stage's folder, e.g. data/lexicon), or read with --decoder greedy")
        decoder = make_decoder(name, settings, lexicon_dir=folder or ".", top_k=top_k)
    if carried and "calibration" in bundle:
        calibration, _ = Calibration.from_dict(bundle["calibration"], where)
        return decoder.calibrated(calibration, bundle["settings"], where)
    return decoder
