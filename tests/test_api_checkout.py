"""POST stripe/checkout-session/ with the real SDK against a scripted Stripe."""

from __future__ import annotations

import json
import re

import pytest

from fiko_billing.conf import subscriber_model_label
from fiko_billing.models import Customer, Payment, PaymentKind, PaymentStatus
from fiko_billing.testing import payloads
from tests.factories import (
    PackagePriceFactory,
    PlanPriceFactory,
    SubscriberFactory,
    SubscriptionFactory,
    TokenPackageFactory,
)
from tests.resolvers import bearer_client

URL = "/billing/stripe/checkout-session/"


@pytest.fixture
def plan_price(db):
    return PlanPriceFactory(
        stripe_price_id="price_monthly_usd", unit_amount=500, plan__name="Monthly"
    )


@pytest.fixture
def package_price(db):
    return PackagePriceFactory(
        stripe_price_id="price_100k_usd", unit_amount=5000, package__tokens=100_000
    )


def post(client, body, **extra):
    return client.post(URL, data=json.dumps(body), content_type="application/json", **extra)


def route_customer_and_session(stripe_stub, *, customer_id="cus_new", session_id=None):
    stripe_stub.on("POST", "/v1/customers", payloads.customer(id=customer_id))
    stripe_stub.on(
        "POST",
        "/v1/checkout/sessions",
        lambda r: payloads.checkout_session(
            id=session_id or payloads.stripe_id("cs_test"),
            mode=r.params["mode"],
            customer_id=r.params["customer"],
        ),
    )


@pytest.mark.django_db
def test_seed_request_creates_a_subscription_checkout(user_client, stripe_stub, plan_price):
    """The seed's curl: Bearer auth, {"plan_type": "full", "plan_id": 1} -> {id, url}."""
    user = user_client.subscriber
    label = subscriber_model_label()
    route_customer_and_session(stripe_stub, session_id="cs_test_1")

    response = post(user_client, {"plan_type": "full", "plan_id": plan_price.plan_id})

    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": "cs_test_1",
        "url": "https://checkout.stripe.com/c/pay/cs_test_1",
    }
    customer_call, session_call = stripe_stub.requests
    expected_customer = {
        "email": user.email,
        "metadata[fiko_subscriber]": str(user.pk),
        "metadata[fiko_subscriber_model]": label,
    }
    name = user.get_full_name() if hasattr(user, "get_full_name") else user.name
    if name:
        expected_customer["name"] = name
    assert customer_call.params == expected_customer
    # A new key for each attempt: Stripe replays a stored failure to a repeated key.
    assert re.fullmatch(
        rf"fiko:customer:{re.escape(label)}:{user.pk}:[0-9a-f]{{32}}",
        customer_call.headers["idempotency-key"],
    )
    meta = {
        "fiko_subscriber": str(user.pk),
        "fiko_subscriber_model": label,
        "fiko_item": f"plan:{plan_price.plan_id}",
        "fiko_price": str(plan_price.pk),
        "fiko_quantity": "1",
    }
    assert session_call.params == {
        "mode": "subscription",
        "customer": "cus_new",
        "client_reference_id": str(user.pk),
        "line_items[0][price]": "price_monthly_usd",
        "line_items[0][quantity]": "1",
        "success_url": "http://localhost:8000/billing/return/checkout-success/?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://localhost:8000/billing/return/checkout-canceled/",
        "allow_promotion_codes": "true",
        **{f"metadata[{k}]": v for k, v in meta.items()},
        **{f"subscription_data[metadata][{k}]": v for k, v in meta.items()},
    }
    assert session_call.headers["idempotency-key"].startswith("fiko:checkout:")
    payment = Payment.objects.get()
    assert (payment.kind, payment.status, payment.amount, payment.currency, payment.tokens) == (
        PaymentKind.SUBSCRIPTION,
        PaymentStatus.PENDING,
        500,
        "usd",
        10_000,
    )
    assert payment.stripe_checkout_session_id == "cs_test_1"
    assert Customer.objects.get(subscriber=user).stripe_customer_id == "cus_new"


