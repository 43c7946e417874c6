"""Base45 is RFC 9285 exactly: its examples, strict decoding, and round trips."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credits.vouchers.base45 import Base45Error, b45decode, b45encode, encoded_length


@pytest.mark.parametrize(
    "raw, text",
    [
        (b"AB", "BB8"),  # RFC 9285 4.3
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),  # RFC 9285 4.4 (decoding example)
        (b"", ""),
        (b"\x00", "00"),
        (b"\xff\xff", "FGW"),
    ],
)
def test_rfc_examples(raw, text):
    assert b45encode(raw) == text
    assert b45decode(text) == raw


@pytest.mark.parametrize(
    "text",
    [
        "GGW",  # 65536: does not fit two bytes
        ":::",  # 91124
        "::",  # 2024: does not fit one byte
        "A",  # length 1 (mod 3)
        "BB8A",
        "bb8",  # lower case is not in the alphabet
        "BB#",
        "BB8\n",
    ],
)
def test_strict_decoding_refuses(text):
    with pytest.raises(Base45Error):
        b45decode(text)


@given(st.binary(max_size=300))
def test_round_trip_and_length(data):
    text = b45encode(data)
    assert len(text) == encoded_length(len(data))
    assert b45decode(text) == data
