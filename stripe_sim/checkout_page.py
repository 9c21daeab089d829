"""The hosted payment page at `/c/pay/<id>`: what a customer sees instead of Stripe Checkout."""

from __future__ import annotations

from html import escape
from http import HTTPStatus

from stripe_sim.sessions import CheckoutSession, UnknownSession, WrongStatus
from stripe_sim.simulator import Simulator
from stripe_sim.web import Request, Response, html_response, match, redirect, route

PAGE = "/c/pay/(?P<session_id>[^/]+)"
# Currencies Stripe counts in whole units, so 500 means 500 and not 5.00.
# fmt: off
ZERO_DECIMAL_CURRENCIES = frozenset((
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
    "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
))
# fmt: on
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem; }
.note { background: #fff4ce; border: 1px solid #e0c060; padding: .75rem; border-radius: 4px; }
table { width: 100%; border-collapse: collapse; margin: 1.5rem 0; }
td { padding: .4rem 0; border-bottom: 1px solid #ddd; } td.amount { text-align: right; }
.actions { display: flex; gap: 1rem; } button { font-size: 1rem; padding: .6rem 1.4rem; }
"""


def show(sim: Simulator, request: Request, session_id: str) -> Response:
    try:
        session = sim.state.sessions.get(session_id)
    except UnknownSession:
        return _not_found()
    if session.status != "open":
        return _inactive(session)
    return html_response(HTTPStatus.OK, _checkout_html(session))


def pay(sim: Simulator, request: Request, session_id: str) -> Response:
    try:
        session, _ = sim.complete(sim.state, session_id)
    except UnknownSession:
        return _not_found()
    except WrongStatus as exc:
        return _inactive(exc.session)
    return redirect(session.success_url.replace("{CHECKOUT_SESSION_ID}", session.id))


def cancel(sim: Simulator, request: Request, session_id: str) -> Response:
    try:
        session = sim.state.sessions.get(session_id)
    except UnknownSession:
        return _not_found()
    if session.status != "open" or session.cancel_url is None:
        return _inactive(session)
    # Like Stripe, leaving the page does not close the session; it stays open until it expires.
    return redirect(session.cancel_url)


ROUTES = (
    route("GET", PAGE, show),
    route("POST", f"{PAGE}/pay", pay),
    route("POST", f"{PAGE}/cancel", cancel),
)


def handle(sim: Simulator, request: Request) -> Response:
    found = match(ROUTES, request.method, request.path)
    if found is None:
        return _not_found()
    page, path_args = found
    return page(sim, request, **path_args)


def format_amount(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL_CURRENCIES:
        return f"{amount} {currency.upper()}"
    return f"{amount / 100:,.2f} {currency.upper()}"


def _checkout_html(session: CheckoutSession) -> str:
    rows = "".join(
        f"<tr><td>{escape(item.name)}"
        + (f"<br><small>{escape(item.description)}</small>" if item.description else "")
        + f"</td><td>&times; {item.quantity}</td>"
        f'<td class="amount">{format_amount(item.amount, item.currency)}</td></tr>'
        for item in session.line_items
    )
    cancel_form = (
        f'<form method="post" action="/c/pay/{session.id}/cancel">'
        '<button type="submit" data-testid="sim-cancel">Cancel</button></form>'
        if session.cancel_url
        else ""
    )
    body = (
        f"<h1>Pay {format_amount(session.amount_total, session.currency)}</h1>"
        f"<table>{rows}<tr><td><strong>Total</strong></td><td></td>"
        f'<td class="amount" data-testid="sim-total"><strong>'
        f"{format_amount(session.amount_total, session.currency)}</strong></td></tr></table>"
        '<div class="actions">'
        f'<form method="post" action="/c/pay/{session.id}/pay">'
        '<button type="submit" data-testid="sim-pay">Pay</button></form>'
        f"{cancel_form}</div>"
    )
    return _page("Checkout", body)


def _inactive(session: CheckoutSession) -> Response:
    body = (
        "<h1>This checkout session is no longer active</h1>"
        f'<p data-testid="sim-status">Session {escape(session.id)} is {escape(session.status)};'
        " nothing more can be done on this page.</p>"
    )
    return html_response(HTTPStatus.CONFLICT, _page("Checkout closed", body))


def _not_found() -> Response:
    return html_response(
        HTTPStatus.NOT_FOUND, _page("Not found", "<h1>No such checkout session</h1>")
    )


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Stripe simulator</title><style>{STYLE}</style></head><body>"
        '<p class="note" data-testid="sim-note">Stripe simulator: test mode, no card is'
        " charged and no money moves.</p>"
        f"{body}</body></html>"
    )
