"""Hypothesis: a good JSON document with values replaced, removed or repeated anywhere.

What a hand-edited or half-corrupt SITE.json looks like; the site checks must turn each
into one clear error or a site that runs.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
CHANGES = ("replace", "remove", "repeat")


def mutated(data: st.DataObject, document: dict[str, Any], most: int = 3) -> Any:
    """A copy of `document` with 1 to `most` changes drawn from `data`."""
    changed: Any = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, most))):
        places = _places(changed)
        if not places:
            break
        *parents, last = data.draw(st.sampled_from(places))
        node = changed
        for key in parents:
            node = node[key]
        change = data.draw(st.sampled_from(CHANGES))
        if change == "replace":
            node[last] = data.draw(JSON_VALUES)
        elif change == "remove":
            del node[last]
        elif isinstance(node, list) and isinstance(last, int):
            node.append(copy.deepcopy(node[last]))
    return changed


def _places(node: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every place in a JSON document a value sits, the document's own root excepted."""
    if isinstance(node, dict):
        children: list[tuple[str | int, Any]] = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    else:
        children = []
    found = []
    for key, child in children:
        found.append((*prefix, key))
        found += _places(child, (*prefix, key))
    return found
