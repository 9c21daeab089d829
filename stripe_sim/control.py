"""The simulator's own JSON control API under `/_sim/`, for tests and curious people."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from stripe_sim.events import Delivery, Event, signature_header
from stripe_sim.faults import parse_fault
from stripe_sim.sessions import UnknownSession, WrongStatus
from stripe_sim.simulator import Simulator, State, check_config_changes
from stripe_sim.web import Request, Response, json_response, match, route

logger = logging.getLogger(__name__)

SESSION = "/_sim/sessions/(?P<session_id>[^/]+)"


class ControlError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def health(sim: Simulator, state: State, body: dict[str, Any]) -> Response:
    return _ok({"status": "ok"})


def reset(sim: Simulator, state: State, body: dict[str, Any]) -> Response:
    sim.reset()
    logger.info("state reset")
    return _ok({"reset": True})


def get_config(sim: Simulator, state: State, body: dict[str, Any]) -> Response:
    return _ok(sim.config.to_json())


def set_config(sim: Simulator, state: State, body: dict[str, Any]) -> Response:
    _check(check_config_changes, body)
    return _ok(sim.configure(**body).to_json())


def add_fault(sim: Simulator, state: State, body: dict[str, Any]) -> Response:
    fault = _check(parse_fault, body)
    state.faults.add(fault)
    logger.info("fault armed: %s", fault)
    return _ok({"armed": True})


def list_requests(sim: Simulator, state: State, body: dict[str, Any]) -> Response:
    return _ok(state.requests.all())


def list_sessions(sim: Simulator, state: State, body: dict[str, Any]) -> Response:
    return _ok([session.to_api() for session in state.sessions.all()])


def pay_session(sim: Simulator, state: State, body: dict[str, Any], session_id: str) -> Response:
    payment_status = body.get("payment_status", "paid")
    amount_total = body.get("amount_total")
    currency = body.get("currency")
    if payment_status not in ("paid", "unpaid"):
        raise ControlError(HTTPStatus.BAD_REQUEST, "payment_status must be 'paid' or 'unpaid'.")
    if amount_total is not None and (not isinstance(amount_total, int) or amount_total < 0):
        raise ControlError(HTTPStatus.BAD_REQUEST, "amount_total must be a non-negative integer.")
    if currency is not None and not (isinstance(currency, str) and len(currency) == 3):
        raise ControlError(HTTPStatus.BAD_REQUEST, "currency must be a three-letter code.")
    with _session_errors(session_id):
        session, event = sim.complete(state, session_id, payment_status, amount_total, currency)
    return _ok({"session": session.to_api(), "event_id": event.id})


def settle_session(sim: Simulator, state: State, body: dict[str, Any], session_id: str) -> Response:
    outcome = body.get("outcome")
    if outcome not in ("succeeded", "failed"):
        raise ControlError(HTTPStatus.BAD_REQUEST, "outcome must be 'succeeded' or 'failed'.")
    with _session_errors(session_id):
        session, event = sim.settle(state, session_id, succeeded=outcome == "succeeded")
    return _ok({"session": session.to_api(), "event_id": event.id})


def expire_session(sim: Simulator, state: State, body: dict[str, Any], session_id: str) -> Response:
    with _session_errors(session_id):
        session = sim.expire(state, session_id)
    return _ok({"session": session.to_api()})


def list_events(sim: Simulator, state: State, body: dict[str, Any]) -> Response:
    secret = sim.config.webhook_secret
    return _ok(
        [
            {
                "id": event.id,
                "type": event.type,
                "payload": event.payload,
                "signature": signature_header(event.payload, secret),
                "deliveries": [_delivery(d) for d in state.events.deliveries(event)],
            }
            for event in state.events.all()
        ]
    )


def flush_events(sim: Simulator, state: State, body: dict[str, Any]) -> Response:
    order = body.get("order", "created")
    if order not in ("created", "reverse"):
        raise ControlError(HTTPStatus.BAD_REQUEST, "order must be 'created' or 'reverse'.")
    results = sim.flush(state, newest_first=order == "reverse")
    return _ok({"deliveries": [_delivery(delivery, event) for event, delivery in results]})


def deliver_event(sim: Simulator, state: State, body: dict[str, Any], event_id: str) -> Response:
    event = state.events.get(event_id)
    if event is None:
        raise ControlError(HTTPStatus.NOT_FOUND, f"No such event: '{event_id}'")
    return _ok(_delivery(sim.deliver_now(state, event), event))


ROUTES = (
    route("GET", "/_sim/health", health),
    route("POST", "/_sim/reset", reset),
    route("GET", "/_sim/config", get_config),
    route("POST", "/_sim/config", set_config),
    route("POST", "/_sim/faults", add_fault),
    route("GET", "/_sim/requests", list_requests),
    route("GET", "/_sim/sessions", list_sessions),
    route("POST", f"{SESSION}/pay", pay_session),
    route("POST", f"{SESSION}/async", settle_session),
    route("POST", f"{SESSION}/expire", expire_session),
    route("GET", "/_sim/events", list_events),
    route("POST", "/_sim/events/flush", flush_events),
    route("POST", "/_sim/events/(?P<event_id>[^/]+)/deliver", deliver_event),
)


def handle(sim: Simulator, request: Request) -> Response:
    found = match(ROUTES, request.method, request.path)
    if found is None:
        return _error(HTTPStatus.NOT_FOUND, f"No such endpoint: {request.method} {request.path}")
    endpoint, path_args = found
    try:
        _refuse_other_sites(sim, request)
        return endpoint(sim, sim.state, _json_body(request), **path_args)
    except ControlError as exc:
        return _error(exc.status, str(exc))


def _refuse_other_sites(sim: Simulator, request: Request) -> None:
    """A page on another site must not drive the simulator from a developer's browser.

    A browser sends a cross-site form or `text/plain` POST without asking first, so a POST
    must be JSON (which a browser sends cross-site only after a preflight we never answer);
    and a request naming another origin is refused outright.
    """
    origin = request.header("Origin")
    if origin is not None and origin.rstrip("/") != _origin(sim.config.public_url):
        raise ControlError(HTTPStatus.FORBIDDEN, f"Requests from {origin} may not control this.")
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if request.method == "POST" and content_type != "application/json":
        raise ControlError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "The control API takes application/json only."
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _json_body(request: Request) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except ValueError as exc:
        raise ControlError(HTTPStatus.BAD_REQUEST, f"The body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ControlError(HTTPStatus.BAD_REQUEST, "The body must be a JSON object.")
    return body


def _check(validate: Any, body: dict[str, Any]) -> Any:
    try:
        return validate(body)
    except ValueError as exc:
        raise ControlError(HTTPStatus.BAD_REQUEST, str(exc)) from exc


@contextmanager
def _session_errors(session_id: str) -> Iterator[None]:
    """Turn the session store's refusals into control API errors."""
    try:
        yield
    except UnknownSession as exc:
        raise ControlError(
            HTTPStatus.NOT_FOUND, f"No such checkout.session: '{session_id}'"
        ) from exc
    except WrongStatus as exc:
        session = exc.session
        raise ControlError(
            HTTPStatus.BAD_REQUEST,
            f"Session {session.id} is {session.status}/{session.payment_status};"
            " that change is not possible from there.",
        ) from exc


def _delivery(delivery: Delivery, event: Event | None = None) -> dict[str, Any]:
    result = {"status": delivery.status, "error": delivery.error}
    return result if event is None else {"event_id": event.id, "type": event.type, **result}


def _ok(payload: Any) -> Response:
    return json_response(HTTPStatus.OK, payload)


def _error(status: HTTPStatus, message: str) -> Response:
    return json_response(status, {"error": message})
