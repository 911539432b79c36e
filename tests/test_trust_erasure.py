"""Deleting a subscriber keeps the accounting rows; a privacy request erases what names it.

Before, deleting a subscriber raised ``ProtectedError`` naming
``Customer.subscriber`` when a subscription existed, and silently cascaded
payments and ledger entries away when none did.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db.models.deletion import ProtectedError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fiko_billing import signals, tokens
from fiko_billing.gateway import StripeGatewayError
from fiko_billing.models import (
    Customer,
    Payment,
    Subscription,
    SubscriptionStatus,
    TokenAccount,
    TokenEntry,
    WebhookEvent,
)
from fiko_billing.services.erasure import erase_subscriber
from fiko_billing.testing import payloads
from tests.factories import (
    CustomerFactory,
    PaymentFactory,
    SubscriptionFactory,
    UserFactory,
    WebhookEventFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def history() -> Any:
    """A subscriber with a Stripe customer, a payment, a ledger and a stored event."""
    customer = CustomerFactory(stripe_customer_id="cus_gone")
    subscriber = customer.subscriber
    PaymentFactory(
        subscriber=subscriber, hosted_invoice_url="https://invoice.stripe.com/i/acct_1/test_x"
    )
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1", description="Bought by Ann")
    tokens.consume(subscriber, 30, description="Report for ann@example.com")
    WebhookEventFactory(
        stripe_event_id="evt_about_ann",
        status="processed",
        payload=payloads.event(
            "customer.updated",
            payloads.customer(id="cus_gone", email="ann@example.com", name="Ann"),
            id="evt_about_ann",
        ),
    )
    return subscriber


def live_subscription(subscriber: Any, status: str = SubscriptionStatus.ACTIVE) -> Subscription:
    return SubscriptionFactory(
        subscriber=subscriber,
        customer=subscriber.billing_customer,
        stripe_subscription_id="sub_live",
        status=status,
    )


def stripe_subscription(status: str) -> dict[str, Any]:
    return payloads.subscription(
        id="sub_live",
        customer_id="cus_gone",
        price_obj=payloads.price(product_id="prod_1", unit_amount=500, interval="month"),
        status=status,
    )


# ---------------------------------------------------------------------- deleting


def test_deleting_a_subscriber_keeps_payments_and_the_ledger(history: Any) -> None:
    history.delete()
    payment = Payment.objects.get()
    assert payment.subscriber_id is None
    account = TokenAccount.objects.get()
    assert account.subscriber_id is None
    assert list(TokenEntry.objects.order_by("pk").values_list("amount", flat=True)) == [100, -30]
    assert Customer.objects.get().subscriber_id is None


def test_an_ended_subscription_is_kept_too(history: Any) -> None:
    live_subscription(history, status=SubscriptionStatus.CANCELED)
    history.delete()
    assert Subscription.objects.get().subscriber_id is None


@pytest.mark.parametrize(
    "status",
    [SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE, SubscriptionStatus.INCOMPLETE],
)
def test_a_live_subscription_blocks_the_deletion_and_is_named(history: Any, status: str) -> None:
    row = live_subscription(history, status=status)
    with pytest.raises(ProtectedError) as raised:
        history.delete()
    assert "'Subscription.subscriber'" in str(raised.value.args[0])
    assert raised.value.protected_objects == {row}
    history.refresh_from_db()  # still there, and so is everything else
    assert Payment.objects.get().subscriber == history


def test_the_admin_explains_why_a_live_subscriber_cannot_be_deleted(
    history: Any, admin_client: Client, django_user_model: Any
) -> None:
    if type(history) is not django_user_model:
        pytest.skip("the user admin deletes users")
    live_subscription(history)
    url = reverse("admin:auth_user_delete", args=[history.pk])
    page = admin_client.get(url).content.decode()
    assert "would require deleting the following protected related objects" in page
    assert "sub_live" in page


# ---------------------------------------------------------------------- erasing


def test_erasure_cancels_in_stripe_deletes_the_customer_and_detaches_everything(
    history: Any, stripe_stub: Any
) -> None:
    live_subscription(history)
    stripe_stub.on("DELETE", "/v1/subscriptions/sub_live", stripe_subscription("canceled"))
    stripe_stub.on("DELETE", "/v1/customers/cus_gone", {"id": "cus_gone", "deleted": True})

    report = erase_subscriber(history, delete_stripe_customer=True)

    assert [(r.method, r.path) for r in stripe_stub.requests] == [
        ("DELETE", "/v1/subscriptions/sub_live"),
        ("DELETE", "/v1/customers/cus_gone"),
    ]
    assert report.canceled_subscriptions == ("sub_live",)
    assert report.deleted_stripe_customer == "cus_gone"
    assert (report.payments, report.subscriptions, report.token_accounts) == (1, 1, 1)
    assert report.redacted_events == 1
    subscription = Subscription.objects.get()
    assert (subscription.status, subscription.subscriber_id) == ("canceled", None)
    payment = Payment.objects.get()
    assert (payment.subscriber_id, payment.hosted_invoice_url, payment.amount) == (None, "", 500)
    assert set(TokenEntry.objects.values_list("description", flat=True)) == {""}
    customer = Customer.objects.get()
    assert customer.subscriber_id is None
    assert customer.deleted_at is not None
    event = WebhookEvent.objects.get(stripe_event_id="evt_about_ann").payload
    assert event["data"] == {"object": {"id": "cus_gone", "object": "customer", "redacted": True}}
    assert "ann@example.com" not in str(event)
    history.delete()  # nothing holds it back any more
    assert Payment.objects.count() == TokenEntry.objects.count() // 2 == 1


def test_erasure_keeps_the_stripe_customer_unless_asked(history: Any, stripe_stub: Any) -> None:
    report = erase_subscriber(history)
    assert stripe_stub.requests == []
    assert report.deleted_stripe_customer is None
    assert Customer.objects.get().deleted_at is None
    assert Customer.objects.get().subscriber_id is None


def test_erasure_twice_is_harmless(history: Any, stripe_stub: Any) -> None:
    live_subscription(history)
    stripe_stub.on("DELETE", "/v1/subscriptions/sub_live", stripe_subscription("canceled"))
    erase_subscriber(history)
    again = erase_subscriber(history)
    assert len(stripe_stub.requests) == 1
    assert (again.payments, again.subscriptions, again.token_accounts) == (0, 0, 0)


def test_a_subscription_stripe_no_longer_has_is_cancelled_here(
    history: Any, stripe_stub: Any
) -> None:
    live_subscription(history)
    stripe_stub.on(
        "DELETE",
        "/v1/subscriptions/sub_live",
        (404, payloads.error("No such subscription", code="resource_missing", param="id")),
    )
    erase_subscriber(history)
    assert Subscription.objects.get().status == SubscriptionStatus.CANCELED


def test_a_stripe_failure_changes_nothing_here(history: Any, stripe_stub: Any) -> None:
    live_subscription(history)
    stripe_stub.on("DELETE", "/v1/subscriptions/sub_live", (500, payloads.error("Boom")))
    with pytest.raises(StripeGatewayError):
        erase_subscriber(history)
    assert Payment.objects.get().subscriber == history
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE
    assert TokenAccount.objects.get().subscriber == history


def test_a_detached_ledger_still_expires_and_tells_nobody(history: Any) -> None:
    received: list[Any] = []
    tokens.credit(
        history,
        10,
        kind="grant",
        reference="in_1",
        expires_at=timezone.now() + timedelta(days=1),
    )
    erase_subscriber(history)

    def receiver(**kwargs: Any) -> None:
        received.append(kwargs)

    signals.tokens_debited.connect(receiver)
    try:
        assert tokens.expire_due(now=timezone.now() + timedelta(days=2)) == 10
    finally:
        signals.tokens_debited.disconnect(receiver)
    assert received == []
    account = TokenAccount.objects.get()
    assert account.balance == 70


# ---------------------------------------------------------------------- the admin action


def test_the_admin_action_confirms_then_erases(
    history: Any, admin_client: Client, stripe_stub: Any
) -> None:
    live_subscription(history)
    stripe_stub.on("DELETE", "/v1/subscriptions/sub_live", stripe_subscription("canceled"))
    stripe_stub.on("DELETE", "/v1/customers/cus_gone", {"id": "cus_gone", "deleted": True})
    changelist = reverse("admin:fiko_billing_customer_changelist")
    customer = Customer.objects.get()
    selected = {"action": "erase_billing_data", "_selected_action": [customer.pk]}

    confirm = admin_client.post(changelist, selected)
    assert confirm.status_code == 200
    assert "fiko_billing/admin/erase_billing_data.html" in [t.name for t in confirm.templates]
    assert stripe_stub.requests == []

    done = admin_client.post(
        changelist, {**selected, "post": "yes", "delete_stripe_customer": "on"}, follow=True
    )
    assert "Erased the billing data of 1 subscriber." in done.content.decode()
    assert Payment.objects.get().subscriber_id is None
    assert len(stripe_stub.requests) == 2


def test_the_admin_action_needs_the_delete_permission(history: Any) -> None:
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_customer"))
    client = Client()
    client.force_login(staff)
    page = client.get(reverse("admin:fiko_billing_customer_changelist")).content.decode()
    assert "erase_billing_data" not in page
    client.post(
        reverse("admin:fiko_billing_customer_changelist"),
        {
            "action": "erase_billing_data",
            "_selected_action": [history.billing_customer.pk],
            "post": "yes",
        },
    )
    assert Payment.objects.get().subscriber == history


def test_stripes_later_events_about_an_erased_subscription_are_processed_quietly(
    history: Any, stripe_stub: Any
) -> None:
    from fiko_billing.testing.webhooks import post_event

    live_subscription(history)
    stripe_stub.on("DELETE", "/v1/subscriptions/sub_live", stripe_subscription("past_due"))
    erase_subscriber(history)
    sent: list[Any] = []

    def receiver(**kwargs: Any) -> None:
        sent.append(kwargs)

    signals.subscription_deactivated.connect(receiver)
    try:
        response = post_event(
            payloads.event(
                "customer.subscription.deleted",
                stripe_subscription("canceled"),
                created=int(timezone.now().timestamp()) + 5,
            )
        )
    finally:
        signals.subscription_deactivated.disconnect(receiver)
    assert response.json()["outcome"] == "processed"
    assert Subscription.objects.get().status == SubscriptionStatus.CANCELED
    assert sent == []  # nobody left to tell