@pytest.fixture
def user_client(client, settings):
    """A client whose subscriber comes from a Bearer header, for both subscriber models."""
    return bearer_client(client, settings, SubscriberFactory())


@pytest.mark.django_db
def test_token_package_checkout_is_a_one_time_payment_with_quantity(
    user_client, stripe_stub, package_price
):
    route_customer_and_session(stripe_stub)
    response = post(
        user_client, {"plan_type": "token", "plan_id": package_price.package_id, "quantity": 3}
    )
    assert response.status_code == 200, response.content
    session_call = stripe_stub.calls("POST", "/v1/checkout/sessions")[0]
    assert session_call.params["mode"] == "payment"
    assert session_call.params["line_items[0][quantity]"] == "3"
    assert session_call.params["payment_intent_data[metadata][fiko_quantity]"] == "3"
    assert "subscription_data[metadata][fiko_item]" not in session_call.params
    payment = Payment.objects.get()
    assert (payment.amount, payment.tokens, payment.quantity) == (15_000, 300_000, 3)


@pytest.mark.django_db
def test_recurring_package_checkout_is_a_subscription(user_client, stripe_stub):
    price = PackagePriceFactory(stripe_price_id="price_rec", package__interval="month")
    route_customer_and_session(stripe_stub)
    assert (
        post(user_client, {"plan_type": "token", "plan_id": price.package_id}).status_code == 200
    )
    assert stripe_stub.calls("POST", "/v1/checkout/sessions")[0].params["mode"] == "subscription"


