"""strict_json's shortcut: strings are checked for surrogates only if an escape can make one."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fiko_billing import strict_json

# Text that sometimes holds a lone surrogate, a pair, or a backslash before a
# "ud800"-like run (an escaped backslash, which is no surrogate).
texts = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["\ud800", "\udfff", "\ud83d\ude00", "\\ud800", "x\udc00y", "\u00e9"]),
)
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), texts),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)
    ),
    max_leaves=20,
)


def has_surrogate(value: object) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(char) <= 0xDFFF for char in value)
    if isinstance(value, list):
        return any(has_surrogate(item) for item in value)
    if isinstance(value, dict):
        return any(has_surrogate(key) or has_surrogate(item) for key, item in value.items())
    return False


@settings(max_examples=300)
@given(value=values, ascii_only=st.booleans())
def test_a_lone_surrogate_is_refused_however_it_is_written(value, ascii_only):
    try:
        body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")
    except UnicodeEncodeError:
        body = None  # raw surrogates are no UTF-8: strict decoding refuses the body
    if body is None:
        return
    # What Python's own parser makes of it: an escaped pair becomes one character.
    parsed = json.loads(body)
    if has_surrogate(parsed):
        with pytest.raises(strict_json.JSONRejected, match="surrogate"):
            strict_json.loads(body)
    else:
        assert strict_json.loads(body) == parsed


def test_depth_is_still_bounded_without_the_text_walk():
    deep = b"[" * 65 + b"]" * 65
    with pytest.raises(strict_json.JSONRejected, match="deeper than 64"):
        strict_json.loads(deep)
    nested = b'{"a": ' * 65 + b"1" + b"}" * 65
    with pytest.raises(strict_json.JSONRejected, match="deeper than 64"):
        strict_json.loads(nested)
    assert strict_json.loads(b"[" * 64 + b"]" * 64) is not None


def test_text_given_as_str_is_always_walked():
    with pytest.raises(strict_json.JSONRejected, match="surrogate"):
        strict_json.loads('{"a": "\ud800"}')
