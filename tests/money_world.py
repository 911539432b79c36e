"""Money stories told by the emulator: real Stripe-shaped events, captured, replayed at will.

``MoneyWorld`` runs the bundled emulator in this process with the clock frozen
(only ``advance`` moves it), syncs a small catalogue to it with our own
``sync_catalogue``, and starts checkouts with our own ``start_checkout``, so
every object carries the metadata production objects carry. Instead of
delivering its events, the emulator hands each one to ``events``, in the
order Stripe would create them; a test then delivers them in the order it
wants (``deliver``), as Stripe may, at the time Stripe would (the clock only
moves forward: a late event is delivered later, never in the past).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import stripe
import time_machine
from django.db import transaction

from fiko_billing.emulator import PINNED_API_VERSION, Emulator
from fiko_billing.emulator.store import Obj
from fiko_billing.gateway import get_gateway
from fiko_billing.models import Customer, Plan, TokenPackage
from fiko_billing.services.catalog_sync import sync_catalogue
from fiko_billing.services.checkout import start_checkout
from fiko_billing.services.customers import subscriber_metadata
from fiko_billing.services.events import handled_event_types, process_event, store_event
from fiko_billing.testing.fixtures import EMULATOR_SECRET_KEY, EMULATOR_WEBHOOK_SECRET
from fiko_billing.testing.hosted import CARD_SUCCEEDS, _post, pay_checkout
from tests.factories import PackagePriceFactory, PlanPriceFactory, SubscriberFactory

DAY = 86_400
HOUR = 3_600
#: 2026-03-10 09:00:00 UTC, a Tuesday in the middle of a month.
START = 1_773_133_200
#: The renewals of a monthly subscription started at START: 10 April and 10 May,
#: each charged an hour after its invoice is created, as Stripe does.
RENEWAL_1 = START + 31 * DAY
RENEWAL_2 = START + 61 * DAY


class MoneyWorld:
    """One subscriber, a synced catalogue on an in-process emulator, and its events.

    Plans: ``monthly`` (500 a month, 1,000 tokens), ``premium`` (2,000 a
    month, 5,000 tokens), ``yearly`` (5,000 a year, 15,000 tokens); package:
    ``package`` (1,000 for 1,000 tokens).
    """

    def __init__(self, settings: Any, *, start: int = START, seed: int = 11) -> None:
        self.emulator = Emulator(seed=seed, frozen_at=start)
        self._events: list[dict[str, Any]] = []
        # Every event, as the wire carries it, instead of a delivery.
        self.emulator.observe(events=lambda e: self._events.append(json.loads(json.dumps(e))))
        self.emulator.start()
        settings.FIKO_BILLING = {
            **settings.FIKO_BILLING,
            "STRIPE_SECRET_KEY": EMULATOR_SECRET_KEY,
            "STRIPE_WEBHOOK_SECRET": EMULATOR_WEBHOOK_SECRET,
            "STRIPE_API_BASE": self.emulator.url,
            "STRIPE_MAX_NETWORK_RETRIES": 0,
            "PRORATION_BEHAVIOR": "create_prorations",
        }
        self.monthly = PlanPriceFactory(
            plan__name="Monthly", unit_amount=500, plan__tokens_per_period=1_000
        ).plan
        self.premium = PlanPriceFactory(
            plan__name="Premium", unit_amount=2_000, plan__tokens_per_period=5_000
        ).plan
        self.yearly = PlanPriceFactory(
            plan__name="Yearly",
            plan__interval="year",
            unit_amount=5_000,
            plan__tokens_per_period=15_000,
        ).plan
        self.package = PackagePriceFactory(
            package__name="1,000 tokens", unit_amount=1_000, package__tokens=1_000
        ).package
        sync_catalogue()
        self.subscriber = SubscriberFactory()
        self.sdk = stripe.StripeClient(
            EMULATOR_SECRET_KEY,
            base_addresses={"api": self.emulator.url},
            stripe_version=PINNED_API_VERSION,
            max_network_retries=0,
        )
        self.mark()

    def close(self) -> None:
        self.emulator.stop()

    # ------------------------------------------------------------------ what happened

    def mark(self) -> None:
        """Forget the events so far (the catalogue's, say)."""
        self._events.clear()

    def events(self, types: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The events so far, oldest first; by default those our webhook endpoint receives."""
        wanted = set(handled_event_types() if types is None else types)
        return [e for e in self._events if e["type"] in wanted]

    def all_events(self) -> list[dict[str, Any]]:
        return list(self._events)

    def now(self) -> int:
        return self.emulator.now()

    def find(self, kind: str, **fields: Any) -> Obj:
        for obj in self.emulator.objects(kind):
            if all(obj.get(k) == v for k, v in fields.items()):
                return obj
        raise LookupError(f"no {kind} with {fields}")

    # ------------------------------------------------------------------ what the customer does

    def checkout(self, item: Plan | TokenPackage, card: str = CARD_SUCCEEDS) -> str:
        """Start a checkout with our own service and pay it on the hosted page."""
        started = start_checkout(
            self.subscriber,
            plan_type="full" if isinstance(item, Plan) else "token",
            plan_id=item.pk,
            currency=None,
            quantity=1,
            gateway=get_gateway(),
        )
        page = pay_checkout(started.url, card)
        assert page.paid, page.body
        return started.session_id

    def checkout_elsewhere(self, plan: Plan, card: str = CARD_SUCCEEDS) -> str:
        """A subscription checkout made outside our endpoint (another server, an old
        deploy, the dashboard), with our metadata: what checkout's own guard cannot see."""
        customer = Customer.objects.get(subscriber=self.subscriber).stripe_customer_id
        price = plan.prices.get()
        metadata = {
            **subscriber_metadata(self.subscriber),
            "fiko_item": f"plan:{plan.pk}",
            "fiko_price": str(price.pk),
            "fiko_quantity": "1",
        }
        session = self.sdk.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": customer,
                "line_items": [{"price": price.stripe_price_id, "quantity": 1}],
                "success_url": "http://localhost/billing/success/",
                "metadata": metadata,
                "subscription_data": {"metadata": metadata},
            }
        )
        page = pay_checkout(str(session.url), card)
        assert page.paid, page.body
        return str(session.id)

    def subscription(self) -> Obj:
        subs = [s for s in self.emulator.objects("subscription") if s["status"] != "canceled"]
        return subs[0] if subs else self.emulator.objects("subscription")[0]

    def advance(self, *, days: float = 0, seconds: float = 0) -> None:
        self.emulator.advance(days=days, seconds=seconds)

    def advance_to(self, moment: int) -> None:
        """Run the clock to ``moment`` (what falls due runs at its own time)."""
        self.emulator.advance(seconds=moment - self.now())

    def change_plan(self, plan: Plan, *, proration_behavior: str) -> None:
        sub = self.subscription()
        price = plan.prices.get().stripe_price_id
        self.sdk.v1.subscriptions.update(
            sub["id"],
            params={
                "items": [{"id": sub["items"]["data"][0]["id"], "price": price}],
                "proration_behavior": proration_behavior,
            },
        )

    def cancel_at_period_end(self) -> None:
        self.sdk.v1.subscriptions.update(
            self.subscription()["id"], params={"cancel_at_period_end": True}
        )

    def resume(self) -> None:
        self.sdk.v1.subscriptions.update(
            self.subscription()["id"], params={"cancel_at_period_end": False}
        )

    def cancel_now(self) -> None:
        self.sdk.v1.subscriptions.cancel(self.subscription()["id"])

    def refund(self, payment_intent: str, amount: int | None = None) -> Obj:
        params: dict[str, Any] = {"payment_intent": payment_intent}
        if amount is not None:
            params["amount"] = amount
        return self.sdk.v1.refunds.create(params=params).to_dict()  # type: ignore[arg-type]

    def portal(self, action: str, **fields: str) -> None:
        """Do ``action`` on the hosted Customer Portal (``update_card``, ``cancel``...)."""
        customer = Customer.objects.get(subscriber=self.subscriber).stripe_customer_id
        session = self.sdk.v1.billing_portal.sessions.create(
            params={"customer": customer, "return_url": "http://localhost/billing/"}
        )
        form = {"action": action, **fields}
        if action != "update_card":
            form.setdefault("subscription", self.subscription()["id"])
        page = _post(session.url, form)
        assert page.status in (302, 303), page.body

    def update_card(self, card: str) -> None:
        self.portal("update_card", card_number=card, card_expiry="12 / 34", card_cvc="123")

    def open_dispute(self, payment_intent: str, **options: Any) -> Obj:
        return self.emulator.open_dispute(payment_intent, **options)

    def close_dispute(self, dispute_id: str, *, won: bool) -> Obj:
        return self.emulator.close_dispute(dispute_id, won=won)

    def intent_of(self, invoice_id: str) -> str:
        payments = [
            p for p in self.emulator.objects("invoice_payment") if p["invoice"] == invoice_id
        ]
        return str(payments[0]["payment"]["payment_intent"])


