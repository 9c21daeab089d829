"""The Stripe API surface (`/v1/...`): auth, injected faults, idempotency, then the endpoints."""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from stripe_sim.faults import Fault
from stripe_sim.forms import FormError, decode_form
from stripe_sim.idempotency import MAX_KEY_LENGTH, Lookup, Outcome, SavedResponse
from stripe_sim.params import ParamError, parse_session_create, reject_any
from stripe_sim.sessions import UnknownSession, WrongStatus
from stripe_sim.simulator import DEFAULT_API_VERSION, Simulator, State
from stripe_sim.web import DROPPED, Handler, Request, Response, json_response, match, route

logger = logging.getLogger(__name__)

API_KEY_PATTERN = re.compile(r"^(sk|rk)_test_[A-Za-z0-9_]+$")
REPLAYED_HEADER = ("Idempotent-Replayed", "true")


@dataclass(frozen=True)
class ApiCall:
    sim: Simulator
    state: State
    request: Request
    params: dict[str, Any]
    idempotency_key: str | None

    @property
    def api_version(self) -> str:
        return self.request.header("Stripe-Version") or DEFAULT_API_VERSION


def create_session(call: ApiCall) -> Response:
    now = call.sim.now()
    request = parse_session_create(call.params, now)
    session = call.state.sessions.create(request, call.sim.config.public_url, call.api_version, now)
    logger.info("created %s for %s %s", session.id, session.amount_total, session.currency)
    return json_response(HTTPStatus.OK, session.to_api())


def retrieve_session(call: ApiCall, session_id: str) -> Response:
    reject_any(call.params)
    try:
        session = call.state.sessions.get(session_id)
    except UnknownSession:
        return _no_such_session(session_id)
    return json_response(HTTPStatus.OK, session.to_api())


def expire_session(call: ApiCall, session_id: str) -> Response:
    reject_any(call.params)
    try:
        session = call.sim.expire(
            call.state, session_id, call.request.request_id, call.idempotency_key
        )
    except UnknownSession:
        return _no_such_session(session_id)
    except WrongStatus as exc:
        return stripe_error(
            HTTPStatus.BAD_REQUEST,
            "invalid_request_error",
            'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout'
            f' Session has a status of "{exc.session.status}".',
        )
    return json_response(HTTPStatus.OK, session.to_api())


ROUTES = (
    route("POST", "/v1/checkout/sessions", create_session),
    route("GET", "/v1/checkout/sessions/(?P<session_id>[^/]+)", retrieve_session),
    route("POST", "/v1/checkout/sessions/(?P<session_id>[^/]+)/expire", expire_session),
)


def stripe_error(
    status: HTTPStatus,
    error_type: str,
    message: str,
    code: str | None = None,
    param: str | None = None,
) -> Response:
    error = {"code": code, "message": message, "param": param, "type": error_type}
    return json_response(status, {"error": {k: v for k, v in error.items() if v is not None}})


def handle(sim: Simulator, request: Request) -> Response:
    received_at = time.monotonic()
    state = sim.state
    key = request.header("Idempotency-Key") if request.method == "POST" else None
    response = _answer(sim, state, request, key)
    status = None if response.drop else int(response.status)
    replayed = REPLAYED_HEADER in response.headers
    state.requests.record(request.method, request.path, key, status, replayed, received_at)
    return response


def _answer(sim: Simulator, state: State, request: Request, key: str | None) -> Response:
    api_key = _api_key(request)
    if not API_KEY_PATTERN.match(api_key):
        return _authentication_error(api_key)
    fault = state.faults.take(request.method, request.path)
    if fault is not None and fault.answers_without_executing:
        return _fail_before_executing(fault)
    found = match(ROUTES, request.method, request.path)
    if found is None:
        return stripe_error(
            HTTPStatus.NOT_FOUND,
            "invalid_request_error",
            f"Unrecognized request URL ({request.method}: {request.path}).",
        )
    try:
        params = _params(request)
    except FormError as exc:
        return _invalid(exc, exc.param)
    call = ApiCall(sim, state, request, params, key)
    scope = None if key is None else (api_key, key)
    return _run_idempotently(call, scope, *found, fault)


def _run_idempotently(
    call: ApiCall,
    scope: tuple[str, str] | None,
    endpoint: Handler,
    path_args: dict[str, str],
    fault: Fault | None,
) -> Response:
    """Replay or refuse a known key; otherwise run and save whatever came out of executing."""
    idempotency = call.state.idempotency
    if scope is not None:
        refusal = _claim(call, scope)
        if refusal is not None:
            return refusal
    try:
        response = _execute(endpoint, call, path_args, fault)
    except ParamError as exc:
        if scope is not None:
            idempotency.release(scope)
        return _invalid(exc, exc.param, exc.code)
    if scope is not None:
        idempotency.save(scope, response, call.request.request_id)
    return DROPPED if fault is not None and fault.drop else response


