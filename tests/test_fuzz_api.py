"""Every endpoint of openapi.json, driven by the document: no 5xx, every answer documented.

Schemathesis generates requests from the OpenAPI document, both ones that fit
it (positive) and ones that break it (negative: wrong types, missing fields,
values out of range), and sends them through Django's WSGI handler as a
browser with a real session and CSRF token would, and as an API client with
a Bearer token would. Stripe is the local stub, answering every call the
endpoints make. The webhook gets bodies generated from its ``StripeEvent``
schema, signed as Stripe signs them. Each response must not be a 5xx, must
have a status, content type and body the document gives for that
operation, and an error must carry a code its description names.

The fast version runs in every suite; ``--heavy`` runs many more examples on
PostgreSQL and prints the number of requests sent and of 5xx answers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fiko_billing.testing import payloads
from fiko_billing.testing.webhooks import signed_headers
from tests.factories import (
    CustomerFactory,
    PackagePriceFactory,
    PaymentFactory,
    PlanPriceFactory,
    SubscriberFactory,
    SubscriptionFactory,
)
from tests.resolvers import BEARER_OR_SESSION_PATH, bearer, member_user
from tests.test_openapi import documented, error_codes

CSRF_SECRET = "fikoCsrfSecretForFuzzing01234567"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
WEBHOOK = "POST /stripe/webhook/"


@dataclass
class Tally:
    """Requests sent and statuses seen, per run."""

    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def keep_the_connection() -> None:
    """Django's WSGI handler closes the connection after each request; inside the
    test's transaction it must not. Django's test client does the same for its
    own requests, and connects the handler again after each: so this runs
    before every batch of WSGI requests."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)


@pytest.fixture
def wsgi_in_the_test_transaction() -> Iterator[None]:
    keep_the_connection()
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(settings: Any, stripe_stub: Any, wsgi_in_the_test_transaction: None) -> dict[str, Any]:
    """A subscriber with a Stripe customer, a live subscription, a payment and tokens,
    another tenant beside it, and a Stripe that answers every call the API makes."""
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "SUBSCRIBER_RESOLVER": BEARER_OR_SESSION_PATH,
    }
    plan_price = PlanPriceFactory(stripe_price_id="price_plan_fuzz", unit_amount=900)
    PlanPriceFactory(stripe_price_id="price_other_fuzz", unit_amount=1900)
    PackagePriceFactory(stripe_price_id="price_package_fuzz", unit_amount=500)
    customer = CustomerFactory(stripe_customer_id="cus_fuzz")
    subscriber = customer.subscriber
    SubscriptionFactory(
        subscriber=subscriber,
        customer=customer,
        stripe_subscription_id="sub_fuzz",
        plan=plan_price.plan,
        price=plan_price,
    )
    PaymentFactory(subscriber=subscriber, stripe_checkout_session_id="cs_test_fuzz")
    PaymentFactory(stripe_checkout_session_id="cs_test_other_tenant")
    SubscriberFactory()
    stripe_price = payloads.price(
        id="price_plan_fuzz", product_id="prod_fuzz", unit_amount=900, interval="month"
    )
    stripe_subscription = payloads.subscription(
        id="sub_fuzz", customer_id="cus_fuzz", price_obj=stripe_price
    )
    stripe_stub.on("POST", "/v1/customers", lambda r: payloads.customer())
    stripe_stub.on(
        "POST",
        "/v1/checkout/sessions",
        lambda r: payloads.checkout_session(
            mode=r.params["mode"], customer_id=r.params.get("customer")
        ),
    )
    stripe_stub.on(
        "GET",
        r"/v1/checkout/sessions/(\w+)",
        lambda r: payloads.checkout_session(id=r.path.rsplit("/", 1)[1], customer_id="cus_fuzz"),
    )
    stripe_stub.on(
        "POST",
        "/v1/billing_portal/sessions",
        lambda r: payloads.portal_session(
            customer_id=r.params["customer"], return_url=r.params["return_url"]
        ),
    )
    stripe_stub.on("GET", "/v1/subscriptions/sub_fuzz", stripe_subscription)
    stripe_stub.on("POST", "/v1/subscriptions/sub_fuzz", stripe_subscription)
    stripe_stub.on("DELETE", "/v1/subscriptions/sub_fuzz", stripe_subscription)
    stripe_stub.on(
        "POST",
        "/v1/invoices/create_preview",
        lambda r: switch_preview(stripe_subscription, stripe_price, r.params),
    )
    return {"subscriber": subscriber}


PREVIEW_ID = "upcoming_in_fuzz"


