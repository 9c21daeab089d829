"""Decoding of Stripe's form bodies, where `a[b][0][c]=v` spells nested objects and arrays.

The result is a tree of dicts keyed by the raw segments ("0", "1" included): only the
parameter schema knows whether a node is an array or a hash, so `params` decides that.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

MAX_FIELDS = 1000
KEY_PATTERN = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
SEGMENT_PATTERN = re.compile(r"\[([^\[\]]*)\]")


class FormError(ValueError):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def decode_form(body: str) -> dict[str, Any]:
    try:
        pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise FormError(f"Invalid request body: {exc}", "") from exc
    tree: dict[str, Any] = {}
    for key, value in pairs:
        _insert(tree, _segments(key), value, key)
    return tree


def _segments(key: str) -> list[str]:
    found = KEY_PATTERN.match(key)
    if not found:
        raise FormError(f"Invalid parameter name: {key}", key)
    return [found.group(1), *SEGMENT_PATTERN.findall(found.group(2))]


def _insert(tree: dict[str, Any], segments: list[str], value: str, key: str) -> None:
    node = tree
    for position, segment in enumerate(segments):
        # `a[]=x&a[]=y` appends, as Rack and Stripe's own clients read it.
        name = segment if segment else str(len(node))
        if position == len(segments) - 1:
            if isinstance(node.get(name), dict):
                raise FormError(f"Invalid parameter: {key} is both a value and a hash", key)
            node[name] = value
            return
        child = node.setdefault(name, {})
        if not isinstance(child, dict):
            raise FormError(f"Invalid parameter: {key} is both a value and a hash", key)
        node = child