@contextmanager
def at_time(moment: int) -> Iterator[None]:
    with time_machine.travel(moment, tick=False):
        yield


class Delivery:
    """Delivers events as Stripe would, with the clock moving forward only.

    ``stored`` maps event ids to rows stored beforehand (``store_all``): a
    delivery then only processes the row, as a delivery of a stored event does
    (their ``received_at`` is then the time Stripe created them: a test of
    waiting times stores its events as it delivers them).
    """

    def __init__(self, stored: dict[str, int] | None = None) -> None:
        self.now = 0
        self.stored = stored or {}
        self.outcomes: list[tuple[str, str]] = []

    def __call__(self, event: dict[str, Any]) -> str:
        self.now = max(self.now, int(event["created"]))
        with at_time(self.now):
            pk = self.stored.get(event["id"])
            if pk is None:
                pk = store_event(json.loads(json.dumps(event))).event.pk
            outcome = process_event(pk)
        self.outcomes.append((event["type"], outcome))
        return outcome


def store_all(events: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Store each event as its delivery would, at the time Stripe created it."""
    stored = {}
    for event in events:
        with at_time(int(event["created"])):
            stored[event["id"]] = store_event(json.loads(json.dumps(event))).event.pk
    return stored


def deliver_all(events: Iterable[dict[str, Any]]) -> Delivery:
    delivery = Delivery()
    for event in events:
        delivery(event)
    return delivery


@contextmanager
def rolled_back() -> Iterator[None]:
    """Run the block in a savepoint that is always rolled back."""

    class _Rollback(Exception):
        pass

    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass
