"""Every decoder by name, as one object: its name, the settings its readings depend on, and the call.

- ``greedy``: best path (:mod:`hwr.decoding.greedy`);
- ``beam``: prefix beam search with the character model of a lexicon folder (:mod:`hwr.decoding.beam`);
- ``lexicon``: the same, plus the lexicon bonus for the names of that folder's list.

The beam decoders (and flashlight-text) are imported only when one is built: greedy reading, e.g.
of an ONNX model, needs neither torch nor flashlight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hwr.core.errors import HwrError
from hwr.core.layout import LEXICON_DIR
from hwr.decoding.combine import combine
from hwr.decoding.confidence import Calibration, calibrated
from hwr.decoding.greedy import Reading, greedy_read
from hwr.params import DECODERS, EvaluateParams


@dataclass(frozen=True)
class Decoder:
    """A decoder: ``name``, ``settings`` (what its readings depend on, recorded with its
    calibration) and ``read``, (N, T, C) log-probabilities -> one :class:`Reading` per image."""

    name: str
    settings: dict = field(compare=False)
    read: Callable[..., list[Reading]] = field(compare=False, repr=False)

    def __call__(self, log_probs) -> list[Reading]:
        """(N, T, C) log-probabilities, or (M, N, T, C) of M models reading the same images
        (:class:`hwr.model.ensemble.Ensemble`): each model decoded alone, then combined per name."""
        if getattr(log_probs, "ndim", 3) == 4:
            return combine([self.read(member) for member in log_probs])
        return self.read(log_probs)

    def calibrated(self, calibration: Calibration, fitted_for: dict, where: str) -> Decoder:
        """This decoder with ``calibration``, when it was fitted for the same settings; otherwise
        (with a warning naming ``where``) as it is."""
        return Decoder(self.name, self.settings, calibrated(self.read, calibration, fitted_for, self.settings, where))


GREEDY = Decoder("greedy", {"decoder": "greedy"}, greedy_read)


def decoder_settings(name: str, settings: EvaluateParams) -> dict:
    """What a decoder's readings depend on."""
    about = {"decoder": name}
    if name != "greedy":
        about.update(beam_width=settings.beam_width, lm_weight=settings.lm_weight)
    if name == "lexicon":
        about["lexicon_bonus"] = settings.lexicon_bonus
    return about


def make_decoder(name: str | None = None, settings: EvaluateParams | None = None, *,
                 lexicon_dir: str | Path = LEXICON_DIR, top_k: int = 1) -> Decoder:
    """The decoder ``name`` (default: ``settings.decoder``) with ``settings``' beam width, character
    model weight and lexicon bonus (default: the ``evaluate`` params' defaults), reading the
    character model and names of ``lexicon_dir``; ``top_k`` - 1 alternatives per reading."""
    settings = settings or EvaluateParams()
    name = name or settings.decoder
    if name not in DECODERS:
        raise HwrError(f"unknown decoder {name!r}; choose one of {', '.join(DECODERS)}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise HwrError(f"top-k {top_k!r} is impossible; expected an integer >= 1")
    if name == "greedy":
        if top_k > 1:
            raise HwrError("greedy decoding reads one name per image; use the beam or lexicon decoder for top-k")
        return GREEDY
    from hwr.decoding.beam import BeamDecoder, NameLM
    from hwr.decoding.charlm import load_arpa
    from hwr.decoding.lexicon import lexicon_files, load_lexicon

    chars = lexicon = None
    if settings.lm_weight:
        chars = load_arpa(lexicon_files(lexicon_dir)[1])
    if name == "lexicon" and settings.lexicon_bonus:
        lexicon = load_lexicon(lexicon_dir)
    read = BeamDecoder(NameLM(chars, settings.lm_weight, lexicon, settings.lexicon_bonus), settings.beam_width, top_k)
    return Decoder(name, decoder_settings(name, settings), read)
