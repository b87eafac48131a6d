import numpy as np
import pytest

from hwr.core import alphabet
from hwr.core.alphabet import (
    ALPHABET,
    BLANK,
    MAX_LABEL_LENGTH,
    NUM_CLASSES,
    PAD,
    decode,
    encode,
    encode_many,
    unknown_characters,
)


def test_symbol_set_and_blank():
    assert len(ALPHABET) == 29 == alphabet.NUM_SYMBOLS
    assert len(set(ALPHABET)) == len(ALPHABET)
    assert BLANK == 29 and NUM_CLASSES == 30  # blank is the last class
    assert PAD == -1 and MAX_LABEL_LENGTH == 24


@pytest.mark.parametrize("char,index", [(" ", 0), ("A", 1), ("Z", 26), ("-", 27), ("'", 28)])
def test_indices(char, index):
    assert encode(char)[0] == index


@pytest.mark.parametrize("text", ["ALLAN", "LL", "A", "JEAN-PAUL", "D'ARC", "LE BRUN", "ZZZ", "",
                                  "ABCDEFGHIJKLMNOPQRSTUVWX"])
def test_round_trip(text):
    encoded = encode(text)
    assert encoded.dtype == np.int16 and encoded.shape == (MAX_LABEL_LENGTH,)
    assert (encoded[len(text):] == PAD).all()
    assert decode(encoded) == text


def test_double_letters_are_kept_by_encoding():
    encoded = encode("ALLAN")
    assert encoded[1] == encoded[2] == ALPHABET.index("L")
    assert decode(encode("LL")) == "LL"


def test_decode_ignores_padding_and_blank():
    assert decode([BLANK, 1, PAD, BLANK, 12, 12, PAD]) == "ALL"
    assert decode(np.array([], dtype=np.int64)) == ""


def test_encode_rejects_unknown_characters_and_long_labels():
    with pytest.raises(ValueError, match="outside the alphabet"):
        encode("MARIE?")
    with pytest.raises(ValueError, match="outside the alphabet"):
        encode("marie")  # lower case is not in the alphabet; cleaning upper-cases first
    with pytest.raises(ValueError, match="25 characters"):
        encode("A" * 25)
    assert decode(encode("A" * 30, length=30)) == "A" * 30


def test_unknown_characters_in_order_without_repeats():
    assert unknown_characters("a?B?é") == "a?é"
    assert unknown_characters("JEAN-PAUL D'ARC") == ""


def test_encode_many():
    out = encode_many(["ALLAN", "", "LL"])
    assert out.shape == (3, MAX_LABEL_LENGTH) and out.dtype == np.int16
    assert [decode(row) for row in out] == ["ALLAN", "", "LL"]
    assert encode_many([]).shape == (0, MAX_LABEL_LENGTH)
    with pytest.raises(ValueError):
        encode_many(["OK", "NOT OK!"])
