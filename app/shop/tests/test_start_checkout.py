"""Buy Now: one rendered form becomes at most one order and one Checkout Session."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.conf import settings
from django.core.management.color import no_style
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from shop.models import Order, Product
from shop.tests.helpers import buy, buy_form, cancel_path, flashes, requires_postgres, session_id_of
from shop.tests.stack import Simulator

pytestmark = pytest.mark.django_db


def test_buy_now_opens_checkout_for_a_pending_order_priced_on_the_server(
    client: Client, simulator: Simulator, product: Product
) -> None:
    response = buy(client, product, quantity=2)

    assert response.status_code == HTTPStatus.SEE_OTHER
    order = Order.objects.get()
    assert (order.status, order.quantity, order.amount_cents) == ("pending", 2, 3000)
    assert response["Location"] == order.stripe_session_url
    [session] = simulator.sessions()
    assert session["id"] == order.stripe_session_id == session_id_of(response)
    assert session["amount_total"] == 3000 and session["currency"] == "usd"
    assert session["client_reference_id"] == str(order.pk)
    assert session["metadata"] == {"order_id": str(order.pk)}
    assert session["success_url"] == (
        "http://testserver/checkout/success/?session_id={CHECKOUT_SESSION_ID}"
    )
    assert session["cancel_url"].startswith(f"http://testserver/checkout/cancel/{order.pk}:")
    assert session["expires_at"] == int(order.checkout_expires_at.timestamp())
    assert order.checkout_expires_at - timezone.now() > timedelta(minutes=30)


def test_a_price_or_amount_in_the_post_is_ignored(
    client: Client, simulator: Simulator, product: Product
) -> None:
    buy(client, product, quantity=3, amount_cents="1", price_cents="1", unit_amount="1")
    order = Order.objects.get()
    assert order.amount_cents == 4500
    assert simulator.sessions()[0]["amount_total"] == 4500


def test_the_idempotency_key_names_the_orders_random_key_not_its_id(
    client: Client, simulator: Simulator, product: Product
) -> None:
    buy(client, product)
    buy(client, product)
    first, second = Order.objects.order_by("pk")
    keys = [request["idempotency_key"] for request in simulator.requests()]
    assert keys == [
        f"{settings.STRIPE_IDEMPOTENCY_PREFIX}-checkout-{order.checkout_key}-0"
        for order in (first, second)
    ]
    assert first.checkout_key != second.checkout_key
    assert not any(f"-{order.pk}-" in key for order, key in zip((first, second), keys, strict=True))


def test_after_a_wipe_that_repeats_order_ids_a_new_order_gets_a_new_session(
    client: Client, simulator: Simulator, product: Product
) -> None:
    _wipe_orders()
    buy(client, product)
    before = Order.objects.get()
    _wipe_orders()

    # Stripe, still running, keeps every key of the wiped database for 24 hours.
    response = buy(client, product)

    assert response.status_code == HTTPStatus.SEE_OTHER
    after = Order.objects.get()
    assert after.pk == before.pk
    assert session_id_of(response) == after.stripe_session_id != before.stripe_session_id
    assert len(simulator.sessions()) == 2


def _wipe_orders() -> None:
    """What a wiped database does to orders: none left, and ids counted again from 1."""
    Order.objects.all().delete()
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_by_name_sql(
            no_style(), [{"table": Order._meta.db_table, "column": "id"}]
        ):
            cursor.execute(sql)


def test_the_same_form_posted_again_reuses_the_order_and_its_session(
    client: Client, simulator: Simulator, product: Product
) -> None:
    form = buy_form(client, product)
    first = client.post("/checkout/", form)
    again = client.post("/checkout/", form)
    assert first["Location"] == again["Location"]
    assert Order.objects.count() == 1
    assert len(simulator.requests()) == 1


def test_a_fresh_form_for_the_same_product_is_a_new_order(
    client: Client, simulator: Simulator, product: Product
) -> None:
    first = buy(client, product)
    second = buy(client, product)
    assert first["Location"] != second["Location"]
    assert Order.objects.count() == 2
    assert len({o.visitor for o in Order.objects.all()}) == 1


@pytest.mark.parametrize(
    ("finish", "message"),
    [
        ("pay", "That order is already paid."),
        ("expire", "That checkout expired."),
    ],
)
def test_the_same_form_after_the_order_is_settled_goes_back_with_a_message(
    client: Client, simulator: Simulator, product: Product, finish: str, message: str
) -> None:
    form = buy_form(client, product)
    session_id = session_id_of(client.post("/checkout/", form))
    getattr(simulator, finish)(session_id)
    client.get(f"/checkout/success/?session_id={session_id}")
    client.get("/")  # the success page's own message

    again = client.post("/checkout/", form)

    assert again.status_code == HTTPStatus.SEE_OTHER and again["Location"] == "/"
    assert any(message in text for text in flashes(client.get("/")))
    assert Order.objects.count() == 1 and len(simulator.requests()) == 1


@requires_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_racing_posts_of_one_form_make_one_order_and_one_session(
    simulator: Simulator, product: Product
) -> None:
    first_visit = Client()
    form = buy_form(first_visit, product)

    def post(_: int) -> tuple[int, str]:
        try:
            # One page's clicks: they all carry the cookie that page set.
            clicker = Client()
            clicker.cookies = copy.deepcopy(first_visit.cookies)
            response = clicker.post("/checkout/", form)
            return response.status_code, response["Location"]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(20)))

    order = Order.objects.get()
    assert set(answers) == {(HTTPStatus.SEE_OTHER, order.stripe_session_url)}
    assert len(simulator.requests()) == 1
    assert len(simulator.sessions()) == 1


def test_a_form_taken_by_another_visitor_is_refused(
    client: Client, simulator: Simulator, product: Product
) -> None:
    form = buy_form(client, product)
    client.post("/checkout/", form)
    stranger = Client()
    buy(stranger, product)  # the stranger now has a visitor id of their own

    response = stranger.post("/checkout/", {**form, "csrfmiddlewaretoken": ""})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "This form is not valid. Please try again." in " ".join(flashes(response))
    assert f'value="{form["token"]}"' not in response.content.decode()
    assert Order.objects.count() == 2


@pytest.mark.parametrize("used", [False, True], ids=["unused-token", "used-token"])
@pytest.mark.parametrize("has_session", [False, True], ids=["no-session", "own-session"])
def test_posting_someone_elses_token_grants_none_of_their_identity(
    client: Client, simulator: Simulator, product: Product, used: bool, has_session: bool
) -> None:
    form = buy_form(client, product)
    if used:
        client.post("/checkout/", form)
    orders_before = Order.objects.count()
    attacker = Client()
    if has_session:
        attacker.get("/")

    response = attacker.post("/checkout/", form)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert Order.objects.count() == orders_before
    assert 'data-testid="order-row"' not in attacker.get("/").content.decode()
    assert attacker.session["visitor"] != client.session["visitor"]
    if used:
        order = Order.objects.get()
        assert attacker.get(cancel_path(simulator, order)).status_code == HTTPStatus.NOT_FOUND
        assert Order.objects.get().status == "pending"


def test_a_token_does_not_carry_the_visitors_id(client: Client, product: Product) -> None:
    form = buy_form(client, product)
    assert client.session["visitor"] not in form["token"]


def test_a_post_without_a_session_cookie_creates_nothing(
    client: Client, simulator: Simulator, product: Product
) -> None:
    form = buy_form(client, product)
    client.cookies.pop("sessionid")

    response = client.post("/checkout/", form)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Your session expired before the form was sent." in " ".join(flashes(response))
    assert Order.objects.count() == 0 and simulator.requests() == []


def test_the_same_form_with_another_quantity_is_refused(
    client: Client, simulator: Simulator, product: Product
) -> None:
    form = buy_form(client, product)
    client.post("/checkout/", {**form, "quantity": "2"})
    response = client.post("/checkout/", {**form, "quantity": "5"})
    assert response.status_code == HTTPStatus.CONFLICT
    assert Order.objects.get().quantity == 2
    assert len(simulator.requests()) == 1


def test_the_same_form_after_its_session_expired_says_so_instead_of_sending_to_stripe(
    client: Client, simulator: Simulator, product: Product
) -> None:
    form = buy_form(client, product)
    session_id = session_id_of(client.post("/checkout/", form))
    simulator.expire(session_id)
    Order.objects.update(checkout_expires_at=timezone.now() - timedelta(minutes=1))

    again = client.post("/checkout/", form)

    assert again["Location"] == "/"
    assert Order.objects.get().status == "expired"
    assert any("That checkout expired." in text for text in flashes(client.get("/")))


def test_buy_now_costs_a_fixed_number_of_queries_and_the_same_form_again_fewer(
    client: Client, simulator: Simulator, product: Product
) -> None:
    def statements(captured: CaptureQueriesContext) -> list[str]:
        # Savepoints here are BEGIN and COMMIT in production; only the work is counted.
        return [
            query["sql"].split(None, 1)[0]
            for query in captured
            if "SAVEPOINT" not in query["sql"].upper()
        ]

    form = buy_form(client, product)
    with CaptureQueriesContext(connection) as new_order:
        client.post("/checkout/", form)
    with CaptureQueriesContext(connection) as again:
        client.post("/checkout/", form)

    # The product, the token, the two throttle counts, the insert; then, row locked, the
    # session saved and read back.
    assert statements(new_order) == ["SELECT"] * 4 + ["INSERT", "SELECT", "UPDATE", "SELECT"]
    assert statements(again) == ["SELECT"] * 3
    assert Order.objects.count() == 1
