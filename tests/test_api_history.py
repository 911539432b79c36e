"""GET tokens/transactions/ and GET payments/: the subscriber's own history, paginated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from fiko_billing import tokens
from fiko_billing.models import PaymentKind, PaymentStatus, TokenEntry
from tests.factories import PaymentFactory, SubscriberFactory
from tests.resolvers import bearer_client
from tests.test_openapi import documented

TRANSACTIONS = "/billing/tokens/transactions/"
PAYMENTS = "/billing/payments/"
T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


@pytest.fixture
def api(client, settings, db):
    return bearer_client(client, settings, SubscriberFactory())


def at(minutes):
    return time_machine.travel(T0 + timedelta(minutes=minutes), tick=False)


def credits(subscriber, count, *, first_minute=0):
    """``count`` purchases, one a minute, of 1, 2, 3 … tokens; oldest first."""
    entries = []
    for n in range(count):
        with at(first_minute + n):
            entries.append(
                tokens.credit(subscriber, n + 1, kind="purchase", reference=f"cs_test_{n:04d}")
            )
    return entries


def payments(subscriber, count, *, first_minute=0):
    rows = []
    for n in range(count):
        with at(first_minute + n):
            rows.append(PaymentFactory(subscriber=subscriber, amount=100 * (n + 1)))
    return rows


# ---------------------------------------------------------------------- tokens/transactions/


@pytest.mark.django_db
def test_transactions_are_the_subscribers_own_newest_first(api):
    with at(0):
        purchase = tokens.credit(
            api.subscriber, 1_000, kind="purchase", reference="cs_test_a", description="10k pack"
        )
    with at(1):
        grant = tokens.credit(
            api.subscriber,
            500,
            kind="grant",
            reference="in_1",
            expires_at=T0 + timedelta(days=30),
        )
    with at(2):
        spent = tokens.consume(api.subscriber, 700, reference="job-1", description="Report")
    with at(3):
        tokens.credit(SubscriberFactory(), 5, kind="purchase", reference="cs_test_a")
    with at(4):
        response = api.get(TRANSACTIONS)
    assert response.status_code == 200
    assert documented(response) == {
        "page": 1,
        "page_size": 20,
        "next_page": None,
        "previous_page": None,
        "results": [
            {
                "id": spent.pk,
                "kind": "consume",
                "amount": -700,
                "balance_after": 800,
                "description": "Report",
                "reference": "job-1",
                "expires_at": None,
                "created": "2026-01-05T09:32:00+00:00",
            },
            {
                "id": grant.pk,
                "kind": "grant",
                "amount": 500,
                "balance_after": 1_500,
                "description": "",
                "reference": "in_1",
                "expires_at": "2026-02-04T09:30:00+00:00",
                "created": "2026-01-05T09:31:00+00:00",
            },
            {
                "id": purchase.pk,
                "kind": "purchase",
                "amount": 1_000,
                "balance_after": 1_000,
                "description": "10k pack",
                "reference": "cs_test_a",
                "expires_at": None,
                "created": "2026-01-05T09:30:00+00:00",
            },
        ],
    }


@pytest.mark.django_db
def test_transactions_in_the_same_instant_are_newest_id_first(api):
    with at(0):
        first = tokens.credit(api.subscriber, 1, kind="purchase", reference="a")
        second = tokens.credit(api.subscriber, 2, kind="purchase", reference="b")
    ids = [r["id"] for r in documented(api.get(TRANSACTIONS))["results"]]
    assert ids == [second.pk, first.pk]


@pytest.mark.django_db
def test_transactions_of_a_new_subscriber_are_empty(api):
    assert documented(api.get(TRANSACTIONS)) == {
        "page": 1,
        "page_size": 20,
        "next_page": None,
        "previous_page": None,
        "results": [],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "amounts", "next_page", "previous_page"),
    [
        ("", [5, 4, 3, 2, 1], None, None),
        ("?page_size=2", [5, 4], 2, None),
        ("?page_size=2&page=2", [3, 2], 3, 1),
        ("?page_size=2&page=3", [1], None, 2),
        ("?page_size=2&page=4", [], None, 3),
        ("?page_size=5", [5, 4, 3, 2, 1], None, None),
        ("?page_size=4&page=2", [1], None, 1),
        ("?page_size=100", [5, 4, 3, 2, 1], None, None),
        ("?page=1&page_size=1", [5], 2, None),
    ],
)
def test_transactions_pagination(api, query, amounts, next_page, previous_page):
    credits(api.subscriber, 5)
    credits(SubscriberFactory(), 3)
    body = documented(api.get(TRANSACTIONS + query))
    assert [r["amount"] for r in body["results"]] == amounts
    assert (body["next_page"], body["previous_page"]) == (next_page, previous_page)


@pytest.mark.django_db
@pytest.mark.parametrize("page_size", [1, 100])
def test_transactions_query_count_does_not_grow_with_the_page(
    api, django_assert_num_queries, page_size
):
    credits(api.subscriber, 120)
    # resolver, entries
    with django_assert_num_queries(2):
        response = api.get(f"{TRANSACTIONS}?page_size={page_size}")
    assert len(documented(response)["results"]) == page_size
    assert TokenEntry.objects.count() == 120


# ---------------------------------------------------------------------- payments/


@pytest.mark.django_db
def test_payments_are_the_subscribers_own_newest_first(api):
    with at(0):
        package = PaymentFactory(
            subscriber=api.subscriber,
            amount=5_000,
            currency="jpy",
            tokens=100_000,
            quantity=2,
            status=PaymentStatus.SUCCEEDED,
            stripe_checkout_session_id="cs_test_pkg",
            fulfilled_at=T0 + timedelta(seconds=30),
        )
    with at(60):
        renewal = PaymentFactory(
            subscriber=api.subscriber,
            kind=PaymentKind.RENEWAL,
            package=None,
            amount=1_000,
            amount_discount=250,
            amount_refunded=250,
            currency="usd",
            tokens=10_000,
            status=PaymentStatus.PARTIALLY_REFUNDED,
            stripe_checkout_session_id=None,
            stripe_invoice_id="in_1",
            hosted_invoice_url="https://invoice.stripe.com/i/in_1",
        )
    with at(61):
        PaymentFactory()  # someone else's
    response = api.get(PAYMENTS)
    assert response.status_code == 200
    assert documented(response) == {
        "page": 1,
        "page_size": 20,
        "next_page": None,
        "previous_page": None,
        "results": [
            {
                "id": renewal.pk,
                "kind": "renewal",
                "status": "partially_refunded",
                "amount": 1_000,
                "amount_discount": 250,
                "amount_refunded": 250,
                "currency": "usd",
                "display": "$10.00",
                "tokens": 10_000,
                "quantity": 1,
                "checkout_session_id": None,
                "hosted_invoice_url": "https://invoice.stripe.com/i/in_1",
                "created": "2026-01-05T10:30:00+00:00",
                "fulfilled_at": None,
            },
            {
                "id": package.pk,
                "kind": "token_package",
                "status": "succeeded",
                "amount": 5_000,
                "amount_discount": 0,
                "amount_refunded": 0,
                "currency": "jpy",
                "display": "¥5,000",
                "tokens": 100_000,
                "quantity": 2,
                "checkout_session_id": "cs_test_pkg",
                "hosted_invoice_url": None,
                "created": "2026-01-05T09:30:00+00:00",
                "fulfilled_at": "2026-01-05T09:30:30+00:00",
            },
        ],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "amounts", "next_page", "previous_page"),
    [
        ("", [300, 200, 100], None, None),
        ("?page_size=2", [300, 200], 2, None),
        ("?page_size=2&page=2", [100], None, 1),
        ("?page_size=3&page=2", [], None, 1),
    ],
)
def test_payments_pagination(api, query, amounts, next_page, previous_page):
    payments(api.subscriber, 3)
    payments(SubscriberFactory(), 2)
    body = documented(api.get(PAYMENTS + query))
    assert [r["amount"] for r in body["results"]] == amounts
    assert (body["next_page"], body["previous_page"]) == (next_page, previous_page)


@pytest.mark.django_db
@pytest.mark.parametrize("page_size", [1, 100])
def test_payments_query_count_does_not_grow_with_the_page(
    api, django_assert_num_queries, page_size
):
    payments(api.subscriber, 101)
    # resolver, payments
    with django_assert_num_queries(2):
        response = api.get(f"{PAYMENTS}?page_size={page_size}")
    body = documented(response)
    assert (len(body["results"]), body["next_page"]) == (page_size, 2)


# ---------------------------------------------------------------------- shared rules


@pytest.mark.django_db
@pytest.mark.parametrize("url", [TRANSACTIONS, PAYMENTS])
@pytest.mark.parametrize(
    ("query", "field", "maximum"),
    [
        ("page_size=0", "page_size", 100),
        ("page_size=101", "page_size", 100),
        ("page_size=-1", "page_size", 100),
        ("page_size=", "page_size", 100),
        ("page_size=ten", "page_size", 100),
        ("page=abc", "page", 1_000_000),
        ("page=0", "page", 1_000_000),
        ("page=1.5", "page", 1_000_000),
        ("page=1000001", "page", 1_000_000),
    ],
)
def test_bad_paging_is_400_naming_the_parameter(api, url, query, field, maximum):
    response = api.get(f"{url}?{query}")
    assert response.status_code == 400
    assert documented(response) == {
        "error": {
            "code": "invalid_input",
            "message": f"'{field}' must be an integer between 1 and {maximum}.",
            "fields": {field: f"Must be between 1 and {maximum}."},
        }
    }


@pytest.mark.django_db
@pytest.mark.parametrize("url", [TRANSACTIONS, PAYMENTS])
@pytest.mark.parametrize("query", ["page=%C2%B2", "page=" + "1" * 5000])
def test_unparseable_digits_are_400(api, url, query):
    response = api.get(f"{url}?{query}")
    assert response.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("url", [TRANSACTIONS, PAYMENTS])
def test_anonymous_is_401_post_is_405_disabled_is_503(client, settings, url):
    response = client.get(url)
    assert response.status_code == 401
    assert documented(response)["error"]["code"] == "not_authenticated"
    response = client.post(url)
    assert (response.status_code, response["Allow"]) == (405, "GET")
    assert documented(response)["error"]["code"] == "method_not_allowed"
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "ENABLED": False}
    response = client.get(url)
    assert response.status_code == 503
    assert documented(response)["error"]["code"] == "billing_disabled"
