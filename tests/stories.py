"""One subscriber's story as Stripe tells it, for the webhook and event-command tests.

``Story`` sets up a subscriber with a Stripe customer and a synced monthly plan and builds
the events Stripe would send about it; the helpers below watch what processing them does
and run the management commands that process them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.dispatch import Signal

from fiko_billing import signals
from fiko_billing.services.events import registry
from fiko_billing.testing import payloads
from tests import stripe_shapes
from tests.factories import (
    CustomerFactory,
    PackagePriceFactory,
    PaymentFactory,
    PlanPriceFactory,
)

DAY = 86400


class Story:
    """One subscriber, its Stripe customer ``cus_<suffix>`` and subscription ``sub_<suffix>``.

    The plan is synced as ``price_<plan_suffix>`` of ``prod_<plan_suffix>`` (the suffix
    unless told), 500 a month; the subscription's first period starts at ``start``.
    """

    def __init__(
        self,
        suffix: str,
        *,
        start: int,
        tokens_per_period: int,
        plan_suffix: str | None = None,
    ) -> None:
        plan_suffix = suffix if plan_suffix is None else plan_suffix
        self.customer_id = f"cus_{suffix}"
        self.subscription_id = f"sub_{suffix}"
        self.t0 = start
        self.customer = CustomerFactory(stripe_customer_id=self.customer_id)
        self.subscriber = self.customer.subscriber
        self.price = PlanPriceFactory(
            stripe_price_id=f"price_{plan_suffix}",
            plan__stripe_product_id=f"prod_{plan_suffix}",
            plan__tokens_per_period=tokens_per_period,
            unit_amount=500,
        )
        self.stripe_price = payloads.price(
            id=f"price_{plan_suffix}",
            product_id=f"prod_{plan_suffix}",
            unit_amount=500,
            interval="month",
        )

    def subscription(self, *, start: int | None = None, **fields: Any) -> dict[str, Any]:
        """The subscription as Stripe sends it, in the 30-day period from ``start``."""
        start = self.t0 if start is None else start
        return payloads.subscription(
            id=self.subscription_id,
            customer_id=self.customer_id,
            price_obj=self.stripe_price,
            start=start,
            end=start + 30 * DAY,
            **fields,
        )

    def subscription_event(
        self,
        kind: str,
        *,
        at: int,
        event_id: str | None = None,
        previous_attributes: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        return payloads.event(
            f"customer.subscription.{kind}",
            self.subscription(**fields),
            id=event_id,
            created=at,
            previous_attributes=previous_attributes,
        )

    def invoice(
        self, invoice_id: str, *, start: int, reason: str, status: str = "paid"
    ) -> dict[str, Any]:
        return payloads.invoice(
            id=invoice_id,
            customer_id=self.customer_id,
            subscription_id=self.subscription_id,
            price_obj=self.stripe_price,
            billing_reason=reason,
            status=status,
            period_start=start,
            period_end=start + 30 * DAY,
        )

    def invoice_event(
        self, kind: str, invoice_id: str, *, start: int, reason: str, at: int
    ) -> dict[str, Any]:
        status = "paid" if kind == "paid" else "open"
        return payloads.event(
            f"invoice.{kind}",
            self.invoice(invoice_id, start=start, reason=reason, status=status),
            created=at,
        )

    def package_checkout(self) -> Any:
        """A token package checkout started here and not completed yet (no PaymentIntent)."""
        return PaymentFactory(
            subscriber=self.subscriber,
            kind="token_package",
            package=PackagePriceFactory().package,
            amount=500,
            tokens=0,
            stripe_checkout_session_id=f"cs_test_{self.customer_id}",
        )

    def refund_event(self, event_id: str, *, at: int) -> dict[str, Any]:
        """A refund of a charge whose payment this site has not recorded yet: it waits
        (with a ``package_checkout`` in progress, it is taken to be that one's)."""
        charge = payloads.charge(
            id="ch_1",
            amount=500,
            amount_refunded=500,
            payment_intent="pi_1",
            customer=self.customer_id,
            metadata={"fiko_subscriber": str(self.subscriber.pk)},
        )
        refund = stripe_shapes.refund(charge=charge, amount=500, refund_id="re_1")
        return payloads.event("refund.created", refund, id=event_id, created=at)

    def charge_event(self, event_id: str, *, at: int) -> dict[str, Any]:
        """A charge of this customer (``charge.succeeded``)."""
        charge = payloads.charge(
            id="ch_2", amount=500, payment_intent="pi_2", customer=self.customer_id
        )
        return payloads.event("charge.succeeded", charge, id=event_id, created=at)


class Outage:
    """While on, processing ``event_type`` fails as a database outage would."""

    message = "OperationalError: the database is unavailable"

    def __init__(self, monkeypatch: pytest.MonkeyPatch, event_type: str) -> None:
        self.on = True
        original = registry.handlers._ours.get(event_type)
        assert original is not None

        def handler(obj: dict[str, Any], event: Any) -> None:
            if self.on:
                raise OperationalError("the database is unavailable")
            original(obj, event)

        monkeypatch.setitem(registry.handlers._ours, event_type, handler)

    def end(self) -> None:
        self.on = False


@contextmanager
def recorded(signal: Signal, pick: Callable[[dict[str, Any]], Any]) -> Iterator[list[Any]]:
    """``pick(kwargs)`` of every ``signal`` sent inside the block, in order."""
    seen: list[Any] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(pick(kwargs))

    signal.connect(receiver)
    try:
        yield seen
    finally:
        signal.disconnect(receiver)


def processed_event_ids() -> AbstractContextManager[list[str]]:
    """The ids of the events processed inside the block, in the order they were processed."""
    return recorded(signals.webhook_event_processed, lambda kw: kw["event"].stripe_event_id)


def activated_subscription_ids() -> AbstractContextManager[list[str]]:
    """The Stripe ids of the subscriptions announced active inside the block."""
    return recorded(
        signals.subscription_activated, lambda kw: kw["subscription"].stripe_subscription_id
    )


def command_output(command: str, *args: str) -> str:
    """What a management command writes to stdout (its stderr is dropped)."""
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def command_failure(command: str, *args: str) -> tuple[CommandError, str]:
    """The error a management command must fail with, and what it wrote to stdout first."""
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(command, *args, stdout=out, stderr=io.StringIO())
    return raised.value, out.getvalue()
