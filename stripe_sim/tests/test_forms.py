from __future__ import annotations

import pytest

from stripe_sim.forms import FormError, decode_form


def test_bracketed_keys_become_nested_dicts_keyed_by_segment():
    body = (
        "mode=payment&line_items[0][quantity]=2"
        "&line_items[0][price_data][product_data][name]=Blue+mug"
        "&line_items[1][quantity]=1&metadata[order_id]=42"
    )

    assert decode_form(body) == {
        "mode": "payment",
        "line_items": {
            "0": {"quantity": "2", "price_data": {"product_data": {"name": "Blue mug"}}},
            "1": {"quantity": "1"},
        },
        "metadata": {"order_id": "42"},
    }


def test_percent_encoded_brackets_decode_like_literal_ones():
    assert decode_form("metadata%5Border_id%5D=42") == {"metadata": {"order_id": "42"}}


def test_empty_brackets_append_in_order():
    assert decode_form("types[]=card&types[]=link") == {"types": {"0": "card", "1": "link"}}


def test_blank_values_are_kept_because_stripe_reads_them_as_unset():
    assert decode_form("metadata[note]=") == {"metadata": {"note": ""}}


@pytest.mark.parametrize("body", ["a=1&a[b]=2", "a[b]=2&a=1"])
def test_a_key_cannot_be_both_a_value_and_a_hash(body):
    with pytest.raises(FormError) as error:
        decode_form(body)

    assert error.value.param.startswith("a")


def test_malformed_brackets_are_rejected():
    with pytest.raises(FormError):
        decode_form("line_items[0=1")
