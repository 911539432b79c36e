"""The models' database constraints, display strings and querysets.

Every constraint is checked against the database itself (``objects.create`` and
``update`` skip model validation), on SQLite and on PostgreSQL. Each rejection
also names the constraint that fired, so a row that fails for some other
reason (a missing column value, say) does not pass for the one under test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from fiko_billing.models import (
    ENTITLED_STATUSES,
    TERMINAL_STATUSES,
    Customer,
    EntryKind,
    Payment,
    PaymentKind,
    PaymentStatus,
    Plan,
    Price,
    Product,
    Subscription,
    SubscriptionStatus,
    TokenAccount,
    TokenAllocation,
    TokenEntry,
    TokenPackage,
    TokenReservation,
    WebhookEvent,
)
from tests.factories import (
    CustomerFactory,
    PackagePriceFactory,
    PaymentFactory,
    PlanFactory,
    PlanPriceFactory,
    SubscriberFactory,
    SubscriptionFactory,
    TokenPackageFactory,
    WebhookEventFactory,
)

pytestmark = pytest.mark.django_db

TABLE = "fiko_billing_{}"


@dataclass(frozen=True)
class Check:
    """A named CHECK constraint of ours."""

    name: str

    def pattern(self, vendor: str) -> str:
        if vendor == "postgresql":
            return f'violates check constraint "{re.escape(self.name)}"'
        return f"CHECK constraint failed: {re.escape(self.name)}$"


@dataclass(frozen=True)
class ColumnCheck:
    """The CHECK Django puts on a positive integer column."""

    model: str
    column: str

    def pattern(self, vendor: str) -> str:
        if vendor == "postgresql":
            table = TABLE.format(self.model)
            return rf'violates check constraint "{table}_{self.column}_\w*check"'
        return f"CHECK constraint failed: {re.escape(self.column)}$"


@dataclass(frozen=True)
class Unique:
    """A unique field, constraint or index over ``columns``."""

    model: str
    columns: tuple[str, ...]

    def pattern(self, vendor: str) -> str:
        if vendor == "postgresql":
            return re.escape(f"Key ({', '.join(self.columns)})=")
        table = TABLE.format(self.model)
        return (
            re.escape(
                "UNIQUE constraint failed: " + ", ".join(f"{table}.{c}" for c in self.columns)
            )
            + "$"
        )


@dataclass(frozen=True)
class NotNull:
    """A column that must hold a value."""

    model: str
    column: str

    def pattern(self, vendor: str) -> str:
        if vendor == "postgresql":
            return re.escape(f'null value in column "{self.column}"')
        table = TABLE.format(self.model)
        return re.escape(f"NOT NULL constraint failed: {table}.{self.column}") + "$"


Violation = Check | ColumnCheck | Unique | NotNull


@contextmanager
def rejected(violation: Violation) -> Iterator[None]:
    """The block must fail in the database, on exactly ``violation``."""
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    assert re.search(violation.pattern(connection.vendor), str(excinfo.value)), str(excinfo.value)


def account_of(subscriber: Any) -> TokenAccount:
    return TokenAccount.objects.create(subscriber=subscriber)


def entry(account: TokenAccount, **fields: Any) -> TokenEntry:
    values: dict[str, Any] = {"kind": EntryKind.PURCHASE, "amount": 100, "balance_after": 100}
    values.update(fields)
    return TokenEntry.objects.create(account=account, **values)


# Catalogue


def test_a_price_belongs_to_exactly_one_plan_or_package() -> None:
    plan, package = PlanFactory(), TokenPackageFactory()
    Price.objects.create(plan=plan, currency="usd", unit_amount=500)
    Price.objects.create(package=package, currency="usd", unit_amount=500)

    with pytest.raises(ValueError, match="one product"):
        Price.objects.create(plan=plan, package=package, currency="eur", unit_amount=500)
    with pytest.raises(ValueError, match="one product"):
        Price.objects.create(plan=package, currency="eur", unit_amount=500)
    with rejected(NotNull("price", "product_id")):
        Price.objects.create(currency="eur", unit_amount=500)

    assert Price.objects.count() == 2
    assert [(p.plan, p.package) for p in Price.objects.order_by("pk")] == [
        (plan, None),
        (None, package),
    ]


def test_one_price_per_plan_and_currency() -> None:
    price = PlanPriceFactory(currency="usd")
    PlanPriceFactory(plan=price.plan, currency="eur")
    PlanPriceFactory(currency="usd")

    with rejected(Unique("price", ("product_id", "currency"))):
        PlanPriceFactory(plan=price.plan, currency="usd", unit_amount=900)

    assert price.plan.prices.count() == 2


def test_one_price_per_package_and_currency() -> None:
    price = PackagePriceFactory(currency="usd")
    PackagePriceFactory(package=price.package, currency="jpy")

    with rejected(Unique("price", ("product_id", "currency"))):
        PackagePriceFactory(package=price.package, currency="usd")

    assert price.package.prices.count() == 2


def test_a_price_amount_is_not_negative() -> None:
    free = PlanPriceFactory(unit_amount=0)
    assert free.unit_amount == 0
    with rejected(ColumnCheck("price", "unit_amount")):
        PlanPriceFactory(unit_amount=-1)
    with rejected(ColumnCheck("price", "unit_amount")):
        Price.objects.filter(pk=free.pk).update(unit_amount=-500)


def test_catalogue_amounts_are_not_negative() -> None:
    PlanFactory(tokens_per_period=0)
    with rejected(ColumnCheck("product", "tokens")):
        PlanFactory(tokens_per_period=-1)
    with rejected(ColumnCheck("product", "sort_order")):
        PlanFactory(sort_order=-1)


def test_a_token_package_grants_at_least_one_token() -> None:
    TokenPackageFactory(tokens=1)
    with rejected(Check("fiko_product_token_tokens_minimum")):
        TokenPackageFactory(tokens=0)


def test_intervals_are_checked() -> None:
    PlanFactory(interval="year")
    TokenPackageFactory(interval="")
    TokenPackageFactory(interval="month")
    with rejected(Check("fiko_product_interval_valid")):
        PlanFactory(interval="week")
    with rejected(Check("fiko_product_interval_valid")):
        PlanFactory(interval="")
    with rejected(Check("fiko_product_interval_valid")):
        TokenPackageFactory(interval="Month")
    with rejected(Check("fiko_product_kind_valid")):
        Product.objects.create(kind="plan", name="Old word", interval="month")


@pytest.mark.parametrize(
    ("factory", "field", "model"),
    [
        (PlanFactory, "stripe_product_id", "product"),
        (TokenPackageFactory, "stripe_product_id", "product"),
        (PlanPriceFactory, "stripe_price_id", "price"),
    ],
)
def test_catalogue_stripe_ids_are_unique_but_may_be_missing(
    factory: Any, field: str, model: str
) -> None:
    factory(**{field: None})
    factory(**{field: None})
    factory(**{field: "stripe_1"})
    with rejected(Unique(model, (field,))):
        factory(**{field: "stripe_1"})


# Customers


def test_one_customer_per_subscriber() -> None:
    subscriber = SubscriberFactory()
    CustomerFactory(subscriber=subscriber)
    with rejected(Unique("customer", ("subscriber_id",))):
        CustomerFactory(subscriber=subscriber)
    assert Customer.objects.filter(subscriber=subscriber).count() == 1


def test_customer_stripe_id_is_unique_but_may_be_cleared() -> None:
    CustomerFactory(stripe_customer_id="cus_1")
    # A customer deleted in Stripe keeps its row with the id cleared.
    CustomerFactory(stripe_customer_id=None)
    CustomerFactory(stripe_customer_id=None)
    with rejected(Unique("customer", ("stripe_customer_id",))):
        CustomerFactory(stripe_customer_id="cus_1")


# Subscriptions


def test_subscription_stripe_id_is_unique() -> None:
    SubscriptionFactory(stripe_subscription_id="sub_1")
    with rejected(Unique("subscription", ("stripe_subscription_id",))):
        SubscriptionFactory(stripe_subscription_id="sub_1")


def test_subscription_status_is_checked() -> None:
    for status in SubscriptionStatus.values:
        SubscriptionFactory(status=status)
    with rejected(Check("fiko_subscription_status_valid")):
        SubscriptionFactory(status="cancelled")
    subscription = SubscriptionFactory()
    with rejected(Check("fiko_subscription_status_valid")):
        Subscription.objects.filter(pk=subscription.pk).update(status="ACTIVE")


def test_subscription_quantity_is_positive() -> None:
    SubscriptionFactory(quantity=1)
    with rejected(Check("fiko_subscription_quantity_positive")):
        SubscriptionFactory(quantity=0)


def test_a_subscription_is_to_a_plan_or_a_package_not_both() -> None:
    recurring = SubscriptionFactory(plan=None, package=TokenPackageFactory(interval="month"))
    unknown = SubscriptionFactory(plan=None, package=None)
    with pytest.raises(ValueError, match="one product"):
        SubscriptionFactory(plan=PlanFactory(), package=TokenPackageFactory(interval="month"))
    assert (recurring.plan, recurring.package.interval) == (None, "month")
    assert (unknown.product, unknown.plan, unknown.package) == (None, None, None)


# Payments


@pytest.mark.parametrize(
    "field",
    [
        "stripe_checkout_session_id",
        "stripe_payment_intent_id",
        "stripe_invoice_id",
        "stripe_charge_id",
    ],
)
def test_payment_stripe_ids_are_unique_but_may_be_missing(field: str) -> None:
    blank = {
        "stripe_checkout_session_id": None,
        "stripe_payment_intent_id": None,
        "stripe_invoice_id": None,
        "stripe_charge_id": None,
    }
    PaymentFactory(**blank)
    PaymentFactory(**blank)
    PaymentFactory(**{**blank, field: "stripe_1"})
    with rejected(Unique("payment", (field,))):
        PaymentFactory(**{**blank, field: "stripe_1"})


def test_payment_refund_is_at_most_the_amount() -> None:
    payment = PaymentFactory(amount=500, amount_refunded=500)
    with rejected(Check("fiko_payment_refund_lte_amount")):
        PaymentFactory(amount=500, amount_refunded=501)
    with rejected(Check("fiko_payment_refund_lte_amount")):
        Payment.objects.filter(pk=payment.pk).update(amount=499)


@pytest.mark.parametrize("field", ["amount", "amount_refunded", "tokens"])
def test_payment_amounts_are_not_negative(field: str) -> None:
    PaymentFactory(**{field: 0})
    with rejected(ColumnCheck("payment", field)):
        PaymentFactory(**{field: -1})


def test_payment_quantity_is_positive() -> None:
    with rejected(Check("fiko_payment_quantity_positive")):
        PaymentFactory(quantity=0)


def test_payment_status_and_kind_are_checked() -> None:
    for status in PaymentStatus.values:
        PaymentFactory(status=status)
    for kind in PaymentKind.values:
        PaymentFactory(kind=kind)
    with rejected(Check("fiko_payment_status_valid")):
        PaymentFactory(status="paid")
    with rejected(Check("fiko_payment_kind_valid")):
        PaymentFactory(kind="donation")


# Webhook events


def test_webhook_event_id_is_unique() -> None:
    WebhookEventFactory(stripe_event_id="evt_1")
    with rejected(Unique("webhookevent", ("stripe_event_id",))):
        WebhookEventFactory(stripe_event_id="evt_1", type="invoice.payment_failed")
    assert WebhookEvent.objects.get().type == "invoice.paid"


def test_webhook_event_status_is_checked() -> None:
    event = WebhookEventFactory()
    with rejected(Check("fiko_event_status_valid")):
        WebhookEventFactory(status="done")
    with rejected(Check("fiko_event_status_valid")):
        WebhookEvent.objects.filter(pk=event.pk).update(status="")
    with rejected(ColumnCheck("webhookevent", "attempts")):
        WebhookEvent.objects.filter(pk=event.pk).update(attempts=-1)


# Token ledger


def test_one_token_account_per_subscriber(subscriber: Any) -> None:
    account_of(subscriber)
    with rejected(Unique("tokenaccount", ("subscriber_id",))):
        account_of(subscriber)


def test_a_token_entry_moves_tokens(subscriber: Any) -> None:
    account = account_of(subscriber)
    entry(account, amount=1)
    entry(account, kind=EntryKind.CONSUME, amount=-1, balance_after=0)
    with rejected(Check("fiko_entry_amount_nonzero")):
        entry(account, amount=0)


def test_token_entry_kind_is_checked(subscriber: Any) -> None:
    account = account_of(subscriber)
    for kind in EntryKind.values:
        entry(account, kind=kind)
    with rejected(Check("fiko_entry_kind_valid")):
        entry(account, kind="gift")


def test_a_credit_remaining_is_within_its_amount(subscriber: Any) -> None:
    account = account_of(subscriber)
    credit = entry(account, amount=100, remaining=100)
    entry(account, amount=100, remaining=0)
    with rejected(Check("fiko_entry_remaining_within_amount")):
        entry(account, amount=100, remaining=101)
    with rejected(Check("fiko_entry_remaining_within_amount")):
        entry(account, amount=100, remaining=-1)
    with rejected(Check("fiko_entry_remaining_within_amount")):
        TokenEntry.objects.filter(pk=credit.pk).update(remaining=101)


def test_a_debit_has_nothing_remaining(subscriber: Any) -> None:
    account = account_of(subscriber)
    entry(account, kind=EntryKind.CONSUME, amount=-5, remaining=0)
    with rejected(Check("fiko_entry_remaining_within_amount")):
        entry(account, kind=EntryKind.CONSUME, amount=-5, remaining=1)


def test_a_reference_is_used_once_per_account(subscriber: Any) -> None:
    account = account_of(subscriber)
    other = account_of(SubscriberFactory())
    entry(account, reference="cs_1")
    entry(other, reference="cs_1")
    entry(account, reference=None)
    entry(account, reference=None)
    with rejected(Unique("tokenentry", ("account_id", "reference"))):
        entry(account, reference="cs_1", amount=5)
    assert account.entries.filter(reference="cs_1").get().amount == 100


def test_reservation_constraints(subscriber: Any) -> None:
    account = account_of(subscriber)

    def reservation(**fields: Any) -> TokenReservation:
        hold = entry(account, kind=EntryKind.RESERVE, amount=-10, balance_after=0)
        values: dict[str, Any] = {"amount": 10}
        values.update(fields)
        return TokenReservation.objects.create(account=account, entry=hold, **values)

    first = reservation(reference="job-1")
    with rejected(Unique("tokenreservation", ("account_id", "reference"))):
        reservation(reference="job-1")
    with rejected(Check("fiko_reservation_positive")):
        reservation(amount=0)
    with rejected(Check("fiko_reservation_status_valid")):
        reservation(status="open")
    with rejected(Unique("tokenreservation", ("entry_id",))):
        TokenReservation.objects.create(account=account, entry=first.entry, amount=10)


def test_allocation_constraints(subscriber: Any) -> None:
    account = account_of(subscriber)
    grant = entry(account, amount=100, remaining=90)
    debit = entry(account, kind=EntryKind.RESERVE, amount=-10, balance_after=90)
    TokenAllocation.objects.create(debit=debit, grant=grant, amount=10)
    with rejected(Unique("tokenallocation", ("debit_id", "grant_id"))):
        TokenAllocation.objects.create(debit=debit, grant=grant, amount=5)
    with rejected(Check("fiko_allocation_positive")):
        TokenAllocation.objects.create(
            debit=entry(account, kind=EntryKind.RESERVE, amount=-1, balance_after=89),
            grant=grant,
            amount=0,
        )


# Display


@pytest.mark.parametrize(
    ("currency", "amount", "display"),
    [
        ("usd", 500, "$5.00"),
        ("eur", 123_456, "€1,234.56"),
        ("jpy", 500, "¥500"),
        ("kwd", 12_500, "12.500 KWD"),
        ("chf", 990, "9.90 CHF"),
    ],
)
def test_price_display(currency: str, amount: int, display: str) -> None:
    price = PlanPriceFactory(currency=currency, unit_amount=amount, plan__name="Pro")
    assert price.display == display
    assert str(price) == f"Pro: {display}"


def test_package_price_str_and_item() -> None:
    price = PackagePriceFactory(package__name="Starter pack", currency="jpy", unit_amount=1200)
    assert str(price) == "Starter pack: ¥1,200"
    assert price.item == price.package
    plan_price = PlanPriceFactory(plan__name="Team")
    assert plan_price.item == plan_price.plan


def test_catalogue_str_and_recurring() -> None:
    assert str(PlanFactory(name="Pro")) == "Pro"
    assert str(TokenPackageFactory(name="10k tokens")) == "10k tokens"
    assert TokenPackageFactory(interval="month").recurring is True
    assert TokenPackageFactory(interval="").recurring is False


def test_catalogue_ordering() -> None:
    second = PlanFactory(name="B", sort_order=2)
    first = PlanFactory(name="A", sort_order=1)
    also_second = PlanFactory(name="C", sort_order=2)
    assert list(Plan.objects.all()) == [first, second, also_second]
    late = TokenPackageFactory(sort_order=5)
    early = TokenPackageFactory(sort_order=0)
    assert list(TokenPackage.objects.all()) == [early, late]


def test_customer_str(subscriber: Any) -> None:
    customer = CustomerFactory(subscriber=subscriber, stripe_customer_id="cus_42")
    assert str(customer) == "cus_42"
    customer.stripe_customer_id = None
    assert str(customer) == f"customer of {subscriber}"


def test_subscription_str() -> None:
    subscription = SubscriptionFactory(stripe_subscription_id="sub_42", status="past_due")
    assert str(subscription) == "sub_42 (past_due)"


def test_payment_str() -> None:
    payment = PaymentFactory(
        kind=PaymentKind.RENEWAL, amount=1999, currency="eur", status=PaymentStatus.SUCCEEDED
    )
    assert str(payment) == "Subscription renewal 1999 eur (succeeded)"


def test_webhook_event_str() -> None:
    event = WebhookEventFactory(stripe_event_id="evt_42", type="invoice.paid")
    assert str(event) == "evt_42 invoice.paid (pending)"


def test_ledger_str(subscriber: Any) -> None:
    account = account_of(subscriber)
    account.balance = -40
    assert str(account) == f"{subscriber}: -40 tokens"
    assert str(entry(account, kind=EntryKind.PURCHASE, amount=100)) == "Purchase +100"
    spent = entry(account, kind=EntryKind.CONSUME, amount=-30, balance_after=70)
    assert str(spent) == "Spent -30"
    hold = entry(account, kind=EntryKind.RESERVE, amount=-50, balance_after=20)
    reservation = TokenReservation.objects.create(account=account, entry=hold, amount=50)
    assert str(reservation) == "50 tokens (held)"


# Entitlement


def test_the_entitled_and_terminal_statuses() -> None:
    assert {s.value for s in ENTITLED_STATUSES} == {"active", "trialing", "past_due"}
    assert {s.value for s in TERMINAL_STATUSES} == {"canceled", "incomplete_expired"}


def test_entitled_queryset_keeps_exactly_the_entitled_statuses() -> None:
    by_status = {status: SubscriptionFactory(status=status) for status in SubscriptionStatus}
    entitled = Subscription.objects.entitled()
    assert sorted(s.status for s in entitled) == ["active", "past_due", "trialing"]
    assert set(entitled) == {
        by_status[SubscriptionStatus.ACTIVE],
        by_status[SubscriptionStatus.TRIALING],
        by_status[SubscriptionStatus.PAST_DUE],
    }
    for status, subscription in by_status.items():
        assert subscription.is_entitled is (status in ENTITLED_STATUSES)


def test_entitled_queryset_chains(subscriber: Any) -> None:
    customer = CustomerFactory(subscriber=subscriber)
    mine = SubscriptionFactory(customer=customer, status="trialing")
    SubscriptionFactory(customer=customer, status="canceled")
    SubscriptionFactory(status="active")
    assert list(Subscription.objects.filter(subscriber=subscriber).entitled()) == [mine]
    assert list(Subscription.objects.entitled().filter(subscriber=subscriber)) == [mine]
    assert Subscription.objects.entitled().count() == 2


def test_stripe_state_at_round_trips() -> None:
    moment = datetime(2026, 11, 1, 12, 0, 0, 123000, tzinfo=UTC)
    subscription = SubscriptionFactory(stripe_state_at=moment)
    subscription.refresh_from_db()
    assert subscription.stripe_state_at == moment


def test_one_table_of_products_each_loaded_as_its_kind() -> None:
    plan = Plan.objects.create(name="Pro", tokens_per_period=500)
    package = TokenPackage.objects.create(name="Top-up", tokens=100)
    PlanPriceFactory(plan=plan)

    assert (plan.kind, plan.interval, plan.tokens) == ("full", "month", 500)
    assert (package.kind, package.interval) == ("token", "")
    assert list(Plan.objects.all()) == [plan]
    assert list(TokenPackage.objects.all()) == [package]
    loaded = {type(p): p for p in Product.objects.all()}
    assert loaded == {Plan: plan, TokenPackage: package}
    assert type(Price.objects.select_related("product").get().product) is Plan
    assert [type(p) for p in Product.objects.only("pk")] == [Product, Product]


def test_what_a_kind_decides_comes_from_its_rules() -> None:
    plan = PlanFactory(tokens_per_period=1_000, interval="year")
    once, recurring = TokenPackageFactory(tokens=50), TokenPackageFactory(interval="month")

    assert [p.stripe_mode for p in (plan, once, recurring)] == [
        "subscription",
        "payment",
        "subscription",
    ]
    assert (plan.tokens_for(3), once.tokens_for(3)) == (3_000, 150)
    assert plan.metadata == {"fiko_item": f"plan:{plan.pk}"}
    assert once.metadata == {"fiko_item": f"package:{once.pk}"}


def test_a_subscription_records_when_its_status_changed() -> None:
    subscription = SubscriptionFactory(status=SubscriptionStatus.INCOMPLETE)
    created = subscription.status_changed
    assert created is not None

    subscription.quantity = 2
    subscription.save(update_fields=["quantity"])
    subscription.refresh_from_db()
    assert subscription.status_changed == created

    subscription.status = SubscriptionStatus.ACTIVE
    subscription.save(update_fields=["status"])
    subscription.refresh_from_db()
    assert subscription.status_changed > created
