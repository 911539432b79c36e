"""The hosted Customer Portal: cancel, resume, switch plan, update card."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from fiko_billing.emulator import Emulator
from tests.emulator.conftest import START, Catalogue
from tests.emulator.helpers import CARD_FAILS_LATER, get_page, pay, post_form


def _subscribed_portal(sdk: stripe.StripeClient, catalogue: Catalogue) -> tuple[Any, Any]:
    customer = sdk.v1.customers.create(params={"email": "portal@example.com"})
    session = sdk.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": catalogue.monthly.id, "quantity": 1}],
        }
    )
    pay(session.url)
    sub = sdk.v1.subscriptions.retrieve(sdk.v1.checkout.sessions.retrieve(session.id).subscription)
    portal = sdk.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "https://app.example/account"}
    )
    return portal, sub


def test_portal_page_lists_the_subscription(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    portal, sub = _subscribed_portal(sdk, catalogue)
    page = get_page(portal.url)
    assert page.status == 200
    assert "Pro plan: 20.00 USD / month" in page.body
    assert "Status: <strong>active</strong> &middot; Renews on 28 Feb 2026" in page.body
    assert f'id="cancel-{sub.id}"' in page.body
    assert "Premium plan: 50.00 USD / month" in page.body
    assert "Visa ending in 4242" in page.body
    assert 'href="https://app.example/account"' in page.body


def test_cancel_at_period_end_and_resume(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    portal, sub = _subscribed_portal(sdk, catalogue)
    since = len(emulator.event_types())
    done = post_form(portal.url, {"action": "cancel", "subscription": sub.id})
    assert done.status == 303
    assert done.location is not None
    assert done.location.startswith(f"/portal/{portal.id}?notice=")
    canceled = sdk.v1.subscriptions.retrieve(sub.id)
    assert (canceled.cancel_at_period_end, canceled.status, canceled.canceled_at) == (
        True,
        "active",
        START,
    )
    event = sdk.v1.events.list(params={"limit": 1}).data[0]
    assert event.type == "customer.subscription.updated"
    assert event.data.previous_attributes.cancel_at_period_end is False
    assert event.request.id is None
    page = get_page(portal.url)
    assert "Cancels on 28 Feb 2026" in page.body
    assert f'id="resume-{sub.id}"' in page.body
    post_form(portal.url, {"action": "resume", "subscription": sub.id})
    resumed = sdk.v1.subscriptions.retrieve(sub.id)
    assert (resumed.cancel_at_period_end, resumed.canceled_at) == (False, None)
    assert emulator.event_types()[since:] == ["customer.subscription.updated"] * 2


def test_switch_plan_with_prorations(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    portal, sub = _subscribed_portal(sdk, catalogue)
    emulator.advance(days=7)
    since = len(emulator.event_types())
    post_form(
        portal.url, {"action": "switch", "subscription": sub.id, "price": catalogue.premium.id}
    )
    switched = sdk.v1.subscriptions.retrieve(sub.id)
    assert switched["items"].data[0].price.id == catalogue.premium.id
    assert emulator.event_types()[since:] == [
        "customer.subscription.updated",
        "invoiceitem.created",
        "invoiceitem.created",
    ]
    credit, charge = emulator.objects("invoiceitem")[::-1]
    # 21 of the period's 28 days remain.
    assert (credit["amount"], charge["amount"]) == (-1500, 3750)
    assert credit["description"].startswith("Unused time on 1 × Pro plan")  # noqa: RUF001
    assert "Premium plan: 50.00 USD / month</h2>" in get_page(portal.url).body


def test_switch_to_an_unknown_price_is_refused(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    portal, sub = _subscribed_portal(sdk, catalogue)
    answer = post_form(
        portal.url, {"action": "switch", "subscription": sub.id, "price": catalogue.pack.id}
    )
    assert answer.location is not None
    assert "error=" in answer.location
    page = get_page(f"{portal.url.rsplit('/portal/', 1)[0]}{answer.location}")
    assert page.status == 400
    assert "This plan is not available." in page.body
    assert sdk.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.id == catalogue.monthly.id


def test_update_card(sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator) -> None:
    portal, sub = _subscribed_portal(sdk, catalogue)
    since = len(emulator.event_types())
    answer = post_form(
        portal.url,
        {
            "action": "update_card",
            "card_number": CARD_FAILS_LATER,
            "card_expiry": "10/31",
            "card_cvc": "999",
        },
    )
    assert answer.status == 303
    customer = sdk.v1.customers.retrieve(sub.customer)
    pm = sdk.v1.payment_methods.retrieve(customer.invoice_settings.default_payment_method)
    assert (pm.card.last4, pm.card.exp_month, pm.card.exp_year, pm.customer) == (
        "0341",
        10,
        2031,
        customer.id,
    )
    assert sdk.v1.subscriptions.retrieve(sub.id).default_payment_method == pm.id
    assert emulator.event_types()[since:] == [
        "payment_method.attached",
        "customer.updated",
        "customer.subscription.updated",
    ]
    assert "Visa ending in 0341" in get_page(portal.url).body


def test_update_card_refused(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    portal, _ = _subscribed_portal(sdk, catalogue)
    since = len(emulator.event_types())
    answer = post_form(
        portal.url,
        {
            "action": "update_card",
            "card_number": "4000 0000 0000 0002",
            "card_expiry": "10/31",
            "card_cvc": "999",
        },
    )
    assert answer.location is not None
    assert "Your%20card%20was%20declined." in answer.location
    assert emulator.event_types()[since:] == []


def test_unknown_portal_session(emulator: Emulator) -> None:
    assert get_page(f"{emulator.url}/portal/bps_nothing").status == 404


def test_a_card_update_flow_opens_on_the_card_form_and_returns_when_saved(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    _portal, sub = _subscribed_portal(sdk, catalogue)
    flow = sdk.v1.billing_portal.sessions.create(
        params={
            "customer": sub.customer,
            "return_url": "https://app.example/account",
            "flow_data": {
                "type": "payment_method_update",
                "after_completion": {
                    "type": "redirect",
                    "redirect": {"return_url": "https://app.example/account?card=updated"},
                },
            },
        }
    )
    assert flow.flow is not None
    assert (flow.flow.type, flow.flow.after_completion.type) == (
        "payment_method_update",
        "redirect",
    )
    assert (
        flow.flow.after_completion.redirect.return_url
        == "https://app.example/account?card=updated"
    )
    page = get_page(flow.url)
    assert "<h1>Update your payment method</h1>" in page.body
    assert 'id="customer">portal@example.com<' in page.body
    assert f'id="cancel-{sub.id}"' not in page.body  # the flow shows the card form only

    refused = post_form(
        flow.url,
        {
            "action": "update_card",
            "card_number": "4000 0000 0000 0002",
            "card_expiry": "10/31",
            "card_cvc": "1",
        },
    )
    assert refused.location is not None
    assert "error=" in refused.location
    done = post_form(
        flow.url,
        {
            "action": "update_card",
            "card_number": "4242 4242 4242 4242",
            "card_expiry": "10/31",
            "card_cvc": "123",
        },
    )
    assert (done.status, done.location) == (303, "https://app.example/account?card=updated")
    # Once the flow is done the session shows the portal's home page.
    assert f'id="cancel-{sub.id}"' in get_page(flow.url).body


def test_a_flow_stripe_refuses(sdk: stripe.StripeClient, catalogue: Catalogue) -> None:
    _portal, sub = _subscribed_portal(sdk, catalogue)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        sdk.v1.billing_portal.sessions.create(
            params={
                "customer": sub.customer,
                "flow_data": {
                    "type": "payment_method_update",
                    "after_completion": {"type": "redirect"},
                },
            }
        )
    assert missing.value.param == "flow_data[after_completion][redirect]"


def test_the_portal_header_names_the_customer_never_its_id(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    nameless = sdk.v1.customers.create(params={})
    named = sdk.v1.customers.create(params={"name": "Alice Example"})
    for customer, shown in ((nameless, "Your account"), (named, "Alice Example")):
        portal = sdk.v1.billing_portal.sessions.create(params={"customer": customer.id})
        body = get_page(portal.url).body
        assert f'id="customer">{shown}<' in body
        assert customer.id not in body.replace(portal.id, "")
