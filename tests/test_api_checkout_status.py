"""GET stripe/checkout-session/<id>/ fulfils a paid checkout once, whoever asks first."""

from __future__ import annotations

import time

import pytest

from fiko_billing import tokens
from fiko_billing.models import (
    EntryKind,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
    TokenEntry,
)
from fiko_billing.services.fulfilment import fulfil_checkout_session
from fiko_billing.testing import payloads
from tests.factories import (
    CustomerFactory,
    PackagePriceFactory,
    PaymentFactory,
    PlanPriceFactory,
    SubscriberFactory,
)
from tests.resolvers import bearer, bearer_client


@pytest.fixture
def api(client, settings):
    customer = CustomerFactory()
    bearer_client(client, settings, customer.subscriber)
    client.customer = customer
    return client


def url(session_id):
    return f"/billing/stripe/checkout-session/{session_id}/"


@pytest.fixture
def package_payment(api):
    price = PackagePriceFactory(stripe_price_id="price_1k", package__tokens=1_000)
    return PaymentFactory(
        subscriber=api.subscriber,
        package=price.package,
        amount=100,
        tokens=2_000,
        quantity=2,
        stripe_checkout_session_id="cs_test_pkg",
    )


def paid_payment_session(customer_id, **overrides):
    return payloads.checkout_session(
        id="cs_test_pkg",
        mode="payment",
        status="complete",
        payment_status="paid",
        customer_id=customer_id,
        amount_total=200,
        payment_intent="pi_123",
        **overrides,
    )


@pytest.mark.django_db
def test_paid_package_is_fulfilled_by_the_status_endpoint_once(api, stripe_stub, package_payment):
    stripe_stub.on(
        "GET",
        "/v1/checkout/sessions/cs_test_pkg",
        paid_payment_session(api.customer.stripe_customer_id),
    )
    response = api.get(url("cs_test_pkg"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["fulfilled"] is True
    assert body["token_balance"] == 2_000
    assert body["payment"]["status"] == "succeeded"
    (call,) = stripe_stub.requests
    assert call.params == {"expand[0]": "subscription", "expand[1]": "invoice"}

    again = api.get(url("cs_test_pkg"))
    assert again.json()["fulfilled"] is True
    assert len(stripe_stub.requests) == 1, "a fulfilled checkout asks Stripe nothing"
    assert tokens.balance(api.subscriber) == 2_000
    package_payment.refresh_from_db()
    assert package_payment.stripe_payment_intent_id == "pi_123"
    assert package_payment.amount == 200


@pytest.mark.django_db
def test_unpaid_session_stays_pending(api, stripe_stub, package_payment):
    stripe_stub.on(
        "GET",
        "/v1/checkout/sessions/cs_test_pkg",
        payloads.checkout_session(id="cs_test_pkg", customer_id=api.customer.stripe_customer_id),
    )
    body = api.get(url("cs_test_pkg")).json()
    assert body["fulfilled"] is False
    assert body["payment"]["status"] == "pending"
    assert TokenEntry.objects.count() == 0


@pytest.mark.django_db
def test_expired_session_marks_the_payment_expired(api, stripe_stub, package_payment):
    stripe_stub.on(
        "GET",
        "/v1/checkout/sessions/cs_test_pkg",
        payloads.checkout_session(id="cs_test_pkg", status="expired"),
    )
    assert api.get(url("cs_test_pkg")).json()["payment"]["status"] == "expired"
    assert api.get(url("cs_test_pkg")).json()["payment"]["status"] == "expired"
    assert len(stripe_stub.requests) == 1


@pytest.mark.django_db
def test_only_the_owner_sees_a_checkout(api, stripe_stub, package_payment, client):
    stranger = SubscriberFactory()
    response = client.get(url("cs_test_pkg"), HTTP_AUTHORIZATION=bearer(stranger))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "checkout_session_not_found"
    assert api.get(url("cs_test_unknown")).status_code == 404
    assert stripe_stub.requests == []


@pytest.mark.django_db
def test_webhook_first_then_status_endpoint_finds_it_done(api, stripe_stub, package_payment):
    session = paid_payment_session(api.customer.stripe_customer_id)
    assert fulfil_checkout_session(session).outcome == "fulfilled"
    assert fulfil_checkout_session(session).outcome == "already_fulfilled"
    body = api.get(url("cs_test_pkg")).json()
    assert body["fulfilled"] is True
    assert stripe_stub.requests == []
    assert TokenEntry.objects.filter(kind=EntryKind.PURCHASE).count() == 1


@pytest.mark.django_db
def test_subscription_checkout_mirrors_the_subscription_and_grants_the_period(api, stripe_stub):
    price = PlanPriceFactory(
        stripe_price_id="price_monthly",
        plan__tokens_per_period=10_000,
        plan__stripe_product_id="prod_m",
    )
    PaymentFactory(
        subscriber=api.subscriber,
        kind="subscription",
        package=None,
        plan=price.plan,
        tokens=10_000,
        stripe_checkout_session_id="cs_test_sub",
    )
    now = int(time.time())
    stripe_price = payloads.price(
        id="price_monthly", product_id="prod_m", unit_amount=500, interval="month"
    )
    sub = payloads.subscription(
        id="sub_1",
        customer_id=api.customer.stripe_customer_id,
        price_obj=stripe_price,
        start=now,
        end=now + 30 * 86400,
    )
    invoice = payloads.invoice(
        id="in_1",
        customer_id=api.customer.stripe_customer_id,
        subscription_id="sub_1",
        price_obj=stripe_price,
        period_start=now,
        period_end=now + 30 * 86400,
    )
    stripe_stub.on(
        "GET",
        "/v1/checkout/sessions/cs_test_sub",
        payloads.checkout_session(
            id="cs_test_sub",
            mode="subscription",
            status="complete",
            payment_status="paid",
            customer_id=api.customer.stripe_customer_id,
            subscription=sub,
            invoice=invoice,
        ),
    )
    body = api.get(url("cs_test_sub")).json()
    assert body["fulfilled"] is True
    assert body["token_balance"] == 10_000
    row = Subscription.objects.get()
    assert (row.stripe_subscription_id, row.status, row.plan_id, row.price_id) == (
        "sub_1",
        SubscriptionStatus.ACTIVE,
        price.plan_id,
        price.pk,
    )
    assert int(row.current_period_end.timestamp()) == now + 30 * 86400
    grant = TokenEntry.objects.get(kind=EntryKind.GRANT)
    assert grant.reference == "invoice:in_1"
    assert grant.expires_at == row.current_period_end
    account = api.get("/billing/account/").json()
    assert (account["status"], account["period_allowance"], account["days_remaining"]) == (
        "active",
        10_000,
        30,
    )


@pytest.mark.django_db
def test_payment_row_recovered_from_metadata_when_missing(api, stripe_stub):
    price = PackagePriceFactory(stripe_price_id="price_x", package__tokens=500)
    session = paid_payment_session(
        api.customer.stripe_customer_id,
        metadata={
            "fiko_subscriber": str(api.subscriber.pk),
            "fiko_item": f"package:{price.package_id}",
            "fiko_quantity": "2",
        },
    )
    result = fulfil_checkout_session(session)
    assert result.outcome == "fulfilled"
    assert result.payment.status == PaymentStatus.SUCCEEDED
    assert result.payment.tokens == 1_000
    assert tokens.balance(api.subscriber) == 1_000


@pytest.mark.django_db
def test_a_foreign_session_is_ignored(db):
    assert fulfil_checkout_session(paid_payment_session("cus_unknown")).outcome == "unknown"
    assert TokenEntry.objects.count() == 0
