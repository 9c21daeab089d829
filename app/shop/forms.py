from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django import forms
from django.core import signing

from shop.models import MAX_QUANTITY, Product

# A page left open longer than a day asks for a reload rather than a payment.
FORM_TOKEN_MAX_AGE = timedelta(days=1)
BUY_FORM_SALT = "shop.buy-form"


def issue_form_token(product_id: int, visitor: str) -> str:
    """A fresh one-time token for one rendered Buy form, bound to its product and its visitor.

    Nothing is stored: rendering the page writes no row; the order's unique form_token
    column is what makes a token one-time. A first-time visitor's forms name the visitor
    id they will get, so racing first posts from one page all act as the same buyer.
    """
    signer = signing.TimestampSigner(salt=BUY_FORM_SALT)
    return signer.sign(f"{product_id}-{uuid.uuid4().hex}-{visitor}")


def new_visitor_id() -> str:
    return uuid.uuid4().hex


class BuyForm(forms.Form):
    product_id = forms.IntegerField(
        widget=forms.HiddenInput,
        error_messages={
            "required": "Choose a product to buy.",
            "invalid": "That product is not for sale.",
        },
    )
    quantity = forms.IntegerField(
        min_value=1,
        max_value=MAX_QUANTITY,
        initial=1,
        error_messages={
            "required": f"Choose a quantity from 1 to {MAX_QUANTITY}.",
            "invalid": f"Choose a quantity from 1 to {MAX_QUANTITY}.",
            "min_value": f"Choose a quantity from 1 to {MAX_QUANTITY}.",
            "max_value": f"You can buy at most {MAX_QUANTITY} at a time.",
        },
    )
    token = forms.CharField(
        widget=forms.HiddenInput,
        max_length=200,
        error_messages={"required": "This form is not valid. Please try again."},
    )

    def clean_product_id(self) -> Product:
        product = Product.objects.filter(pk=self.cleaned_data["product_id"], active=True).first()
        if product is None:
            raise forms.ValidationError("That product is not for sale.")
        return product

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        product, token = cleaned.get("product_id"), cleaned.get("token")
        if product is None or token is None:
            return cleaned
        try:
            value = signing.TimestampSigner(salt=BUY_FORM_SALT).unsign(
                token, max_age=FORM_TOKEN_MAX_AGE
            )
        except signing.SignatureExpired:
            raise forms.ValidationError("This page is too old. Please try again.") from None
        except signing.BadSignature:
            raise forms.ValidationError("This form is not valid. Please try again.") from None
        product_id, token_hex, visitor = value.split("-")
        if product_id != str(product.pk):
            raise forms.ValidationError("This form is not valid. Please try again.")
        cleaned["form_token"] = uuid.UUID(token_hex)
        cleaned["visitor"] = visitor
        return cleaned

    @property
    def product(self) -> Product:
        return self.cleaned_data["product_id"]