def switch_preview(
    current: dict[str, Any], old_price: dict[str, Any], params: dict[str, str]
) -> dict[str, Any]:
    """Stripe's preview of switching the subscription's item to another monthly price
    mid-period: an ``upcoming_`` draft, never finalized, whose proration lines come
    before the new price's line, newest first (the remaining time is created after the
    unused time's credit), as the emulator's previews order them."""
    new_price = payloads.price(
        id=params["subscription_details[items][0][price]"],
        product_id="prod_other_fuzz",
        unit_amount=1900,
        interval="month",
    )
    period = current["items"]["data"][0]
    start, end = period["current_period_start"], period["current_period_end"]
    item = params["subscription_details[items][0][id]"]
    switched = (start + end) // 2
    prorations = [
        payloads.invoice_line(
            invoice_id=PREVIEW_ID,
            price_obj=price_obj,
            amount=amount,
            start=switched,
            end=end,
            subscription_id=current["id"],
            subscription_item=item,
            proration=True,
            description=description,
        )
        for price_obj, amount, description in [
            (new_price, 950, "Remaining time on Other after the switch"),
            (old_price, -450, "Unused time on Plan after the switch"),
        ]
    ]
    return payloads.invoice(
        customer_id=current["customer"],
        subscription_id=current["id"],
        price_obj=new_price,
        billing_reason="upcoming",
        status="draft",
        period_start=end,
        period_end=end + 30 * 86_400,
        prorations=prorations,
        subscription_item=item,
        id=PREVIEW_ID,
        automatically_finalizes_at=None,
    )


def browser_credentials(subscriber: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and cookies of a logged-in browser: a real session and a CSRF token."""
    client = Client()
    client.force_login(member_user(subscriber))
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": CSRF_SECRET}
    return {"X-CSRFToken": CSRF_SECRET}, cookies


def api_operations() -> Iterator[Any]:
    schema = schemathesis.openapi.from_wsgi("/billing/openapi.json", get_wsgi_application())
    for result in schema.get_all_operations():
        yield result.ok()


def fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    headers: dict[str, str],
    cookies: dict[str, str],
    tally: Tally,
    examples: int,
) -> None:
    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        response = case.call(headers=headers, cookies=cookies)
        tally.statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400 and response.headers.get("Content-Type", "").startswith(
            "application/json"
        ):
            # The error's code is one the operation's description names.
            body = response.json()
            entry = operation.definition.raw["responses"][str(response.status_code)]
            assert body["error"]["code"] in error_codes(entry), (operation.label, body)

    keep_the_connection()
    try:
        check()
    except Unsatisfiable:
        # No parameter or body to break: nothing negative can be generated.
        assert mode is GenerationMode.NEGATIVE, operation.label


def fuzz_webhook(operation: Any, tally: Tally, examples: int) -> None:
    """Bodies from the ``StripeEvent`` schema, signed as Stripe signs them."""

    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        body = json.dumps(case.body).encode()
        response = Client(raise_request_exception=False).post(
            "/billing/stripe/webhook/",
            data=body,
            content_type="application/json",
            **signed_headers(body),
        )
        tally.statuses[response.status_code] += 1
        assert response.status_code < 500, response.content
        documented(response)

    check()


def fuzz_everything(world: dict[str, Any], examples: int) -> dict[str, Tally]:
    subscriber = world["subscriber"]
    browser_headers, browser_cookies = browser_credentials(subscriber)
    identities = {
        "session": (browser_headers, browser_cookies),
        "bearer": ({"Authorization": bearer(subscriber)}, {}),
    }
    tallies: dict[str, Tally] = {}
    for operation in api_operations():
        if operation.label == WEBHOOK:
            tallies[WEBHOOK] = tally = Tally()
            fuzz_webhook(operation, tally, examples)
            continue
        for identity, (headers, cookies) in identities.items():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                key = f"{operation.label} [{identity}, {mode.value}]"
                tallies[key] = tally = Tally()
                fuzz_operation(operation, mode, headers, cookies, tally, examples)
    return tallies


def report(tallies: dict[str, Tally], capsys: Any) -> None:
    total = Tally()
    for tally in tallies.values():
        total.statuses.update(tally.statuses)
    with capsys.disabled():
        print(
            f"\nschema-driven fuzzing: {len(tallies)} runs, {total.sent} requests sent, "
            f"5xx: {total.server_errors}; statuses {dict(sorted(total.statuses.items()))}"
        )
    assert total.server_errors == 0


@pytest.mark.django_db
def test_every_endpoint_answers_as_documented_for_generated_requests(
    world: dict[str, Any], capsys: Any
) -> None:
    tallies = fuzz_everything(world, examples=6)
    report(tallies, capsys)
    # Both identities got past authentication somewhere: the runs reached the views.
    assert any(t.statuses[200] for key, t in tallies.items() if "[session," in key)
    assert any(t.statuses[200] for key, t in tallies.items() if "[bearer," in key)


@pytest.mark.heavy
@pytest.mark.postgres
@pytest.mark.django_db
def test_heavy_every_endpoint_answers_as_documented_for_generated_requests(
    world: dict[str, Any], capsys: Any
) -> None:
    tallies = fuzz_everything(world, examples=200)
    report(tallies, capsys)
