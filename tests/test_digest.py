"""Canonical JSON hashes: the list hash made item by item equals the hash of the whole."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agentos.digest import canonical_json, canonical_list_sha256

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(items=st.lists(json_values, max_size=6))
def test_the_list_hash_is_the_hash_of_the_canonical_list(items: list[Any]) -> None:
    assert canonical_list_sha256(items) == hashlib.sha256(canonical_json(items)).hexdigest()
    assert canonical_list_sha256(iter(items)) == canonical_list_sha256(items)
