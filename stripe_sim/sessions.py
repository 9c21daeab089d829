"""Checkout Sessions and their lifecycle: open -> complete (paid or unpaid) or expired.

Sessions are immutable snapshots; every change replaces the stored snapshot under one lock,
so two concurrent payments of one session cannot both succeed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from stripe_sim.ids import new_id
from stripe_sim.params import LineItem, SessionCreate

DEFAULT_LIFETIME_SECONDS = 24 * 60 * 60


class UnknownSession(LookupError):
    pass


class WrongStatus(Exception):
    """The session is not in a state that allows the requested change."""

    def __init__(self, session: CheckoutSession) -> None:
        super().__init__(session.id)
        self.session = session


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    created: int
    expires_at: int
    line_items: tuple[LineItem, ...]
    currency: str
    amount_subtotal: int
    amount_total: int
    success_url: str
    cancel_url: str | None
    client_reference_id: str | None
    metadata: dict[str, str]
    customer_email: str | None
    payment_method_types: tuple[str, ...]
    submit_type: str | None
    locale: str | None
    hosted_url: str
    api_version: str
    status: str = "open"
    payment_status: str = "unpaid"
    payment_intent: str | None = None
    customer_details: dict[str, Any] | None = None

    def to_api(self) -> dict[str, Any]:
        """The session as Stripe's API returns it (line items are only listed on request)."""
        return {
            "id": self.id,
            "object": "checkout.session",
            "amount_subtotal": self.amount_subtotal,
            "amount_total": self.amount_total,
            "cancel_url": self.cancel_url,
            "client_reference_id": self.client_reference_id,
            "created": self.created,
            "currency": self.currency,
            "customer_details": self.customer_details,
            "customer_email": self.customer_email,
            "expires_at": self.expires_at,
            "livemode": False,
            "locale": self.locale,
            "metadata": dict(self.metadata),
            "mode": "payment",
            "payment_intent": self.payment_intent,
            "payment_method_types": list(self.payment_method_types),
            "payment_status": self.payment_status,
            "status": self.status,
            "submit_type": self.submit_type,
            "success_url": self.success_url,
            "ui_mode": "hosted",
            "url": self.hosted_url if self.status == "open" else None,
        }


class SessionStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, CheckoutSession] = {}

    def create(
        self, request: SessionCreate, public_url: str, api_version: str, now: int
    ) -> CheckoutSession:
        session_id = new_id("cs_test_", 58)
        items = request.line_items
        total = sum(item.amount for item in items)
        session = CheckoutSession(
            id=session_id,
            created=now,
            expires_at=request.expires_at or now + DEFAULT_LIFETIME_SECONDS,
            line_items=items,
            currency=items[0].currency,
            amount_subtotal=total,
            amount_total=total,
            success_url=request.success_url,
            cancel_url=request.cancel_url,
            client_reference_id=request.client_reference_id,
            metadata=dict(request.metadata),
            customer_email=request.customer_email,
            payment_method_types=request.payment_method_types,
            submit_type=request.submit_type,
            locale=request.locale,
            hosted_url=f"{public_url}/c/pay/{session_id}",
            api_version=api_version,
        )
        with self._lock:
            self._sessions[session_id] = session
        return session

    def get(self, session_id: str) -> CheckoutSession:
        with self._lock:
            if session_id not in self._sessions:
                raise UnknownSession(session_id)
            return self._sessions[session_id]

    def all(self) -> list[CheckoutSession]:
        with self._lock:
            return list(self._sessions.values())

    def expire(self, session_id: str) -> CheckoutSession:
        return self._update(
            session_id, _is_open, lambda session: replace(session, status="expired")
        )

    def complete(
        self,
        session_id: str,
        payment_status: str = "paid",
        amount_total: int | None = None,
        currency: str | None = None,
    ) -> CheckoutSession:
        def pay(session: CheckoutSession) -> CheckoutSession:
            return replace(
                session,
                status="complete",
                payment_status=payment_status,
                payment_intent=new_id("pi_"),
                amount_total=session.amount_total if amount_total is None else amount_total,
                currency=currency or session.currency,
                customer_details={"email": session.customer_email, "name": None, "phone": None},
            )

        return self._update(session_id, _is_open, pay)

    def settle(self, session_id: str, succeeded: bool) -> CheckoutSession:
        """Finish a delayed payment (bank debit and the like) of a complete, unpaid session."""
        payment_status = "paid" if succeeded else "unpaid"
        return self._update(
            session_id,
            _awaits_payment,
            lambda session: replace(session, payment_status=payment_status),
        )

    def _update(
        self,
        session_id: str,
        allowed: Callable[[CheckoutSession], bool],
        change: Callable[[CheckoutSession], CheckoutSession],
    ) -> CheckoutSession:
        with self._lock:
            if session_id not in self._sessions:
                raise UnknownSession(session_id)
            session = self._sessions[session_id]
            if not allowed(session):
                raise WrongStatus(session)
            self._sessions[session_id] = change(session)
            return self._sessions[session_id]


def _is_open(session: CheckoutSession) -> bool:
    return session.status == "open"


def _awaits_payment(session: CheckoutSession) -> bool:
    return session.status == "complete" and session.payment_status == "unpaid"
