"""The admin: every model's pages, read-only mirrors and ledger, and the token adjustment."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.db import connection, models
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from fiko_billing import tokens
from fiko_billing.admin import MAX_ADJUSTED_ACCOUNTS, subscriber_search_fields
from fiko_billing.models import (
    Customer,
    EntryKind,
    Payment,
    Plan,
    Price,
    RejectedEvent,
    Subscription,
    TokenAccount,
    TokenEntry,
    TokenPackage,
    TokenReservation,
    WebhookEvent,
)
from fiko_billing.subscribers import get_subscriber_model
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

EVENT_TIME = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def url(model: type[models.Model], view: str, *args: Any) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def funded_subscriber(amount: int = 100) -> Any:
    subscriber = SubscriberFactory()
    tokens.credit(subscriber, amount, kind="purchase", reference=f"cs_{subscriber.pk}")
    return subscriber


def make_plan() -> Plan:
    plan = PlanFactory()
    PlanPriceFactory(plan=plan, currency="usd", unit_amount=1500)
    PlanPriceFactory(plan=plan, currency="jpy", unit_amount=2000, active=False)
    return plan


def make_package() -> TokenPackage:
    return PackagePriceFactory(currency="eur", unit_amount=990).package


def make_price() -> Price:
    return PlanPriceFactory(unit_amount=1234)


def make_event() -> WebhookEvent:
    return WebhookEventFactory(stripe_created=EVENT_TIME)


def make_rejected() -> RejectedEvent:
    return RejectedEvent.objects.create(
        body_sha256=uuid.uuid4().hex * 2,
        reason="invalid_event",
        message="'created' must be an integer Unix time.",
        stripe_event_id="evt_rejected",
        type="invoice.paid",
        body='{"id": "evt_rejected"}',
    )


def make_account() -> TokenAccount:
    return TokenAccount.objects.get(subscriber=funded_subscriber())


def make_entry() -> TokenEntry:
    return TokenEntry.objects.get(account__subscriber=funded_subscriber())


def make_reservation() -> TokenReservation:
    subscriber = funded_subscriber()
    return TokenReservation.objects.get(pk=tokens.reserve(subscriber, 40, reference="job-1").pk)


#: Each model with a maker of one row and a text its pages must show.
ROWS: dict[type[models.Model], tuple[Callable[[], Any], Callable[[Any], str]]] = {
    Plan: (make_plan, lambda plan: plan.name),
    TokenPackage: (make_package, lambda package: package.name),
    Price: (make_price, lambda price: price.plan.name),
    Customer: (CustomerFactory, lambda customer: customer.stripe_customer_id),
    Subscription: (SubscriptionFactory, lambda sub: sub.stripe_subscription_id),
    Payment: (PaymentFactory, lambda payment: escape(str(payment.subscriber))),
    WebhookEvent: (make_event, lambda event: event.stripe_event_id),
    RejectedEvent: (make_rejected, lambda rejected: rejected.stripe_event_id),
    TokenAccount: (make_account, lambda account: escape(str(account.subscriber))),
    TokenEntry: (make_entry, lambda entry: f"cs_{entry.account.subscriber.pk}"),
    TokenReservation: (make_reservation, lambda reservation: "job-1"),
}
MIRRORED = (Customer, Subscription, Payment, WebhookEvent, RejectedEvent)
LEDGER = (TokenAccount, TokenEntry, TokenReservation)


# --------------------------------------------------------------------------- every model


@pytest.mark.parametrize("model", list(ROWS), ids=lambda m: m.__name__)
def test_every_model_is_registered(model: type[models.Model]) -> None:
    assert admin.site.is_registered(model)


def test_admin_checks_pass() -> None:
    assert admin.site.check(None) == []


@pytest.mark.parametrize("model", list(ROWS), ids=lambda m: m.__name__)
def test_changelist_and_change_page_show_the_row(admin_client: Any, model: Any) -> None:
    make, text_of = ROWS[model]
    row = make()

    listing = admin_client.get(url(model, "changelist"))
    detail = admin_client.get(url(model, "change", row.pk))

    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [row]
    assert text_of(row) in listing.content.decode()
    assert detail.status_code == 200
    assert text_of(row) in detail.content.decode()


@pytest.mark.parametrize("model", list(ROWS), ids=lambda m: m.__name__)
def test_changelist_queries_do_not_grow_with_rows(admin_client: Any, model: Any) -> None:
    make, _text_of = ROWS[model]
    changelist = url(model, "changelist")

    for _ in range(2):
        make()
    with CaptureQueriesContext(connection) as two_rows:
        assert admin_client.get(changelist).context["cl"].result_count == 2
    for _ in range(18):
        make()
    with CaptureQueriesContext(connection) as twenty_rows:
        response = admin_client.get(changelist)

    assert response.context["cl"].result_count == 20
    assert len(response.context["cl"].result_list) == 20
    assert len(twenty_rows) == len(two_rows), [q["sql"] for q in twenty_rows.captured_queries]


# --------------------------------------------------------------------------- catalogue


def test_plan_list_shows_prices_as_money(admin_client: Any) -> None:
    make_plan()

    content = admin_client.get(url(Plan, "changelist")).content.decode()

    assert "¥2,000 (inactive), $15.00" in content


def test_package_list_shows_one_time_and_recurring(admin_client: Any) -> None:
    TokenPackageFactory(name="Starter", interval="")
    TokenPackageFactory(name="Monthly top-up", interval="month")

    content = admin_client.get(url(TokenPackage, "changelist")).content.decode()

    assert '<td class="field-billing">One-time</td>' in content
    assert '<td class="field-billing">Monthly</td>' in content


def test_plan_is_created_with_prices_inline_and_stripe_id_is_read_only(admin_client: Any) -> None:
    response = admin_client.post(
        url(Plan, "add"),
        {
            "name": "Pro",
            "description": "",
            "interval": "year",
            "tokens": "50000",
            "active": "on",
            "sort_order": "0",
            "stripe_product_id": "prod_injected",
            "prices-TOTAL_FORMS": "2",
            "prices-INITIAL_FORMS": "0",
            "prices-MIN_NUM_FORMS": "0",
            "prices-MAX_NUM_FORMS": "1000",
            "prices-0-currency": "usd",
            "prices-0-unit_amount": "9900",
            "prices-0-active": "on",
            "prices-1-currency": "jpy",
            "prices-1-unit_amount": "15000",
            "prices-1-active": "on",
        },
    )

    assert response.status_code == 302
    plan = Plan.objects.get(name="Pro")
    assert plan.stripe_product_id is None
    assert plan.interval == "year"
    assert sorted(plan.prices.values_list("currency", "unit_amount")) == [
        ("jpy", 15000),
        ("usd", 9900),
    ]


def test_duplicate_currency_in_the_inline_is_a_form_error(admin_client: Any) -> None:
    response = admin_client.post(
        url(Plan, "add"),
        {
            "name": "Pro",
            "interval": "month",
            "tokens": "0",
            "sort_order": "0",
            "prices-TOTAL_FORMS": "2",
            "prices-INITIAL_FORMS": "0",
            "prices-MIN_NUM_FORMS": "0",
            "prices-MAX_NUM_FORMS": "1000",
            "prices-0-currency": "usd",
            "prices-0-unit_amount": "900",
            "prices-1-currency": "usd",
            "prices-1-unit_amount": "1900",
        },
    )

    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.non_form_errors() == [
        "Each currency can have only one price; USD appears twice."
    ]
    assert not Plan.objects.exists()
    assert not Price.objects.exists()


def test_new_price_in_a_taken_currency_is_a_form_error(admin_client: Any) -> None:
    price = PlanPriceFactory(currency="usd", unit_amount=500)
    plan = price.plan

    response = admin_client.post(
        url(Plan, "change", plan.pk),
        {
            "name": plan.name,
            "interval": "month",
            "tokens": "10",
            "sort_order": "0",
            "prices-TOTAL_FORMS": "2",
            "prices-INITIAL_FORMS": "1",
            "prices-MIN_NUM_FORMS": "0",
            "prices-MAX_NUM_FORMS": "1000",
            "prices-0-id": str(price.pk),
            "prices-0-product": str(plan.pk),
            "prices-0-currency": "usd",
            "prices-0-unit_amount": "500",
            "prices-1-product": str(plan.pk),
            "prices-1-currency": "usd",
            "prices-1-unit_amount": "700",
        },
    )

    assert response.status_code == 200
    assert response.context["errors"]
    assert list(Price.objects.values_list("currency", "unit_amount")) == [("usd", 500)]


def test_a_deleted_price_frees_its_currency(admin_client: Any) -> None:
    price = PlanPriceFactory(currency="usd", unit_amount=500)
    plan = price.plan

    response = admin_client.post(
        url(Plan, "change", plan.pk),
        {
            "name": plan.name,
            "interval": "month",
            "tokens": "10",
            "sort_order": "0",
            "prices-TOTAL_FORMS": "2",
            "prices-INITIAL_FORMS": "1",
            "prices-MIN_NUM_FORMS": "0",
            "prices-MAX_NUM_FORMS": "1000",
            "prices-0-id": str(price.pk),
            "prices-0-product": str(plan.pk),
            "prices-0-currency": "usd",
            "prices-0-unit_amount": "500",
            "prices-0-DELETE": "on",
            "prices-1-product": str(plan.pk),
            "prices-1-currency": "usd",
            "prices-1-unit_amount": "700",
        },
    )

    assert response.status_code == 302
    assert list(plan.prices.values_list("currency", "unit_amount")) == [("usd", 700)]


def test_price_amount_is_editable_and_stripe_id_is_not(admin_client: Any) -> None:
    price = PlanPriceFactory(unit_amount=500, stripe_price_id="price_original")
    plan_id = price.plan_id

    response = admin_client.post(
        url(Price, "change", price.pk),
        {
            "currency": "eur",
            "unit_amount": "750",
            "active": "",
            "stripe_price_id": "price_injected",
            "product": str(PlanFactory().pk),
        },
    )

    assert response.status_code == 302
    price.refresh_from_db()
    assert (price.currency, price.unit_amount, price.active) == ("eur", 750, False)
    assert price.stripe_price_id == "price_original"
    assert price.plan_id == plan_id


def test_price_list_shows_money(admin_client: Any) -> None:
    PlanPriceFactory(currency="usd", unit_amount=123456)
    PackagePriceFactory(currency="jpy", unit_amount=500)

    content = admin_client.get(url(Price, "changelist")).content.decode()

    assert "$1,234.56" in content
    assert "¥500" in content


def test_price_needs_exactly_one_item(admin_client: Any) -> None:
    package = TokenPackageFactory()

    neither = admin_client.post(
        url(Price, "add"), {"currency": "usd", "unit_amount": "500", "active": "on"}
    )
    # The product is one field: a price cannot name a plan and a package at once.
    assert "package" not in neither.context["adminform"].form.fields

    assert neither.status_code == 200
    assert neither.context["adminform"].form.errors == {"product": ["This field is required."]}
    assert not Price.objects.exists()
    added = admin_client.post(
        url(Price, "add"),
        {"product": str(package.pk), "currency": "usd", "unit_amount": "500", "active": "on"},
    )
    assert added.status_code == 302
    assert Price.objects.get().package == package


# --------------------------------------------------------------------------- mirrored from Stripe


@pytest.mark.parametrize("model", MIRRORED, ids=lambda m: m.__name__)
def test_mirrored_models_cannot_be_added(admin_client: Any, model: Any) -> None:
    count = model.objects.count()

    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.post(url(model, "add"), {}).status_code == 403
    assert model.objects.count() == count


@pytest.mark.parametrize("model", MIRRORED + LEDGER, ids=lambda m: m.__name__)
def test_every_field_of_mirrored_and_ledger_rows_is_read_only(admin_user: Any, model: Any) -> None:
    row = ROWS[model][0]()
    request = RequestFactory().get("/")
    request.user = admin_user
    model_admin = admin.site.get_model_admin(model)

    readonly = set(model_admin.get_readonly_fields(request, row))

    fields = {f.name for f in model._meta.concrete_fields if not f.primary_key}
    assert fields - readonly == set()
    assert not model_admin.has_change_permission(request, row)


def test_subscription_change_post_changes_nothing(admin_client: Any) -> None:
    subscription = SubscriptionFactory(status="active")

    response = admin_client.post(
        url(Subscription, "change", subscription.pk),
        {"status": "canceled", "stripe_subscription_id": "sub_injected"},
    )

    assert response.status_code == 403
    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert subscription.stripe_subscription_id.startswith("sub_test")


def test_payment_list_shows_amounts_as_money(admin_client: Any) -> None:
    PaymentFactory(amount=2500, amount_refunded=1000, currency="usd")
    PaymentFactory(amount=1200, currency="jpy")
    PaymentFactory(amount=12500, currency="kwd")

    content = admin_client.get(url(Payment, "changelist")).content.decode()

    assert '<td class="field-amount_display">$25.00</td>' in content
    assert '<td class="field-refunded_display">$10.00</td>' in content
    assert '<td class="field-amount_display">¥1,200</td>' in content
    assert '<td class="field-amount_display">12.500 KWD</td>' in content


def test_webhook_event_payload_is_pretty_printed_and_escaped(admin_client: Any) -> None:
    payload = {
        "id": "evt_escape",
        "type": "invoice.paid",
        "data": {"object": {"description": "<script>alert(1)</script>"}},
    }
    event = WebhookEventFactory(
        stripe_event_id="evt_escape", payload=payload, stripe_created=EVENT_TIME
    )

    content = admin_client.get(url(WebhookEvent, "change", event.pk)).content.decode()

    pretty = json.dumps(payload, indent=2, sort_keys=True)
    assert f'<pre class="fiko-billing-payload">{escape(pretty)}</pre>' in content
    assert "\n  &quot;id&quot;: &quot;evt_escape&quot;," in content
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_webhook_events_filter_by_status_and_type(admin_client: Any) -> None:
    paid = WebhookEventFactory(type="invoice.paid", status="processed", stripe_created=EVENT_TIME)
    failed = WebhookEventFactory(type="invoice.paid", status="failed", stripe_created=EVENT_TIME)
    WebhookEventFactory(
        type="customer.subscription.updated", status="failed", stripe_created=EVENT_TIME
    )
    changelist = url(WebhookEvent, "changelist")

    by_status = admin_client.get(changelist, {"status__exact": "failed"})
    by_both = admin_client.get(changelist, {"status__exact": "failed", "type": "invoice.paid"})
    by_type = admin_client.get(changelist, {"type": "invoice.paid"})

    assert {e.type for e in by_status.context["cl"].result_list} == {
        "invoice.paid",
        "customer.subscription.updated",
    }
    assert list(by_both.context["cl"].result_list) == [failed]
    assert set(by_type.context["cl"].result_list) == {paid, failed}
    filter_titles = {spec.title for spec in by_type.context["cl"].filter_specs}
    assert {"status", "type"} <= filter_titles


def test_subscriber_search(admin_client: Any) -> None:
    first = CustomerFactory(stripe_customer_id="cus_first")
    CustomerFactory(stripe_customer_id="cus_second")
    term = first.subscriber.email

    response = admin_client.get(url(Customer, "changelist"), {"q": term})

    assert [c.stripe_customer_id for c in response.context["cl"].result_list] == ["cus_first"]


def test_subscriber_search_fields_follow_the_subscriber_model() -> None:
    model = get_subscriber_model()

    fields = subscriber_search_fields("subscriber__")

    if model._meta.label == "testapp.Organisation":
        assert fields == ("subscriber__email", "subscriber__name")
    else:
        assert fields == (
            "subscriber__username",
            "subscriber__email",
            "subscriber__first_name",
            "subscriber__last_name",
        )


# --------------------------------------------------------------------------- the ledger


@pytest.mark.parametrize("model", LEDGER, ids=lambda m: m.__name__)
def test_ledger_rows_cannot_be_added_changed_or_deleted(admin_client: Any, model: Any) -> None:
    row = ROWS[model][0]()
    before = list(model.objects.values())
    entries = list(TokenEntry.objects.values())

    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.post(url(model, "add"), {}).status_code == 403
    assert admin_client.post(url(model, "change", row.pk), {"amount": "1"}).status_code == 403
    assert admin_client.get(url(model, "delete", row.pk)).status_code == 403
    assert admin_client.post(url(model, "delete", row.pk), {"post": "yes"}).status_code == 403

    assert list(model.objects.values()) == before
    assert list(TokenEntry.objects.values()) == entries


@pytest.mark.parametrize("model", LEDGER, ids=lambda m: m.__name__)
def test_ledger_changelist_has_no_bulk_delete(admin_client: Any, model: Any) -> None:
    row = ROWS[model][0]()
    changelist = url(model, "changelist")

    page = admin_client.get(changelist)
    attempt = admin_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )

    assert "delete_selected" not in page.context["cl"].model_admin.get_actions(page.wsgi_request)
    assert 'value="delete_selected"' not in page.content.decode()
    assert attempt.status_code in {200, 302}  # the list again, or back to it
    assert model.objects.filter(pk=row.pk).exists()


def test_ledger_change_page_is_a_view(admin_client: Any) -> None:
    entry = make_entry()

    content = admin_client.get(url(TokenEntry, "change", entry.pk)).content.decode()

    assert 'name="_save"' not in content
    assert f"cs_{entry.account.subscriber.pk}" in content


def test_account_links_to_its_entries(admin_client: Any) -> None:
    account = make_account()
    other = make_account()
    link = f"{url(TokenEntry, 'changelist')}?account__id__exact={account.pk}"

    detail = admin_client.get(url(TokenAccount, "change", account.pk)).content.decode()
    listing = admin_client.get(link)

    assert f'href="{escape(link)}"' in detail
    assert TokenEntry.objects.filter(account=other).exists()
    assert [e.account_id for e in listing.context["cl"].result_list] == [account.pk]


def test_accounts_filter_by_debt(admin_client: Any) -> None:
    in_debt = funded_subscriber(10)
    tokens.revoke(in_debt, 25, reference="re_1")
    funded_subscriber(10)

    response = admin_client.get(url(TokenAccount, "changelist"), {"balance": "debt"})

    assert [a.subscriber_id for a in response.context["cl"].result_list] == [in_debt.pk]
    assert [a.balance for a in response.context["cl"].result_list] == [-15]


# --------------------------------------------------------------------------- adjusting tokens


def adjust_url(*accounts: TokenAccount) -> str:
    return f"{url(TokenAccount, 'adjust')}?ids={','.join(str(a.pk) for a in accounts)}"


def adjustment(amount: Any = "50", reason: str = "Goodwill after outage", **extra: Any) -> dict:
    return {
        "amount": amount,
        "reason": reason,
        "confirm": "on",
        "token": str(extra.pop("token", uuid.uuid4())),
        **extra,
    }


def adjustments() -> list[tuple[int, int, str, str]]:
    return sorted(
        TokenEntry.objects.filter(kind=EntryKind.ADJUSTMENT).values_list(
            "account_id", "amount", "description", "reference"
        )
    )


def test_action_leads_to_the_adjust_form(admin_client: Any) -> None:
    first, second = make_account(), make_account()

    response = admin_client.post(
        url(TokenAccount, "changelist"),
        {"action": "adjust_tokens", "_selected_action": [second.pk, first.pk]},
    )

    assert response.status_code == 302
    assert response["Location"] == adjust_url(first, second)


def test_adjust_form_lists_the_accounts(admin_client: Any) -> None:
    first, second = make_account(), make_account()

    response = admin_client.get(adjust_url(first, second))

    assert response.status_code == 200
    assert response.context["accounts"] == [first, second]
    content = response.content.decode()
    assert f"<td>{escape(str(first.subscriber))}</td><td>100</td>" in content
    assert 'name="token"' in content
    assert isinstance(response.context["form"].initial["token"], uuid.UUID)
    assert TokenEntry.objects.filter(kind=EntryKind.ADJUSTMENT).count() == 0


@pytest.mark.parametrize(("amount", "balance"), [("50", 150), ("-130", -30)])
def test_adjust_writes_one_entry_per_account(
    admin_client: Any, admin_user: Any, amount: str, balance: int
) -> None:
    first, second = make_account(), make_account()
    token = uuid.uuid4()

    response = admin_client.post(
        adjust_url(first, second), adjustment(amount, "Goodwill", token=token), follow=True
    )

    assert response.redirect_chain == [(url(TokenAccount, "changelist"), 302)]
    assert adjustments() == [
        (first.pk, int(amount), "Goodwill", f"admin-adjust:{token}:{first.pk}"),
        (second.pk, int(amount), "Goodwill", f"admin-adjust:{token}:{second.pk}"),
    ]
    assert tokens.balance(first.subscriber) == balance
    assert tokens.balance(second.subscriber) == balance
    assert [str(m) for m in response.context["messages"]] == [
        f"Adjusted 2 token accounts by {int(amount):+d} tokens. New balances: "
        f"{first.subscriber}: {balance}, {second.subscriber}: {balance}."
    ]
    logs = LogEntry.objects.filter(action_flag=CHANGE).order_by("object_id")
    assert [(log.object_id, log.user_id) for log in logs] == [
        (str(first.pk), admin_user.pk),
        (str(second.pk), admin_user.pk),
    ]
    assert logs[0].change_message == (
        f"Adjusted tokens by {int(amount):+d} to a balance of {balance} "
        f"(reference admin-adjust:{token}:{first.pk}). Reason: Goodwill"
    )


def test_resubmitting_the_same_form_adjusts_once(admin_client: Any) -> None:
    account = make_account()
    data = adjustment("25", "Promised credit")

    first = admin_client.post(adjust_url(account), data, follow=True)
    again = admin_client.post(adjust_url(account), data, follow=True)

    assert [(a, n) for a, n, _r, _ref in adjustments()] == [(account.pk, 25)]
    assert tokens.balance(account.subscriber) == 125
    assert LogEntry.objects.count() == 1
    assert [str(m) for m in first.context["messages"]] == [
        f"Adjusted 1 token account by +25 tokens. New balance: {account.subscriber}: 125."
    ]
    assert [str(m) for m in again.context["messages"]] == [
        "This adjustment had already been applied to 1 account; nothing was written again. "
        f"Balance: {account.subscriber}: 125."
    ]


def test_resubmitting_the_form_with_other_values_changes_nothing(admin_client: Any) -> None:
    account = make_account()
    token = uuid.uuid4()
    admin_client.post(adjust_url(account), adjustment("25", "First", token=token))

    response = admin_client.post(adjust_url(account), adjustment("40", "Second", token=token))

    assert response.status_code == 200
    assert (
        response.context["form"]
        .non_field_errors()[0]
        .startswith("This form was already submitted with other values")
    )
    assert [(a, n) for a, n, _r, _ref in adjustments()] == [(account.pk, 25)]
    assert tokens.balance(account.subscriber) == 125


def test_one_adjustment_across_accounts_is_all_or_nothing(admin_client: Any) -> None:
    # The fresh account comes first, so it is adjusted before the conflict is found.
    fresh, done = make_account(), make_account()
    token = uuid.uuid4()
    admin_client.post(adjust_url(done), adjustment("25", "First", token=token))

    response = admin_client.post(adjust_url(fresh, done), adjustment("40", "Second", token=token))

    assert response.status_code == 200
    assert fresh.pk < done.pk
    assert [(a, n) for a, n, _r, _ref in adjustments()] == [(done.pk, 25)]
    assert tokens.balance(fresh.subscriber) == 100
    assert LogEntry.objects.count() == 1


def test_adjusting_from_the_change_page(admin_client: Any) -> None:
    account = make_account()
    change_url = url(TokenAccount, "change", account.pk)

    page = admin_client.get(change_url).content.decode()
    response = admin_client.post(adjust_url(account), adjustment("-5", "Typo in last grant"))

    assert f'href="{escape(adjust_url(account))}"' in page
    assert response.status_code == 302
    assert response["Location"] == change_url
    assert tokens.balance(account.subscriber) == 95


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        (adjustment("0"), "amount", "Enter a number other than zero."),
        (adjustment("ten"), "amount", "Enter a whole number."),
        (adjustment("1.5"), "amount", "Enter a whole number."),
        (adjustment(""), "amount", "This field is required."),
        (adjustment("10", ""), "reason", "This field is required."),
        (adjustment("10", "   "), "reason", "This field is required."),
        (
            {**adjustment("10"), "confirm": ""},
            "confirm",
            "Tick the box to confirm the adjustment.",
        ),
        (adjustment("10", token="not-a-uuid"), "token", "Enter a valid UUID."),
    ],
    ids=[
        "zero",
        "word",
        "decimal",
        "no-amount",
        "no-reason",
        "blank-reason",
        "unconfirmed",
        "bad-token",
    ],
)
def test_invalid_adjustment_shows_errors_and_writes_nothing(
    admin_client: Any, data: dict, field: str, error: str
) -> None:
    account = make_account()
    entries = TokenEntry.objects.count()

    response = admin_client.post(adjust_url(account), data)

    assert response.status_code == 200
    assert response.context["form"].errors[field] == [error]
    assert "Please correct the errors below. Nothing has been changed." in (
        response.content.decode()
    )
    assert TokenEntry.objects.count() == entries
    assert tokens.balance(account.subscriber) == 100
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize(
    "ids",
    ["", "1,x", "999999", "²", "9" * 30, ",".join(["1"] * (MAX_ADJUSTED_ACCOUNTS + 1))],
)
def test_adjust_without_valid_accounts_goes_back_to_the_list(admin_client: Any, ids: str) -> None:
    make_account()

    response = admin_client.post(f"{url(TokenAccount, 'adjust')}?ids={ids}", adjustment("10"))

    assert response.status_code == 302
    assert response["Location"] == url(TokenAccount, "changelist")
    assert TokenEntry.objects.filter(kind=EntryKind.ADJUSTMENT).count() == 0


def test_an_erased_subscribers_ledger_is_not_adjusted(admin_client: Any) -> None:
    kept, erased = make_account(), make_account()
    TokenAccount.objects.filter(pk=erased.pk).update(subscriber=None)

    response = admin_client.post(adjust_url(kept, erased), adjustment("10"))

    assert response.status_code == 302
    assert [account_id for account_id, *_ in adjustments()] == [kept.pk]

    response = admin_client.post(adjust_url(erased), adjustment("10"))

    assert response["Location"] == url(TokenAccount, "changelist")
    assert [account_id for account_id, *_ in adjustments()] == [kept.pk]


def test_adjusting_needs_the_change_permission(client: Any, django_user_model: Any) -> None:
    account = make_account()
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_tokenaccount"))
    client.force_login(viewer)

    listing = client.get(url(TokenAccount, "changelist"))
    detail = client.get(url(TokenAccount, "change", account.pk))
    form = client.get(adjust_url(account))
    post = client.post(adjust_url(account), adjustment("10"))

    assert listing.status_code == 200
    assert "adjust_tokens" not in listing.context["cl"].model_admin.get_actions(
        listing.wsgi_request
    )
    assert 'href="' + escape(adjust_url(account)) + '"' not in detail.content.decode()
    assert (form.status_code, post.status_code) == (403, 403)
    assert tokens.balance(account.subscriber) == 100


def test_adjusting_with_the_change_permission(client: Any, django_user_model: Any) -> None:
    account = make_account()
    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="change_tokenaccount"))
    client.force_login(clerk)

    response = client.post(adjust_url(account), adjustment("10", "Support ticket 42"))

    assert response.status_code == 302
    assert tokens.balance(account.subscriber) == 110


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submission_adjusts_once(admin_user: Any) -> None:
    accounts = [make_account(), make_account()]
    data = adjustment("25", "Double click")
    clients = [Client(), Client()]
    for client in clients:
        client.force_login(admin_user)
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def submit(client: Client) -> None:
        try:
            barrier.wait()
            statuses.append(client.post(adjust_url(*accounts), data).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [302, 302]
    assert [(a, n) for a, n, _r, _ref in adjustments()] == [
        (accounts[0].pk, 25),
        (accounts[1].pk, 25),
    ]
    assert [tokens.balance(a.subscriber) for a in accounts] == [125, 125]
    assert LogEntry.objects.count() == 2
