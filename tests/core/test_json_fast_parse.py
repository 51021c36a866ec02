"""json_input reads bytes with orjson when orjson reads them exactly as json does, and leaves
everything else to json: a body gets the same value, or the same refusal, either way. Text
(str) always takes json's way, so comparing loads(body) with loads(body.decode()) compares the
two parsers."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telehealth import json_input

EDGES = [
    b'{"readings": [{"type": "glucose", "value": 104.5, "measured_at": "2026-11-23T08:15:00Z"}]}',
    b"[9223372036854775807, -9223372036854775808]",  # the ends of bigint
    b"[9223372036854775808]",  # one past
    b"[18446744073709551616]",  # past 64 bits: orjson would make it a float
    b"[123456789012345678901234567890]",
    b"[0.12345678901234567890123]",
    b"[1e400]",
    b"[-1e400]",
    b"[NaN]",
    b"[Infinity]",
    b'{"a": 1, "a": 2}',
    b'["\\ud800"]',  # a lone surrogate
    b'["\\u00e9\\ud83d\\ude00"]',
    b'{"a": "x\\u0000y"}',
    b'{"a\\u0000": 1}',
    b"\xef\xbb\xbf[1]",  # a byte order mark
    '["é"]'.encode("utf-16"),
    b"[1] x",
    b"",
    b"   ",
    b"[" * 40 + b"]" * 40,
    b"[" * 5_000 + b"]" * 5_000,
    b'"\xff"',
]


def outcome(raw, **options):
    try:
        return "value", json_input.loads(raw, **options)
    except json_input.JSONInputError as error:
        return "refused", error.message


def same(a, b) -> bool:
    """Equal, with NaN equal to itself and ints never equal to floats."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def by_json(raw: bytes, **options):
    """What json's way answers: the bytes decoded as loads would decode them."""
    try:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
    except UnicodeDecodeError:
        return outcome(raw, **options)  # not text: nothing to compare against
    return outcome(text, **options)


@pytest.mark.parametrize("bounded", [True, False])
@pytest.mark.parametrize("raw", EDGES)
def test_edge_cases_get_what_json_gives(raw, bounded):
    fast, slow = outcome(raw, bounded_numbers=bounded), by_json(raw, bounded_numbers=bounded)
    assert fast[0] == slow[0]
    assert same(fast[1], slow[1])


def test_numbers_keep_their_type_and_value():
    assert outcome(b"[18446744073709551616]", bounded_numbers=False) == (
        "value",
        [18446744073709551616],
    )
    assert outcome(b"[9223372036854775808]")[0] == "refused"
    assert outcome(b"[Infinity]")[0] == "refused"
    assert outcome(b"[1e400]", bounded_numbers=False) == ("value", [float("inf")])


def test_nul_and_depth_are_still_refused_on_the_fast_way():
    assert outcome(b'{"a": "x\\u0000y"}')[0] == "refused"
    assert outcome(b"[" * 33 + b"]" * 33)[0] == "refused"
    assert outcome(b"[" * 32 + b"]" * 32)[0] == "value"


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=values, ensure_ascii=st.booleans(), bounded=st.booleans())
def test_any_json_gets_what_json_gives(value, ensure_ascii, bounded):
    raw = json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
    fast, slow = outcome(raw, bounded_numbers=bounded), by_json(raw, bounded_numbers=bounded)
    assert fast[0] == slow[0]
    assert same(fast[1], slow[1])


def test_an_ordinary_body_takes_the_fast_way(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("json's way was taken")

    monkeypatch.setattr(json_input.json, "loads", refuse)
    assert json_input.loads(EDGES[0], bounded_numbers=False)["readings"][0]["value"] == 104.5
    with pytest.raises(AssertionError):
        json_input.loads(b"[NaN]")
