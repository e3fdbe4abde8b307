"""The JSON check on attribs: whatever hypothesis builds, a clear TypeError or a clean pass."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobman.jsonsafe import MAX_DEPTH, ensure_json

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(
                alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@given(
    st.dictionaries(
        st.text(max_size=5).filter(
            lambda s: "\x00" not in s and not any(0xD800 <= ord(c) <= 0xDFFF for c in s)
        ),
        json_values,
        max_size=5,
    )
)
def test_ensure_json__accepts_what_json_round_trips(value: dict[str, object]) -> None:
    ensure_json(value)
    json.dumps(value)


@given(json_values, st.sampled_from([object(), {1, 2}, b"bytes", 1 + 2j, float("inf")]))
def test_ensure_json__names_where_a_bad_value_sits(good: object, bad: object) -> None:
    with pytest.raises(TypeError, match=r"attribs\['outer'\]\[1\]\['x'\]"):
        ensure_json({"outer": [good, {"x": bad}]})


def test_ensure_json__refuses_deep_nesting_without_recursion_error() -> None:
    value: object = "leaf"
    for _ in range(MAX_DEPTH * 50):
        value = [value]
    with pytest.raises(TypeError, match=f"nested deeper than {MAX_DEPTH} levels"):
        ensure_json({"deep": value})


def test_ensure_json__refuses_lone_surrogates() -> None:
    with pytest.raises(TypeError, match=r"attribs\['s'\] is not valid Unicode"):
        ensure_json({"s": "\ud800"})