@pytest.mark.django_db
def test_second_checkout_reuses_the_customer(user_client, stripe_stub, package_price):
    route_customer_and_session(stripe_stub)
    body = {"plan_type": "token", "plan_id": package_price.package_id}
    assert post(user_client, body).status_code == 200
    assert post(user_client, body).status_code == 200
    assert len(stripe_stub.calls("POST", "/v1/customers")) == 1
    assert len(stripe_stub.calls("POST", "/v1/checkout/sessions")) == 2
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_currency_picks_the_price_and_must_be_offered(user_client, stripe_stub, package_price):
    eur = PackagePriceFactory(
        package=package_price.package, currency="eur", stripe_price_id="price_eur"
    )
    route_customer_and_session(stripe_stub)
    body = {"plan_type": "token", "plan_id": package_price.package_id, "currency": "EUR"}
    assert post(user_client, body).status_code == 200
    assert stripe_stub.requests[-1].params["line_items[0][price]"] == eur.stripe_price_id
    assert Payment.objects.get().currency == "eur"

    response = post(user_client, {**body, "currency": "gbp"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_currency"
    assert response.json()["error"]["fields"] == {"currency": "Choose one of: eur, usd."}


@pytest.mark.django_db
def test_active_plan_subscription_is_a_conflict(user_client, stripe_stub, plan_price):
    SubscriptionFactory(customer__subscriber=user_client.subscriber, plan=plan_price.plan)
    response = post(user_client, {"plan_type": "full", "plan_id": plan_price.plan_id})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_subscribed"
    assert stripe_stub.requests == []
    assert Payment.objects.count() == 0


@pytest.mark.django_db
def test_only_ones_own_plan_subscription_is_a_conflict(user_client, stripe_stub, plan_price):
    # A subscription to a recurring token package is no plan, and another
    # subscriber's plan is not this subscriber's.
    recurring_package = TokenPackageFactory(interval="month")
    SubscriptionFactory(
        customer__subscriber=user_client.subscriber, plan=None, package=recurring_package
    )
    SubscriptionFactory(plan=plan_price.plan)
    route_customer_and_session(stripe_stub)
    response = post(user_client, {"plan_type": "full", "plan_id": plan_price.plan_id})
    assert response.status_code == 200, response.content
    assert Payment.objects.get().kind == PaymentKind.SUBSCRIPTION


@pytest.mark.django_db
@pytest.mark.parametrize("make_inactive", ["item", "price"])
def test_unknown_or_inactive_item_is_404(user_client, stripe_stub, plan_price, make_inactive):
    if make_inactive == "item":
        plan_price.plan.active = False
        plan_price.plan.save()
    else:
        plan_price.active = False
        plan_price.save()
    body = {"plan_type": "full", "plan_id": plan_price.plan_id}
    response = post(user_client, body)
    if make_inactive == "item":
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "plan_not_found"
    else:
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "unsupported_currency"
    assert post(user_client, {"plan_type": "token", "plan_id": 999_999}).status_code == 404
    assert stripe_stub.requests == []


@pytest.mark.django_db
def test_unsynced_price_is_503_with_the_fix(user_client, stripe_stub, db):
    price = PlanPriceFactory(stripe_price_id=None)
    response = post(user_client, {"plan_type": "full", "plan_id": price.plan_id})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "catalogue_not_synced"
    assert "sync_stripe_products" in response.json()["error"]["message"]


BAD_BODIES = [
    ("{not json", "invalid_json", None),
    ("[1, 2]", "invalid_json", None),
    ("{}", "missing_field", "plan_type"),
    ('{"plan_type": "gold", "plan_id": 1}', "invalid_input", "plan_type"),
    ('{"plan_type": 1, "plan_id": 1}', "invalid_input", "plan_type"),
    ('{"plan_type": "full"}', "missing_field", "plan_id"),
    ('{"plan_type": "full", "plan_id": "1"}', "invalid_input", "plan_id"),
    ('{"plan_type": "full", "plan_id": -1}', "invalid_input", "plan_id"),
    ('{"plan_type": "full", "plan_id": 0}', "invalid_input", "plan_id"),
    ('{"plan_type": "full", "plan_id": 1.5}', "invalid_input", "plan_id"),
    ('{"plan_type": "full", "plan_id": true}', "invalid_input", "plan_id"),
    ('{"plan_type": "full", "plan_id": 99999999999999999999}', "invalid_input", "plan_id"),
    ('{"plan_type": "token", "plan_id": 1, "quantity": 0}', "invalid_input", "quantity"),
    ('{"plan_type": "token", "plan_id": 1, "quantity": 1000000000}', "invalid_input", "quantity"),
    ('{"plan_type": "token", "plan_id": 1, "quantity": "2"}', "invalid_input", "quantity"),
    ('{"plan_type": "full", "plan_id": 1, "quantity": 2}', "invalid_input", "quantity"),
    ('{"plan_type": "full", "plan_id": 1, "currency": "dollars"}', "invalid_input", "currency"),
    ('{"plan_type": "full", "plan_id": 1, "currency": 840}', "invalid_input", "currency"),
    ('{"plan_type": "full", "plan_id": 1, "currency": "x1z"}', "invalid_input", "currency"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "code", "field"), BAD_BODIES)
def test_bad_input_is_a_400_naming_the_field(
    user_client, stripe_stub, package_price, body, code, field
):
    response = user_client.post(URL, data=body, content_type="application/json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    if field is not None:
        assert list(error["fields"]) == [field]
    assert stripe_stub.requests == []
    assert Payment.objects.count() == 0
    assert Customer.objects.count() == 0


@pytest.mark.django_db
def test_unknown_currency_code_is_a_400(user_client, stripe_stub, package_price):
    response = post(
        user_client, {"plan_type": "token", "plan_id": package_price.package_id, "currency": "zzz"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_currency"


@pytest.mark.django_db
def test_unauthenticated_is_401_and_get_is_405(client, stripe_stub, package_price):
    response = post(client, {"plan_type": "token", "plan_id": package_price.package_id})
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
        }
    }
    response = client.get(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


@pytest.mark.django_db
def test_billing_disabled_is_503(user_client, settings, package_price):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "ENABLED": False}
    response = post(user_client, {"plan_type": "token", "plan_id": package_price.package_id})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "billing_disabled"


@pytest.mark.django_db
@pytest.mark.parametrize("failing", ["customer", "session"])
@pytest.mark.parametrize("status", [400, 401, 429, 500])
def test_stripe_failure_is_502_and_writes_no_payment(
    user_client, stripe_stub, package_price, failing, status
):
    route_customer_and_session(stripe_stub)
    path = "/v1/customers" if failing == "customer" else "/v1/checkout/sessions"
    stripe_stub.on("POST", path, payloads.error("boom", type="api_error"), status=status)
    response = post(user_client, {"plan_type": "token", "plan_id": package_price.package_id})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "stripe_error"
    assert Payment.objects.count() == 0
    # The customer is kept only when Stripe created it (it is valid on its own).
    expected_customers = 1 if failing == "session" else 0
    assert Customer.objects.exclude(stripe_customer_id=None).count() == expected_customers
    # A 500 leaves Stripe's outcome unknown: the row remembers to look for it next time.
    unknown = failing == "customer" and status == 500
    assert Customer.objects.filter(stripe_customer_id=None).count() == (1 if unknown else 0)
    assert Customer.objects.exclude(creation_attempted_at=None).count() == (1 if unknown else 0)


@pytest.mark.django_db
def test_a_customer_stripe_no_longer_knows_is_replaced_once(
    user_client, stripe_stub, package_price, caplog
):
    Customer.objects.create(subscriber=user_client.subscriber, stripe_customer_id="cus_gone")
    stripe_stub.on("POST", "/v1/customers", payloads.customer(id="cus_fresh"))

    def session(request):
        if request.params["customer"] == "cus_gone":
            return 400, payloads.error(
                "No such customer: 'cus_gone'", code="resource_missing", param="customer"
            )
        return payloads.checkout_session(id="cs_test_2", customer_id=request.params["customer"])

    stripe_stub.on("POST", "/v1/checkout/sessions", session)
    response = post(user_client, {"plan_type": "token", "plan_id": package_price.package_id})
    assert response.status_code == 200, response.content
    assert [
        r.params.get("customer") for r in stripe_stub.calls("POST", "/v1/checkout/sessions")
    ] == [
        "cus_gone",
        "cus_fresh",
    ]
    assert len(stripe_stub.calls("POST", "/v1/customers")) == 1
    assert Customer.objects.get().stripe_customer_id == "cus_fresh"
    assert "cus_gone" in caplog.text


@pytest.mark.django_db
def test_a_customer_of_the_other_mode_is_replaced_without_asking(
    user_client, stripe_stub, package_price
):
    Customer.objects.create(
        subscriber=user_client.subscriber, stripe_customer_id="cus_live", livemode=True
    )
    route_customer_and_session(stripe_stub, customer_id="cus_test")
    assert (
        post(user_client, {"plan_type": "token", "plan_id": package_price.package_id}).status_code
        == 200
    )
    assert stripe_stub.calls("POST", "/v1/checkout/sessions")[0].params["customer"] == "cus_test"


@pytest.mark.django_db
def test_session_auth_keeps_csrf_protection(stripe_stub, package_price, django_user_model):
    from django.test import Client

    from fiko_billing.subscribers import get_subscriber_model

    if get_subscriber_model() is not django_user_model:
        pytest.skip("session login resolves users only")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(django_user_model.objects.create_user("bob"))
    route_customer_and_session(stripe_stub)
    body = {"plan_type": "token", "plan_id": package_price.package_id}
    response = post(browser, body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    browser.get("/billing/plans/")  # a GET sets no cookie by itself: take the token explicitly
    from django.middleware.csrf import _get_new_csrf_string

    token = _get_new_csrf_string()
    browser.cookies["csrftoken"] = token
    assert post(browser, body, HTTP_X_CSRFTOKEN=token).status_code == 200