def _claim(call: ApiCall, scope: tuple[str, str]) -> Response | None:
    """Claim the idempotency key, or answer with the replay or the conflict instead."""
    key = scope[1]
    if len(key) > MAX_KEY_LENGTH:
        return stripe_error(
            HTTPStatus.BAD_REQUEST,
            "invalid_request_error",
            f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters long.",
        )
    endpoint = f"{call.request.method} {call.request.path}"
    lookup = call.state.idempotency.begin(scope, endpoint, call.params)
    if lookup.outcome is Outcome.CLAIMED:
        return None
    if lookup.outcome is Outcome.REPLAY:
        assert lookup.saved is not None
        return _replay(lookup.saved)
    return _idempotency_error(lookup, key, endpoint)


def _execute(
    endpoint: Handler, call: ApiCall, path_args: dict[str, str], fault: Fault | None
) -> Response:
    """Run the endpoint. Past validation the request counts as executed, whatever happens next."""
    try:
        response = endpoint(call, **path_args)
    except ParamError:
        raise
    except Exception:
        logger.exception("%s %s failed", call.request.method, call.request.path)
        response = _error_for_status(HTTPStatus.INTERNAL_SERVER_ERROR, executed=True)
    if fault is None:
        return response
    time.sleep(fault.delay)
    return response if fault.status is None else _error_for_status(fault.status, executed=True)


def _fail_before_executing(fault: Fault) -> Response:
    time.sleep(fault.delay)
    if fault.drop:
        return DROPPED
    assert fault.status is not None  # answers_without_executing: a drop or a status
    return _error_for_status(fault.status, executed=False)


def _invalid(exc: Exception, param: str | None, code: str | None = None) -> Response:
    return stripe_error(HTTPStatus.BAD_REQUEST, "invalid_request_error", str(exc), code, param)


def _params(request: Request) -> dict[str, Any]:
    raw = request.body if request.method == "POST" else request.query.encode()
    try:
        return decode_form(raw.decode())
    except UnicodeDecodeError as exc:
        raise FormError("Invalid request body: it is not UTF-8.", "") from exc


def _api_key(request: Request) -> str:
    """The key from `Bearer <key>`, or the Basic auth user name `curl -u sk_test_...:` sends."""
    scheme, _, credentials = (request.header("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credentials, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return ""


def _authentication_error(api_key: str) -> Response:
    if not api_key:
        message = (
            "You did not provide an API key. You need to provide your API key in the"
            " Authorization header, using Bearer auth (e.g. 'Authorization: Bearer"
            " YOUR_SECRET_KEY')."
        )
    else:
        masked = api_key[:8] + "*" * max(len(api_key) - 12, 0) + api_key[-4:]
        message = (
            f"Invalid API Key provided: {masked}."
            " Only test mode keys (sk_test_, rk_test_) work here."
        )
    return stripe_error(HTTPStatus.UNAUTHORIZED, "invalid_request_error", message)


def _no_such_session(session_id: str) -> Response:
    return stripe_error(
        HTTPStatus.NOT_FOUND,
        "invalid_request_error",
        f"No such checkout.session: '{session_id}'",
        "resource_missing",
        "session",
    )


def _replay(saved: SavedResponse) -> Response:
    return saved.response.with_headers(REPLAYED_HEADER, ("Original-Request", saved.request_id))


def _idempotency_error(lookup: Lookup, key: str, endpoint: str) -> Response:
    if lookup.outcome is Outcome.IN_FLIGHT:
        response = stripe_error(
            HTTPStatus.CONFLICT,
            "idempotency_error",
            "There is currently another in-progress request using this idempotent key (that"
            " probably means you submitted twice, and the other request is still going"
            f" through): {key}. Please try again later.",
            "idempotency_key_in_use",
        )
        return response.with_headers(("Stripe-Should-Retry", "true"))
    if lookup.outcome is Outcome.OTHER_ENDPOINT:
        message = (
            "Keys for idempotent requests can only be used for the same endpoint they were"
            f" first used for ('{lookup.first_endpoint}' vs '{endpoint}')."
        )
    else:
        message = (
            "Keys for idempotent requests can only be used with the same parameters they were"
            " first used with."
        )
    message += f" Try using a key other than '{key}' if you meant to execute a different request."
    return stripe_error(HTTPStatus.BAD_REQUEST, "idempotency_error", message)


def _error_for_status(status: HTTPStatus, executed: bool) -> Response:
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        return stripe_error(
            status,
            "rate_limit_error",
            "Too many requests hit the API too quickly. We recommend an exponential backoff of"
            " your requests.",
            "rate_limit",
        )
    if status < HTTPStatus.INTERNAL_SERVER_ERROR:
        return stripe_error(status, "invalid_request_error", f"Simulated {status.phrase} error.")
    response = stripe_error(status, "api_error", "An unknown error occurred (simulated).")
    # Once the request executed, retrying only replays this answer; before that a retry is safe.
    return response.with_headers(("Stripe-Should-Retry", "false" if executed else "true"))
