"""A character n-gram language model of names, written as an ARPA file.

Smoothing: interpolated Kneser-Ney with one absolute discount per order (Chen & Goodman's
``D = n1 / (n1 + 2 n2)``), lower orders on continuation counts, and the unigrams interpolated with a
uniform distribution over the alphabet, so that every symbol, seen or not, keeps a probability: a
name the training labels never spelled can still be read. An interpolated model is exactly an ARPA
back-off model whose back-off weight is the interpolation weight, so nothing is renormalised.

The counting is written here because no n-gram toolkit that writes ARPA installs from PyPI without a
compiler (KenLM's ``lmplz`` is a C++ program); querying goes through KenLM as flashlight-text
ships it (:func:`load_arpa`).
In the ARPA file each symbol is one "word" (:data:`SPACE_TOKEN` stands for the space).
"""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

from hwr.core.alphabet import ALPHABET
from hwr.core.errors import HwrError
from hwr.core.files import write_text

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
SPACE_TOKEN = "<sp>"
DEFAULT_DISCOUNT = 0.75  # where an order has too few counts to estimate its own


def tokens(name: str) -> list[str]:
    """A name as the ARPA file's words: one per character, the space spelled SPACE_TOKEN."""
    return [SPACE_TOKEN if ch == " " else ch for ch in name]


def symbol_tokens() -> list[str]:
    """The ARPA word of each alphabet symbol, in index order."""
    return tokens(ALPHABET)


def _discount(counts: Counter) -> float:
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    return n1 / (n1 + 2 * n2) if n1 and n2 else DEFAULT_DISCOUNT


def build_arpa(names: Iterable[tuple[str, int]], order: int) -> str:
    """ARPA text of an order-``order`` character model of ``(name, count)`` pairs."""
    if order < 1:
        raise ValueError(f"order must be >= 1, not {order}")
    raw: list[Counter] = [Counter() for _ in range(order + 1)]  # raw[n][(w1, ..., wn)]
    for name, count in names:
        seq = [BOS, *tokens(name), EOS]
        for n in range(1, order + 1):
            for i in range(len(seq) - n + 1):
                raw[n][tuple(seq[i:i + n])] += count
    # Kneser-Ney counts: the highest order and the n-grams that start a name keep their raw
    # counts; the others count the distinct symbols seen before them.
    kn: list[Counter] = [Counter() for _ in range(order + 1)]
    kn[order] = raw[order]
    for n in range(1, order):
        kn[n].update({gram: c for gram, c in raw[n].items() if gram[0] == BOS})
        kn[n].update(gram[1:] for gram in raw[n + 1])
    kn[1].pop((BOS,), None)  # a context, never predicted
    vocab = symbol_tokens() + [EOS]
    prob: list[dict] = [{} for _ in range(order + 1)]
    backoff: list[dict] = [{} for _ in range(order + 1)]
    # unigrams: continuation counts, discounted and interpolated with a uniform distribution
    d1 = _discount(kn[1])
    total1, seen1 = sum(kn[1].values()), len(kn[1])
    uniform_mass = d1 * seen1 / total1 if total1 else 1.0
    for w in vocab:
        c = kn[1].get((w,), 0)
        prob[1][(w,)] = (max(c - d1, 0) / total1 if total1 else 0) + uniform_mass / len(vocab)
    for n in range(2, order + 1):
        d = _discount(kn[n])
        context_total: dict = defaultdict(float)
        context_types: dict = defaultdict(int)
        for gram, c in kn[n].items():
            context_total[gram[:-1]] += c
            context_types[gram[:-1]] += 1
        for gram, c in kn[n].items():
            h = gram[:-1]
            gamma = d * context_types[h] / context_total[h]
            prob[n][gram] = (c - d) / context_total[h] + gamma * _lookup(prob, backoff, gram[1:])
        for h in context_total:
            backoff[n - 1][h] = d * context_types[h] / context_total[h]
    return _arpa_text(prob, backoff, order)


def _lookup(prob: list[dict], backoff: list[dict], gram: tuple) -> float:
    """P(gram[-1] | gram[:-1]) of the lower orders built so far (back-off recursion)."""
    if gram in prob[len(gram)]:
        return prob[len(gram)][gram]
    return backoff[len(gram) - 1].get(gram[:-1], 1.0) * _lookup(prob, backoff, gram[1:])


def _arpa_text(prob: list[dict], backoff: list[dict], order: int) -> str:
    prob[1][(BOS,)] = 0.0  # <s> is a context only; ARPA's convention is log10 p = -99
    prob[1][(UNK,)] = 0.0  # never needed (every symbol has its unigram); KenLM asks for it
    lines = ["", "\\data\\"]
    lines += [f"ngram {n}={len(prob[n])}" for n in range(1, order + 1)]
    for n in range(1, order + 1):
        lines += ["", f"\\{n}-grams:"]
        for gram in sorted(prob[n]):
            p = prob[n][gram]
            logp = -99.0 if p <= 0 else math.log10(p)
            line = f"{logp:.6f}\t{' '.join(gram)}"
            if n < order and gram in backoff[n]:
                line += f"\t{math.log10(backoff[n][gram]):.6f}"
            lines.append(line)
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def write_arpa(path: str | Path, names: Iterable[tuple[str, int]], order: int) -> None:
    write_text(path, build_arpa(names, order))


@contextmanager
def _quiet_stderr():
    """KenLM reports loading progress on the process's stderr; its errors still come as exceptions."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_arpa(path: str | Path):
    """An ARPA character model as flashlight-text's KenLM, its tokens indexed like the alphabet's
    symbols (then </s>). Its scores are log10 probabilities."""
    from flashlight.lib.text.decoder.kenlm import KenLM
    from flashlight.lib.text.dictionary import Dictionary

    try:
        with _quiet_stderr():
            return KenLM(str(path), Dictionary(symbol_tokens() + [EOS]))
    except RuntimeError as exc:
        raise HwrError(f"{path}: not a readable ARPA model ({str(exc).strip().splitlines()[0][:200]}); "
                       "rebuild it (dvc repro lexicon)") from None


def perplexity(model, names: Iterable[str]) -> float | None:
    """Per-symbol perplexity (end of name included) of ``model`` (:func:`load_arpa`) on ``names``."""
    log10_sum, count = 0.0, 0
    for name in names:
        state = model.start(False)
        for ch in name:
            state, score = model.score(state, ALPHABET.index(ch))
            log10_sum += score
        log10_sum += model.finish(state)[1]
        count += len(name) + 1
    return 10 ** (-log10_sum / count) if count else None
