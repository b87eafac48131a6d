"""Beam search decoding of names: CTC prefix beam search with a character language model and a
lexicon bonus, on flashlight-text (:mod:`hwr.decoding.factory` builds it from params).

Open vocabulary: the search spells any sequence of symbols. The character model only weighs what
names usually look like, and the lexicon bonus only adds a fixed score to a known name, so a name
outside the lexicon is still read, as greedy reads it, when the model is sure of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from flashlight.lib.text.decoder import LM, CriterionType, LexiconFreeDecoder, LexiconFreeDecoderOptions, LMState

from hwr.core.alphabet import ALPHABET, BLANK
from hwr.decoding.greedy import Reading, as_array
from hwr.decoding.lexicon import Lexicon

BEAM_THRESHOLD = 30.0  # nats behind the best hypothesis at which one is dropped (flashlight's pruning)
TOKENS_PER_STEP = 8  # the most probable classes of each time step that the search extends with
_LN10 = math.log(10.0)  # KenLM scores are log10; the model's are natural logs


@dataclass
class _Prefix:
    text: str
    chars_state: object  # KenLM's state after ``text``, or None without a character model
    potential: float  # the lexicon bonus this prefix holds (see NameLM)
    children: dict  # token -> (child LMState, score): each extension is scored once per image


class NameLM(LM):
    """flashlight's language-model interface: a character n-gram model (KenLM) of names, weighted,
    plus the lexicon bonus.

    The state is the whole prefix read so far, so the search merges only hypotheses that spell the
    same text (CTC prefix beam search); a state of the n-gram context alone would fuse different
    names that end alike. The bonus is paid as a potential: a prefix that can still grow into a
    known name holds ``bonus``, one that cannot holds 0, and the end of the name settles it, so over
    a whole reading exactly ``bonus`` goes to a known name and nothing to any other, while during
    the search a hypothesis drops back as soon as it leaves the lexicon."""

    def __init__(self, chars=None, weight: float = 0.0, lexicon: Lexicon | None = None, bonus: float = 0.0):
        LM.__init__(self)
        self._chars, self._weight = (chars, weight * _LN10) if weight else (None, 0.0)
        self._lexicon, self._bonus = (lexicon, bonus) if lexicon is not None and bonus else (None, 0.0)
        self._prefixes: dict = {}

    def _potential(self, text: str) -> float:
        return self._bonus if self._lexicon is not None and text in self._lexicon.prefixes else 0.0

    def start(self, start_with_nothing: bool):
        state = LMState()
        chars = self._chars.start(False) if self._chars is not None else None
        self._prefixes = {state: _Prefix("", chars, 0.0, {})}  # the first symbol pays the bonus in
        return state

    def score(self, state, token: int):
        prefix = self._prefixes[state]
        known = prefix.children.get(token)
        if known is not None:
            return known
        child, text = state.child(token), prefix.text + ALPHABET[token]
        chars, logp = self._chars.score(prefix.chars_state, token) if self._chars is not None else (None, 0.0)
        potential = self._potential(text)
        self._prefixes[child] = _Prefix(text, chars, potential, {})
        known = prefix.children[token] = (child, self._weight * logp + potential - prefix.potential)
        return known

    def finish(self, state):
        prefix = self._prefixes[state]
        logp = self._chars.finish(prefix.chars_state)[1] if self._chars is not None else 0.0
        final = self._bonus if self._lexicon is not None and prefix.text in self._lexicon else 0.0
        return state.child(-1), self._weight * logp + final - prefix.potential


class BeamDecoder:
    """CTC prefix beam search (flashlight-text's lexicon-free decoder) with a :class:`NameLM`.

    Each reading's confidence is its posterior among the final beam: the softmax of the
    hypotheses' scores (model log-probability summed over alignments, plus the weighted character
    model and the lexicon bonus). The next ``top_k - 1`` hypotheses are its alternatives."""

    def __init__(self, lm: NameLM, beam_width: int = 16, top_k: int = 1):
        self.lm, self.top_k = lm, top_k  # flashlight holds the LM by pointer: keep it alive here
        options = LexiconFreeDecoderOptions(beam_size=beam_width, beam_size_token=TOKENS_PER_STEP,
                                            beam_threshold=BEAM_THRESHOLD, lm_weight=1.0, sil_score=0.0,
                                            log_add=True, criterion_type=CriterionType.CTC)
        # the blank doubles as flashlight's silence token: names have no silence, and sil_score 0
        self._decoder = LexiconFreeDecoder(options, lm, BLANK, BLANK, [])

    def read_one(self, log_probs: np.ndarray) -> Reading:
        """(T, C) float32 C-contiguous log-probabilities -> one reading."""
        steps, classes = log_probs.shape
        texts: dict[str, float] = {}
        for result in self._decoder.decode(log_probs.ctypes.data, steps, classes):
            text = _collapse(result.tokens)
            texts[text] = np.logaddexp(texts[text], result.score) if text in texts else result.score
        ranked = sorted(texts.items(), key=lambda item: -item[1])
        scores = np.array([score for _, score in ranked])
        posterior = np.exp(scores - np.logaddexp.reduce(scores))
        (best, _), *others = ranked
        alternatives = tuple((text, float(p)) for (text, _), p in zip(others, posterior[1:]))
        return Reading(best, float(posterior[0]), alternatives[: self.top_k - 1])

    def __call__(self, log_probs) -> list[Reading]:
        batch = np.ascontiguousarray(as_array(log_probs))
        return [self.read_one(row) for row in batch]


def _collapse(tokens) -> str:
    """flashlight's per-frame tokens -> text: merge repeats, then drop blanks."""
    out, previous = [], BLANK
    for token in tokens:
        if token != previous and token != BLANK:
            out.append(ALPHABET[token])
        previous = token
    return "".join(out)
