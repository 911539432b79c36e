"""``sync_stripe_products`` against the real SDK and a small stateful Stripe."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from fiko_billing.management.progress import Progress, format_table
from fiko_billing.models import Interval, Plan, Price, TokenPackage
from fiko_billing.services.catalog_sync import (
    Action,
    CatalogueSyncFailed,
    product_id_for,
    sync_catalogue,
)
from fiko_billing.testing import payloads
from tests.factories import PackagePriceFactory, PlanFactory, PlanPriceFactory, TokenPackageFactory
from tests.stripe_stub import Recorded, StripeStub

pytestmark = pytest.mark.django_db

KEY = re.compile(r"fiko:(product|price):[0-9a-f]{32}")


def nest(params: dict[str, str]) -> dict[str, Any]:
    """``{"metadata[a]": "1"}`` -> ``{"metadata": {"a": "1"}}``, one level deep."""
    result: dict[str, Any] = {}
    for key, value in params.items():
        match = re.fullmatch(r"(\w+)\[(\w+)\]", key)
        if match:
            result.setdefault(match[1], {})[match[2]] = value
        else:
            result[key] = value
    return result


class FakeStripe:
    """Products and prices kept in dicts, with Stripe's idempotency and lookup keys."""

    def __init__(self, stub: StripeStub) -> None:
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.replies: dict[str, tuple[dict[str, str], tuple[int, dict[str, Any]]]] = {}
        self.serial = 0
        stub.on("POST", "/v1/products", self.idempotent(self.create_product))
        stub.on("GET", r"/v1/products/(\w+)", self.get("products"))
        stub.on("POST", r"/v1/products/(\w+)", self.idempotent(self.update_product))
        stub.on("POST", "/v1/prices", self.idempotent(self.create_price))
        stub.on("GET", "/v1/prices", self.list_prices)
        stub.on("GET", r"/v1/prices/(\w+)", self.get("prices"))
        stub.on("POST", r"/v1/prices/(\w+)", self.idempotent(self.update_price))

    def next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}_fake{self.serial}"

    def idempotent(self, handler: Any) -> Any:
        def answer(request: Recorded) -> tuple[int, dict[str, Any]]:
            key = request.headers["idempotency-key"]
            if key in self.replies:
                params, reply = self.replies[key]
                if params != request.params:
                    return 400, payloads.error(
                        "Keys for idempotent requests can only be used with the same parameters.",
                        type="idempotency_error",
                    )
                return reply
            reply = handler(request)
            self.replies[key] = (dict(request.params), reply)
            return reply

        return answer

    def get(self, kind: str) -> Any:
        def answer(request: Recorded) -> tuple[int, dict[str, Any]]:
            found = getattr(self, kind).get(request.path.rsplit("/", 1)[1])
            if found is None:
                return 404, payloads.error("No such object", code="resource_missing", param="id")
            return 200, found

        return answer

    def create_product(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        params = nest(request.params)
        product_id = self.next_id("prod")  # numbered either way, so price ids stay put
        if params.get("id") in self.products:
            return 400, payloads.error(
                f"Product already exists: {params['id']}",
                code="resource_already_exists",
                param="id",
            )
        product = payloads.product(
            id=params.get("id") or product_id,
            name=params["name"],
            description=params.get("description") or None,
            active=params["active"] == "true",
            metadata=params.get("metadata", {}),
            updated=1_000,
        )
        self.products[product["id"]] = product
        return 200, product

    def update_product(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        product = self.products[request.path.rsplit("/", 1)[1]]
        params = nest(request.params)
        if "name" in params:
            product["name"] = params["name"]
        if "description" in params:
            product["description"] = params["description"] or None
        if "active" in params:
            product["active"] = params["active"] == "true"
        product["metadata"] = {**product["metadata"], **params.get("metadata", {})}
        product["updated"] += 1
        return 200, product

    def take_lookup_key(self, key: str, transfer: bool) -> tuple[int, dict[str, Any]] | None:
        holders = [p for p in self.prices.values() if p["lookup_key"] == key]
        if holders and not transfer:
            return 400, payloads.error(
                f"A price ({holders[0]['id']}) already uses that lookup key.",
                param="lookup_key",
            )
        for holder in holders:
            holder["lookup_key"] = None
        return None

    def create_price(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        params = nest(request.params)
        refused = self.take_lookup_key(
            params["lookup_key"], params.get("transfer_lookup_key") == "true"
        )
        if refused:
            return refused
        price = payloads.price(
            id=self.next_id("price"),
            product_id=params["product"],
            unit_amount=int(params["unit_amount"]),
            currency=params["currency"],
            interval=params.get("recurring", {}).get("interval"),
            lookup_key=params["lookup_key"],
            metadata=params.get("metadata", {}),
        )
        self.prices[price["id"]] = price
        return 200, price

    def update_price(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        price = self.prices[request.path.rsplit("/", 1)[1]]
        params = nest(request.params)
        if "lookup_key" in params:
            refused = self.take_lookup_key(
                params["lookup_key"], params.get("transfer_lookup_key") == "true"
            )
            if refused:
                return refused
            price["lookup_key"] = params["lookup_key"]
        if "active" in params:
            price["active"] = params["active"] == "true"
        price["metadata"] = {**price["metadata"], **params.get("metadata", {})}
        return 200, price

    def list_prices(self, request: Recorded) -> dict[str, Any]:
        found = [p for p in self.prices.values() if p["product"] == request.params["product"]]
        return payloads.list_of(found, url="/v1/prices")


@pytest.fixture
def fake(stripe_stub: StripeStub) -> FakeStripe:
    return FakeStripe(stripe_stub)


@pytest.fixture
def catalogue() -> dict[str, Any]:
    plan = PlanFactory(name="Pro", description="For teams", interval=Interval.MONTH)
    plan_usd = PlanPriceFactory(plan=plan, currency="usd", unit_amount=1500)
    plan_eur = PlanPriceFactory(plan=plan, currency="eur", unit_amount=1400)
    once = TokenPackageFactory(name="Starter pack", tokens=1_000, sort_order=1)
    once_usd = PackagePriceFactory(package=once, currency="usd", unit_amount=500)
    topup = TokenPackageFactory(
        name="Yearly top-up", tokens=50_000, interval=Interval.YEAR, sort_order=2
    )
    topup_usd = PackagePriceFactory(package=topup, currency="usd", unit_amount=9900)
    return {
        "plan": plan,
        "plan_usd": plan_usd,
        "plan_eur": plan_eur,
        "once": once,
        "once_usd": once_usd,
        "topup": topup,
        "topup_usd": topup_usd,
    }


def answer_lost(fake: FakeStripe, create: Any) -> Any:
    """Stripe carries out the create, yet answers (and stores for the key) a 500."""

    def answer(request: Recorded) -> tuple[int, dict[str, Any]]:
        create(request)
        return 500, payloads.error("Connection reset", type="api_error")

    return fake.idempotent(answer)


def product_ids(catalogue: dict[str, Any]) -> dict[int, str]:
    """The ids the first sync gives the catalogue's products, by the order they are made."""
    return {
        1: product_id_for(catalogue["plan"]),
        4: product_id_for(catalogue["once"]),
        6: product_id_for(catalogue["topup"]),
    }


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("sync_stripe_products", *args, stdout=out)
    return out.getvalue()


def sent(request: Recorded) -> tuple[str, str, dict[str, str]]:
    return request.method, request.path, request.params


def table_rows(output: str) -> list[list[str]]:
    """The summary table's body, each row split into its cells."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Item "))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append(re.split(r" {2,}", line))
    return rows


def reload(obj: Any) -> Any:
    obj.refresh_from_db()
    return obj


def edit(obj: Any, **changes: Any) -> Any:
    """Save a change the way the admin would: on a fresh copy of the row."""
    obj.refresh_from_db()
    for name, value in changes.items():
        setattr(obj, name, value)
    obj.save()
    return obj


# ---------------------------------------------------------------------- first sync


def test_first_sync_creates_products_and_prices_with_exact_params(fake, stripe_stub, catalogue):
    prod = product_ids(catalogue)
    c = catalogue
    output = run()

    plan, once, topup = c["plan"].pk, c["once"].pk, c["topup"].pk
    assert [sent(r) for r in stripe_stub.requests] == [
        (
            "POST",
            "/v1/products",
            {
                "id": prod[1],
                "name": "Pro",
                "description": "For teams",
                "active": "true",
                "metadata[fiko_item]": f"plan:{plan}",
            },
        ),
        (
            "POST",
            "/v1/prices",
            {
                "product": prod[1],
                "currency": "eur",
                "unit_amount": "1400",
                "recurring[interval]": "month",
                "lookup_key": f"fiko_plan_{plan}_eur",
                "metadata[fiko_price]": str(c["plan_eur"].pk),
                "transfer_lookup_key": "true",
            },
        ),
        (
            "POST",
            "/v1/prices",
            {
                "product": prod[1],
                "currency": "usd",
                "unit_amount": "1500",
                "recurring[interval]": "month",
                "lookup_key": f"fiko_plan_{plan}_usd",
                "metadata[fiko_price]": str(c["plan_usd"].pk),
                "transfer_lookup_key": "true",
            },
        ),
        (
            "POST",
            "/v1/products",
            {
                "id": prod[4],
                "name": "Starter pack",
                "active": "true",
                "metadata[fiko_item]": f"package:{once}",
            },
        ),
        (
            "POST",
            "/v1/prices",
            {
                "product": prod[4],
                "currency": "usd",
                "unit_amount": "500",
                "lookup_key": f"fiko_package_{once}_usd",
                "metadata[fiko_price]": str(c["once_usd"].pk),
                "transfer_lookup_key": "true",
            },
        ),
        (
            "POST",
            "/v1/products",
            {
                "id": prod[6],
                "name": "Yearly top-up",
                "active": "true",
                "metadata[fiko_item]": f"package:{topup}",
            },
        ),
        (
            "POST",
            "/v1/prices",
            {
                "product": prod[6],
                "currency": "usd",
                "unit_amount": "9900",
                "recurring[interval]": "year",
                "lookup_key": f"fiko_package_{topup}_usd",
                "metadata[fiko_price]": str(c["topup_usd"].pk),
                "transfer_lookup_key": "true",
            },
        ),
    ]
    keys = [r.headers["idempotency-key"] for r in stripe_stub.requests]
    kinds = ["product", "price", "price", "product", "price", "product", "price"]
    assert [KEY.fullmatch(key)[1] for key in keys] == kinds
    assert len(set(keys)) == 7

    assert reload(c["plan"]).stripe_product_id == prod[1]
    assert reload(c["plan_eur"]).stripe_price_id == "price_fake2"
    assert reload(c["plan_usd"]).stripe_price_id == "price_fake3"
    assert reload(c["once"]).stripe_product_id == prod[4]
    assert reload(c["once_usd"]).stripe_price_id == "price_fake5"
    assert reload(c["topup"]).stripe_product_id == prod[6]
    assert reload(c["topup_usd"]).stripe_price_id == "price_fake7"

    assert table_rows(output) == [
        [f"Pro (plan:{plan})", "-", "create product", prod[1]],
        [f"Pro (plan:{plan})", "EUR", "create price", "price_fake2", "€14.00/month"],
        [f"Pro (plan:{plan})", "USD", "create price", "price_fake3", "$15.00/month"],
        [f"Starter pack (package:{once})", "-", "create product", prod[4]],
        [f"Starter pack (package:{once})", "USD", "create price", "price_fake5", "$5.00 once"],
        [f"Yearly top-up (package:{topup})", "-", "create product", prod[6]],
        [f"Yearly top-up (package:{topup})", "USD", "create price", "price_fake7", "$99.00/year"],
    ]
    assert output.endswith("7 created, 0 updated, 0 archived, 0 unchanged\n")


def test_second_run_only_reads(fake, stripe_stub, catalogue, django_assert_max_num_queries):
    prod = product_ids(catalogue)
    run()
    first = len(stripe_stub.requests)

    with django_assert_max_num_queries(4):
        output = run()

    second = stripe_stub.requests[first:]
    assert [r for r in second if r.method != "GET"] == []
    assert [(r.path, r.params) for r in second] == [
        (f"/v1/products/{prod[1]}", {}),
        ("/v1/prices", {"product": prod[1], "limit": "100"}),
        (f"/v1/products/{prod[4]}", {}),
        ("/v1/prices", {"product": prod[4], "limit": "100"}),
        (f"/v1/products/{prod[6]}", {}),
        ("/v1/prices", {"product": prod[6], "limit": "100"}),
    ]
    assert {row[2] for row in table_rows(output)} == {"up to date"}
    assert output.endswith("0 created, 0 updated, 0 archived, 7 unchanged\n")


def test_items_without_prices_and_inactive_items_never_synced(fake, stripe_stub):
    PlanFactory(name="Retired", active=False)
    bare = TokenPackageFactory(name="Bare")
    PackagePriceFactory(package=bare, currency="usd", unit_amount=100, active=False)

    output = run()

    assert [sent(r) for r in stripe_stub.requests] == [
        (
            "POST",
            "/v1/products",
            {
                "id": product_id_for(bare),
                "name": "Bare",
                "active": "true",
                "metadata[fiko_item]": f"package:{bare.pk}",
            },
        ),
    ]
    assert output.endswith("1 created, 0 updated, 0 archived, 0 unchanged\n")


def test_empty_catalogue(fake, stripe_stub):
    output = run()
    assert stripe_stub.requests == []
    assert output == (
        "The catalogue has no plans or token packages to sync.\n"
        "0 created, 0 updated, 0 archived, 0 unchanged\n"
    )


# ---------------------------------------------------------------------- changes


def test_changed_amount_creates_new_price_moves_lookup_key_archives_old(
    fake, stripe_stub, catalogue
):
    prod = product_ids(catalogue)
    c = catalogue
    run()
    price = edit(c["plan_usd"], unit_amount=1900)
    first = len(stripe_stub.requests)

    output = run()

    plan = c["plan"].pk
    writes = [sent(r) for r in stripe_stub.requests[first:] if r.method == "POST"]
    assert writes == [
        (
            "POST",
            "/v1/prices",
            {
                "product": prod[1],
                "currency": "usd",
                "unit_amount": "1900",
                "recurring[interval]": "month",
                "lookup_key": f"fiko_plan_{plan}_usd",
                "metadata[fiko_price]": str(price.pk),
                "transfer_lookup_key": "true",
            },
        ),
        ("POST", "/v1/prices/price_fake3", {"active": "false"}),
    ]
    assert reload(price).stripe_price_id == "price_fake8"
    assert fake.prices["price_fake8"]["lookup_key"] == f"fiko_plan_{plan}_usd"
    assert fake.prices["price_fake8"]["active"] is True
    assert fake.prices["price_fake3"]["lookup_key"] is None
    assert fake.prices["price_fake3"]["active"] is False
    assert [
        f"Pro (plan:{plan})",
        "USD",
        "replace price",
        "price_fake8",
        "$15.00/month -> $19.00/month; old price_fake3",
    ] in table_rows(output)
    # The new price counts as created, the old one as archived.
    assert output.endswith("1 created, 0 updated, 1 archived, 6 unchanged\n")

    third = len(stripe_stub.requests)
    run()
    assert [r for r in stripe_stub.requests[third:] if r.method == "POST"] == []


def test_changed_interval_replaces_the_price(fake, stripe_stub, catalogue):
    c = catalogue
    run()
    edit(c["once"], interval=Interval.MONTH)
    first = len(stripe_stub.requests)

    run()

    writes = [sent(r) for r in stripe_stub.requests[first:] if r.method == "POST"]
    assert [(method, path) for method, path, _ in writes] == [
        ("POST", "/v1/prices"),
        ("POST", "/v1/prices/price_fake5"),
    ]
    assert writes[0][2]["recurring[interval]"] == "month"
    assert writes[0][2]["unit_amount"] == "500"
    assert reload(c["once_usd"]).stripe_price_id == "price_fake8"


def test_product_fields_updated_only_where_they_differ(fake, stripe_stub, catalogue):
    prod = product_ids(catalogue)
    c = catalogue
    run()
    plan = edit(c["plan"], name="Pro Plus", description="")
    first = len(stripe_stub.requests)

    output = run()

    writes = [sent(r) for r in stripe_stub.requests[first:] if r.method == "POST"]
    assert writes == [("POST", f"/v1/products/{prod[1]}", {"name": "Pro Plus", "description": ""})]
    assert fake.products[prod[1]]["name"] == "Pro Plus"
    assert fake.products[prod[1]]["description"] is None
    assert [
        f"Pro Plus (plan:{plan.pk})",
        "-",
        "update product",
        prod[1],
        "name, description",
    ] in table_rows(output)
    assert output.endswith("0 created, 1 updated, 0 archived, 6 unchanged\n")


def test_deactivated_item_archives_product_and_its_prices(fake, stripe_stub, catalogue):
    prod = product_ids(catalogue)
    c = catalogue
    run()
    plan = edit(c["plan"], active=False)
    first = len(stripe_stub.requests)

    output = run()

    writes = [sent(r) for r in stripe_stub.requests[first:] if r.method == "POST"]
    assert writes == [
        ("POST", f"/v1/products/{prod[1]}", {"active": "false"}),
        ("POST", "/v1/prices/price_fake2", {"active": "false"}),
        ("POST", "/v1/prices/price_fake3", {"active": "false"}),
    ]
    assert fake.products[prod[1]]["active"] is False
    assert fake.prices["price_fake2"]["active"] is False
    assert fake.prices["price_fake3"]["active"] is False
    assert table_rows(output)[:3] == [
        [f"Pro (plan:{plan.pk})", "-", "archive product", prod[1], "item inactive"],
        [f"Pro (plan:{plan.pk})", "EUR", "archive price", "price_fake2", "item inactive"],
        [f"Pro (plan:{plan.pk})", "USD", "archive price", "price_fake3", "item inactive"],
    ]
    assert output.endswith("0 created, 0 updated, 3 archived, 4 unchanged\n")
    # Ids stay, so reactivating the plan later reuses the same objects.
    assert reload(plan).stripe_product_id == prod[1]

    second = len(stripe_stub.requests)
    run()
    assert [r for r in stripe_stub.requests[second:] if r.method == "POST"] == []


def test_inactive_price_is_archived_and_reactivated(fake, stripe_stub, catalogue):
    prod = product_ids(catalogue)
    c = catalogue
    run()
    price = edit(c["plan_eur"], active=False)
    first = len(stripe_stub.requests)

    output = run()

    writes = [sent(r) for r in stripe_stub.requests[first:] if r.method == "POST"]
    assert writes == [("POST", "/v1/prices/price_fake2", {"active": "false"})]
    assert fake.products[prod[1]]["active"] is True
    assert [
        f"Pro (plan:{c['plan'].pk})",
        "EUR",
        "archive price",
        "price_fake2",
        "price inactive",
    ] in table_rows(output)
    assert output.endswith("0 created, 0 updated, 1 archived, 6 unchanged\n")

    edit(price, active=True)
    second = len(stripe_stub.requests)
    run()
    writes = [sent(r) for r in stripe_stub.requests[second:] if r.method == "POST"]
    assert writes == [("POST", "/v1/prices/price_fake2", {"active": "true"})]
    assert fake.prices["price_fake2"]["active"] is True


def test_price_edited_in_stripe_is_put_back(fake, stripe_stub, catalogue):
    c = catalogue
    run()
    fake.prices["price_fake3"].update(lookup_key=None, metadata={"fiko_price": "0", "note": "x"})
    first = len(stripe_stub.requests)

    run()

    writes = [sent(r) for r in stripe_stub.requests[first:] if r.method == "POST"]
    assert writes == [
        (
            "POST",
            "/v1/prices/price_fake3",
            {
                "lookup_key": f"fiko_plan_{c['plan'].pk}_usd",
                "transfer_lookup_key": "true",
                "metadata[fiko_price]": str(c["plan_usd"].pk),
            },
        )
    ]
    assert fake.prices["price_fake3"]["metadata"] == {
        "fiko_price": str(c["plan_usd"].pk),
        "note": "x",
    }


# ---------------------------------------------------------------------- dry run


def test_dry_run_on_a_fresh_catalogue_calls_nothing_and_writes_nothing(
    fake, stripe_stub, catalogue
):
    output = run("--dry-run")

    assert stripe_stub.requests == []
    assert Plan.objects.exclude(stripe_product_id=None).count() == 0
    assert TokenPackage.objects.exclude(stripe_product_id=None).count() == 0
    assert Price.objects.exclude(stripe_price_id=None).count() == 0
    plan = catalogue["plan"].pk
    assert table_rows(output)[:3] == [
        [f"Pro (plan:{plan})", "-", "create product", "-"],
        [f"Pro (plan:{plan})", "EUR", "create price", "-", "€14.00/month"],
        [f"Pro (plan:{plan})", "USD", "create price", "-", "$15.00/month"],
    ]
    assert output.endswith(
        "7 created, 0 updated, 0 archived, 0 unchanged\n"
        "Dry run: nothing was written to Stripe or the database.\n"
    )


def test_dry_run_shows_changes_without_writing(fake, stripe_stub, catalogue):
    prod = product_ids(catalogue)
    c = catalogue
    run()
    edit(c["plan"], name="Pro Plus")
    edit(c["plan_usd"], unit_amount=1900)
    edit(c["once"], active=False)
    new = PlanPriceFactory(plan=c["plan"], currency="gbp", unit_amount=1200)
    before = {
        "prices": list(Price.objects.order_by("pk").values_list("pk", "stripe_price_id")),
        "plans": list(Plan.objects.values_list("pk", "stripe_product_id", "modified")),
        "packages": list(TokenPackage.objects.values_list("pk", "stripe_product_id", "modified")),
    }
    products, prices = repr(fake.products), repr(fake.prices)
    first = len(stripe_stub.requests)

    output = run("--dry-run")

    assert [r.method for r in stripe_stub.requests[first:]] == ["GET"] * 6
    assert repr(fake.products) == products
    assert repr(fake.prices) == prices
    assert before == {
        "prices": list(Price.objects.order_by("pk").values_list("pk", "stripe_price_id")),
        "plans": list(Plan.objects.values_list("pk", "stripe_product_id", "modified")),
        "packages": list(TokenPackage.objects.values_list("pk", "stripe_product_id", "modified")),
    }
    assert reload(new).stripe_price_id is None
    plan, once = c["plan"].pk, c["once"].pk
    assert table_rows(output) == [
        [f"Pro Plus (plan:{plan})", "-", "update product", prod[1], "name"],
        [f"Pro Plus (plan:{plan})", "EUR", "up to date", "price_fake2"],
        [f"Pro Plus (plan:{plan})", "GBP", "create price", "-", "£12.00/month"],
        [
            f"Pro Plus (plan:{plan})",
            "USD",
            "replace price",
            "price_fake3",
            "$15.00/month -> $19.00/month",
        ],
        [f"Starter pack (package:{once})", "-", "archive product", prod[4], "item inactive"],
        [f"Starter pack (package:{once})", "USD", "archive price", "price_fake5", "item inactive"],
        [f"Yearly top-up (package:{c['topup'].pk})", "-", "up to date", prod[6]],
        [f"Yearly top-up (package:{c['topup'].pk})", "USD", "up to date", "price_fake7"],
    ]
    assert output.endswith(
        "2 created, 1 updated, 3 archived, 3 unchanged\n"
        "Dry run: nothing was written to Stripe or the database.\n"
    )


# ---------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (
            500,
            payloads.error("Something went wrong on our end.", type="api_error"),
            "HTTP 500",
        ),
        (
            401,
            payloads.error(
                "Invalid API Key provided: sk_test_****fiko", type="invalid_request_error"
            ),
            "HTTP 401",
        ),
    ],
)
def test_stripe_error_stops_with_command_error_and_keeps_earlier_ids(
    fake, stripe_stub, catalogue, status, body, said
):
    prod = product_ids(catalogue)
    c = catalogue
    stripe_stub.on("POST", "/v1/products", (status, body))
    # Let the first product through, so the failure lands on the second item.
    stripe_stub.on("POST", "/v1/products", fake.idempotent(fake.create_product), times=1)
    out = io.StringIO()

    with pytest.raises(CommandError) as info:
        call_command("sync_stripe_products", stdout=out)

    message = str(info.value)
    once = c["once"].pk
    request_id = f"req_stub{len(stripe_stub.requests):06d}"
    assert message.startswith(
        f"Syncing Starter pack (package:{once}) failed: Stripe said {said} "
        f"(request {request_id}): {body['error']['message']}\n"
    )
    assert "run the command again" in message
    assert reload(c["plan"]).stripe_product_id == prod[1]
    assert reload(c["plan_eur"]).stripe_price_id == "price_fake2"
    assert reload(c["plan_usd"]).stripe_price_id == "price_fake3"
    assert reload(c["once"]).stripe_product_id is None
    assert reload(c["once_usd"]).stripe_price_id is None
    assert reload(c["topup"]).stripe_product_id is None
    # What was done before the failure is still reported.
    assert [row[2] for row in table_rows(out.getvalue())] == [
        "create product",
        "create price",
        "create price",
    ]


def test_exit_code_is_non_zero(fake, stripe_stub, catalogue):
    stripe_stub.on("POST", "/v1/products", (500, payloads.error("boom", type="api_error")))
    with pytest.raises(CommandError) as info:
        call_command("sync_stripe_products", stdout=io.StringIO())
    assert info.value.returncode == 1


def test_failure_mid_item_keeps_the_product_and_earlier_price(fake, stripe_stub, catalogue):
    prod = product_ids(catalogue)
    c = catalogue
    outcomes = iter(["created", "failed"])

    def second_price_fails(request: Recorded) -> tuple[int, dict[str, Any]]:
        if next(outcomes) == "failed":
            return 500, payloads.error("boom", type="api_error")
        return fake.idempotent(fake.create_price)(request)

    stripe_stub.on("POST", "/v1/prices", second_price_fails, times=2)

    with pytest.raises(CatalogueSyncFailed) as info:
        sync_catalogue()

    assert info.value.item == f"Pro (plan:{c['plan'].pk})"
    assert reload(c["plan"]).stripe_product_id == prod[1]
    assert reload(c["plan_eur"]).stripe_price_id == "price_fake2"
    assert reload(c["plan_usd"]).stripe_price_id is None

    first = len(stripe_stub.requests)
    sync_catalogue()
    resumed = [sent(r)[:2] for r in stripe_stub.requests[first:]]
    assert resumed[:3] == [
        ("GET", f"/v1/products/{prod[1]}"),
        ("GET", "/v1/prices"),
        ("POST", "/v1/prices"),
    ]
    assert reload(c["plan_usd"]).stripe_price_id == "price_fake3"
    assert len(fake.prices) == 4


def test_billing_disabled_is_a_command_error(stripe_stub, settings, catalogue):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "ENABLED": False}
    with pytest.raises(CommandError, match=r"^Stripe is not enabled"):
        call_command("sync_stripe_products", stdout=io.StringIO())
    assert stripe_stub.requests == []


def test_missing_secret_key_is_a_command_error(stripe_stub, settings, catalogue):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "STRIPE_SECRET_KEY": ""}
    with pytest.raises(CommandError) as info:
        call_command("sync_stripe_products", stdout=io.StringIO())
    assert str(info.value) == (
        "FIKO_BILLING['STRIPE_SECRET_KEY'] is empty: Stripe cannot be called."
    )


# ---------------------------------------------------------------------- idempotency


def test_a_500_stored_for_one_run_does_not_block_the_next(fake, stripe_stub, catalogue):
    """Stripe replays a stored 500 to its key for a day: a new run sends new keys."""
    stripe_stub.remember_idempotency_keys()
    stripe_stub.on(
        "POST", "/v1/products", (500, payloads.error("boom", type="api_error")), times=1
    )
    with pytest.raises(CommandError):
        call_command("sync_stripe_products", stdout=io.StringIO())
    (failed,) = stripe_stub.requests

    run()

    retried = stripe_stub.requests[1]
    assert sent(retried) == sent(failed)
    assert retried.headers["idempotency-key"] != failed.headers["idempotency-key"]
    assert reload(catalogue["plan"]).stripe_product_id == product_id_for(catalogue["plan"])
    assert len(fake.products) == 3


def test_a_product_stripe_made_but_answered_500_for_is_adopted(fake, stripe_stub, catalogue):
    prod = product_ids(catalogue)

    stripe_stub.on("POST", "/v1/products", answer_lost(fake, fake.create_product), times=1)
    with pytest.raises(CommandError):
        call_command("sync_stripe_products", stdout=io.StringIO())
    assert list(fake.products) == [prod[1]]
    assert reload(catalogue["plan"]).stripe_product_id is None
    edit(catalogue["plan"], name="Pro Plus")  # changed in between: the adopted one follows
    first = len(stripe_stub.requests)

    output = run()

    assert [sent(r)[:2] for r in stripe_stub.requests[first : first + 3]] == [
        ("POST", "/v1/products"),  # refused: resource_already_exists
        ("GET", f"/v1/products/{prod[1]}"),
        ("POST", f"/v1/products/{prod[1]}"),
    ]
    assert len(fake.products) == 3
    assert fake.products[prod[1]]["name"] == "Pro Plus"
    assert reload(catalogue["plan"]).stripe_product_id == prod[1]
    assert [f"Pro Plus (plan:{catalogue['plan'].pk})", "-", "create product", prod[1]] in (
        table_rows(output)
    )


def test_a_product_id_taken_by_something_else_is_an_error(fake, stripe_stub, catalogue):
    prod = product_ids(catalogue)
    fake.products[prod[1]] = payloads.product(id=prod[1], metadata={"fiko_item": "plan:999"})
    with pytest.raises(CatalogueSyncFailed, match="resource_already_exists"):
        sync_catalogue()
    assert reload(catalogue["plan"]).stripe_product_id is None


def test_a_price_stripe_made_but_answered_500_for_is_adopted(fake, stripe_stub, catalogue):
    c = catalogue
    run()
    price = edit(c["plan_usd"], unit_amount=1900)

    stripe_stub.on("POST", "/v1/prices", answer_lost(fake, fake.create_price), times=1)
    with pytest.raises(CatalogueSyncFailed):
        sync_catalogue()
    assert reload(price).stripe_price_id == "price_fake3"
    made = [p for p in fake.prices.values() if p["unit_amount"] == 1900]
    assert [p["id"] for p in made] == ["price_fake8"]
    first = len(stripe_stub.requests)

    sync_catalogue()

    assert [r for r in stripe_stub.requests[first:] if sent(r)[:2] == ("POST", "/v1/prices")] == []
    assert reload(price).stripe_price_id == "price_fake8"
    assert len(fake.prices) == 5, "no second price for the same change"
    assert fake.prices["price_fake3"]["active"] is False
    assert fake.prices["price_fake8"]["lookup_key"] == f"fiko_plan_{c['plan'].pk}_usd"


def test_a_new_price_made_but_answered_500_for_is_adopted(fake, stripe_stub, catalogue):
    c = catalogue
    run()
    gbp = PlanPriceFactory(plan=c["plan"], currency="gbp", unit_amount=1200)

    stripe_stub.on("POST", "/v1/prices", answer_lost(fake, fake.create_price), times=1)
    with pytest.raises(CatalogueSyncFailed):
        sync_catalogue()
    sync_catalogue()

    assert reload(gbp).stripe_price_id == "price_fake8"
    assert [p["id"] for p in fake.prices.values() if p["currency"] == "gbp"] == ["price_fake8"]


def test_same_change_asked_again_later_gets_a_new_key(fake, stripe_stub, catalogue):
    run()
    price = catalogue["plan_eur"]
    keys = []
    for active in (False, True, False):
        edit(price, active=active)
        first = len(stripe_stub.requests)
        run()
        (write,) = [r for r in stripe_stub.requests[first:] if r.method == "POST"]
        keys.append(write.headers["idempotency-key"])
    # Off, on, off: the third must not replay the first's stored answer.
    assert len(set(keys)) == 3
    assert fake.prices["price_fake2"]["active"] is False


def test_service_reports_changes(fake, stripe_stub, catalogue):
    seen = []
    report = sync_catalogue(on_progress=lambda done, total, item: seen.append((done, total, item)))
    assert [c.action for c in report.changes].count(Action.CREATE_PRODUCT) == 3
    assert report.items == 3
    assert seen == [
        (1, 3, f"Pro (plan:{catalogue['plan'].pk})"),
        (2, 3, f"Starter pack (package:{catalogue['once'].pk})"),
        (3, 3, f"Yearly top-up (package:{catalogue['topup'].pk})"),
    ]


# ---------------------------------------------------------------------- output helpers


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_count_and_rate_on_a_terminal():
    stream = FakeTerminal()
    ticks = iter([100.0, 102.0, 104.0])
    progress = Progress(stream, label="Syncing", clock=lambda: next(ticks), width=80)
    progress.update(1, 4, "Pro (plan:1)")
    progress.update(2, 4, "B")
    progress.finish()
    assert stream.getvalue() == (
        "\rSyncing: 1/4 (0.5/s) Pro (plan:1)\rSyncing: 2/4 (0.5/s) B           \n"
    )


def test_progress_is_silent_off_a_terminal():
    stream = io.StringIO()
    with Progress(stream, label="Syncing") as progress:
        progress.update(1, 2)
    assert stream.getvalue() == ""


def test_progress_line_is_cut_to_the_terminal_width():
    progress = Progress(io.StringIO(), label="Syncing", clock=lambda: 0.0, width=20)
    assert progress.line(3, None, "a long item name") == "Syncing: 3 (0.0/s) "


def test_command_shows_progress_on_a_terminal(fake, stripe_stub, catalogue):
    stream = FakeTerminal()
    call_command("sync_stripe_products", stdout=stream)
    frames = stream.getvalue().split("\n", 1)[0].split("\r")[1:]
    assert [re.sub(r"\(\d+\.\d/s\)", "(R/s)", f).rstrip() for f in frames] == [
        f"Syncing catalogue: 1/3 (R/s) Pro (plan:{catalogue['plan'].pk})",
        f"Syncing catalogue: 2/3 (R/s) Starter pack (package:{catalogue['once'].pk})",
        f"Syncing catalogue: 3/3 (R/s) Yearly top-up (package:{catalogue['topup'].pk})",
    ]


def test_format_table():
    assert format_table(("A", "Long header"), [("x", 1), ("longer", "")]) == (
        "A       Long header\n------  -----------\nx       1\nlonger"
    )
    with pytest.raises(ValueError, match="row 1 has 1 cells, expected 2"):
        format_table(("A", "B"), [("x",)])
