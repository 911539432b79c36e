"""The conformance checks themselves: what they catch, and what they hold to them.

Every test of the suite that talks to the emulator or the Stripe stub runs
these checks on what travels (the ``stripe_conformance`` fixture); here we
prove they fail on what Stripe would refuse or never send, that the payload
factories pass them, and that the emulator's declared parameters are all
ones the SDK knows.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import stripe

import fiko_billing
from fiko_billing import api_version, conf
from fiko_billing.emulator import PINNED_API_VERSION, Emulator
from fiko_billing.emulator.params import Enum as EmulatorEnum
from fiko_billing.emulator.params import Hash, List, OneOf, Spec
from fiko_billing.emulator.resources import ROUTES
from fiko_billing.testing import payloads
from fiko_billing.testing.conformance import (
    SDK_API_VERSION,
    ConformanceLog,
    Reads,
    check_event,
    check_object,
    check_request,
    endpoint_for,
)
from fiko_billing.testing.conformance.schema import (
    Array,
    Enum,
    Expandable,
    ListOf,
    Mapping,
    Node,
    Nullable,
    Obj,
    resource,
)
from fiko_billing.testing.conformance.schema import (
    OneOf as SchemaOneOf,
)
from tests.stripe_reads import PRODUCT_READS

NOW = 1_800_000_000
PACKAGE = Path(fiko_billing.__file__).parent


# ---------------------------------------------------------------------- one pinned version


def test_one_pinned_api_version_equal_to_the_sdks():
    assert conf.PINNED_API_VERSION is api_version.PINNED_API_VERSION
    assert PINNED_API_VERSION is api_version.PINNED_API_VERSION
    # The SDK's public attribute: the version its types are generated for.
    assert stripe.api_version == PINNED_API_VERSION == SDK_API_VERSION


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def test_the_pinned_version_is_a_leaf_and_the_emulator_imports_nothing_else_of_ours():
    assert _imports(PACKAGE / "api_version.py") == []
    for path in (PACKAGE / "emulator").rglob("*.py"):
        ours = [m for m in _imports(path) if m.startswith("fiko_billing")]
        strangers = [
            m
            for m in ours
            if not m.startswith("fiko_billing.emulator") and m != "fiko_billing.api_version"
        ]
        assert strangers == [], path


# ---------------------------------------------------------------------- requests


def test_requests_that_stripe_refuses_are_caught():
    found = check_request(
        "POST",
        "/v1/subscriptions/sub_1",
        {
            "items": [{"id": "si_1", "price": "price_1", "quantity": "two"}],
            "proration_behavior": "sometimes",
            "cancel_at_period_end": "yes",
            "billing_cycle_anchor": "now",
            "coupon": "X",
        },
    )
    problems = {(v.path, v.problem.split(" ")[-1]) for v in found}
    assert {v.path for v in found} == {
        "items[0][quantity]",
        "proration_behavior",
        "cancel_at_period_end",
        "billing_cycle_anchor",
        "coupon",
    }, problems
    assert (
        check_request(
            "POST", "/v1/checkout/sessions", {"mode": "payment", "payment_method_types": ["card"]}
        )[0].path
        == "payment_method_types"
    )
    missing = check_request("POST", "/v1/prices", {"unit_amount": "500"})
    assert [v.path for v in missing] == ["currency"]
    assert check_request("POST", "/v1/nothing_here", {})[0].problem.startswith("no such endpoint")


def test_requests_stripe_accepts_pass():
    assert (
        check_request(
            "POST",
            "/v1/subscriptions/sub_1",
            {
                "items": [{"id": "si_1", "price": "price_1"}],
                "proration_behavior": "always_invoice",
                "cancel_at_period_end": "false",
                "billing_cycle_anchor": {"type": "now"},
                "metadata": {"a": "b"},
                "expand": ["latest_invoice"],
            },
        )
        == []
    )
    assert (
        check_request(
            "GET",
            "/v1/invoice_payments",
            {"payment": {"type": "payment_intent", "payment_intent": "pi_1"}, "limit": "3"},
        )
        == []
    )
    assert (
        endpoint_for("POST", "/v1/invoices/create_preview").template
        == "/v1/invoices/create_preview"
    )


def _sdk_node(params: Obj, key: str) -> Node | None:
    return params.fields.get(key)


def _enum_values(node: Node) -> set[Any] | None:
    if isinstance(node, Nullable):
        return _enum_values(node.inner)
    if isinstance(node, Enum):
        return set(node.values)
    if isinstance(node, SchemaOneOf):
        values: set[Any] = set()
        for option in node.options:
            if isinstance(option, Enum):
                values |= set(option.values)
            else:
                return None
        return values
    return None


def _compare(spec: Spec, node: Node, name: str, problems: list[str]) -> None:
    """Everything the emulator accepts under ``name`` must be accepted by the SDK."""
    if isinstance(node, Nullable):
        node = node.inner
    if isinstance(spec, Hash):
        targets = list(node.options) if isinstance(node, SchemaOneOf) else [node]
        hashes = [t for t in targets if isinstance(t, Obj)]
        if not hashes:
            if not any(isinstance(t, Mapping) for t in targets):
                problems.append(f"{name}: a hash here, not in the SDK")
            return
        for key, child in spec.fields.items():
            if key not in hashes[0].fields:
                problems.append(f"{name}[{key}]: not an SDK parameter")
            else:
                _compare(child, hashes[0].fields[key], f"{name}[{key}]", problems)
    elif isinstance(spec, List):
        arrays = [
            o
            for o in (node.options if isinstance(node, SchemaOneOf) else (node,))
            if isinstance(o, Array)
        ]
        if not arrays:
            problems.append(f"{name}: a list here, not in the SDK")
        else:
            _compare(spec.item, arrays[0].item, f"{name}[]", problems)
    elif isinstance(spec, EmulatorEnum):
        allowed = _enum_values(node)
        extra = set(spec.values) - (allowed or set()) - {""}
        if allowed is not None and extra:
            problems.append(f"{name}: values {sorted(extra)} the SDK does not list")
    elif isinstance(spec, OneOf):
        for choice in spec.choices:
            _compare(choice, node, name, problems)


#: Parameters the emulator reads only to refuse them with Stripe's specific error.
REFUSED_WITH_A_REASON = {("POST", "/v1/payment_intents", "payment_method_types")}


def test_every_parameter_the_emulator_accepts_is_one_the_sdk_declares():
    problems: list[str] = []
    for route in ROUTES:
        path = route.pattern.replace("{id}", "x_1")
        endpoint = endpoint_for(route.method, path)
        assert endpoint is not None, f"{route.method} {route.pattern} is not a Stripe endpoint"
        params = endpoint.params()
        if params is None:
            assert set(route.params.fields) == {"expand"}, route.pattern
            continue
        for key, spec in route.params.fields.items():
            node = params.fields.get(key)
            if (route.method, route.pattern, key) in REFUSED_WITH_A_REASON:
                assert node is None, f"{key} is an SDK parameter again"
                continue
            if node is None:
                problems.append(f"{route.method} {route.pattern}: {key} is not an SDK parameter")
            else:
                _compare(spec, node, f"{route.method} {route.pattern}: {key}", problems)
    assert problems == []


# ---------------------------------------------------------------------- objects


def test_objects_stripe_would_not_send_are_caught():
    invoice = payloads.invoice(
        customer_id="cus_1", subscription_id="sub_1", price_obj=_price(), period_start=NOW
    )
    assert check_object(invoice, reads=Reads(PRODUCT_READS)) == []
    with_payments = {**invoice, "payments": payloads.list_of([], url="/v1/invoice_payments")}
    assert [v.path for v in check_object(with_payments)] == ["payments"]
    assert [v.path for v in check_object(with_payments, expand=["payments"])] == []
    assert [v.path for v in check_event(payloads.event("invoice.paid", with_payments))] == [
        "payments"
    ]
    moved = {**invoice, "subscription": "sub_1"}  # under parent since 2025-03-31
    assert [v.path for v in check_object(moved)] == ["subscription"]
    bogus = {**invoice, "paid": True, "status": "settled"}
    assert {v.path for v in check_object(bogus)} == {"paid", "status"}
    incomplete = {k: v for k, v in invoice.items() if k != "amount_due"}
    assert [v.path for v in check_object(incomplete)] == ["amount_due"]
    customer = {**invoice, "customer": payloads.customer()}
    assert [v.path for v in check_object(customer)] == ["customer"]
    assert check_object(customer, expand=["customer"]) == []
    unread = {**invoice, "lines": {**invoice["lines"], "data": [{**invoice["lines"]["data"][0]}]}}
    del unread["lines"]["data"][0]["period"]
    paths = [v.path for v in check_object(unread, reads=Reads(PRODUCT_READS))]
    assert "lines.data[0].period" in paths


def _price(**fields: Any) -> dict[str, Any]:
    return payloads.price(product_id="prod_1", unit_amount=500, interval="month", **fields)


def _factory_objects() -> list[tuple[str, dict[str, Any]]]:
    price = _price()
    sub = payloads.subscription(customer_id="cus_1", price_obj=price, start=NOW)
    proration = payloads.invoice_line(
        invoice_id="in_1",
        price_obj=price,
        amount=-250,
        start=NOW,
        end=NOW + 86_400,
        subscription_id=sub["id"],
        proration=True,
    )
    return [
        ("customer", payloads.customer()),
        ("deleted customer", payloads.deleted_customer("cus_1")),
        ("product", payloads.product()),
        ("price", price),
        ("one-time price", payloads.price(product_id="prod_1", unit_amount=990)),
        ("subscription", sub),
        (
            "subscription item",
            payloads.subscription_item(
                price_obj=price, subscription_id="sub_1", start=NOW, end=NOW + 1
            ),
        ),
        (
            "invoice",
            payloads.invoice(customer_id="cus_1", subscription_id=sub["id"], price_obj=price),
        ),
        (
            "open renewal",
            payloads.invoice(
                customer_id="cus_1",
                subscription_id=sub["id"],
                price_obj=price,
                billing_reason="subscription_cycle",
                status="open",
                prorations=[proration],
            ),
        ),
        (
            "draft",
            payloads.invoice(
                customer_id="cus_1", subscription_id=None, price_obj=price, status="draft"
            ),
        ),
        (
            "invoice payment",
            payloads.invoice_payment(invoice_id="in_1", payment_intent="pi_1", amount=500),
        ),
        ("checkout session", payloads.checkout_session(metadata={"a": "b"})),
        (
            "complete session",
            payloads.checkout_session(
                mode="subscription", status="complete", payment_status="paid", customer_id="cus_1"
            ),
        ),
        (
            "portal session",
            payloads.portal_session(customer_id="cus_1", return_url="https://a.example/"),
        ),
        (
            "webhook endpoint",
            payloads.webhook_endpoint(url="https://a.example/", enabled_events=["*"]),
        ),
        ("charge", payloads.charge(amount=500, payment_intent="pi_1", amount_refunded=100)),
        ("dispute", payloads.dispute(charge_id="ch_1", amount=500, payment_intent="pi_1")),
    ]


@pytest.mark.parametrize(
    ("name", "obj"), _factory_objects(), ids=[n for n, _ in _factory_objects()]
)
def test_every_payload_factory_builds_what_stripe_sends(name: str, obj: dict[str, Any]) -> None:
    assert check_object(obj, reads=Reads(PRODUCT_READS)) == []
    assert check_event(payloads.event("customer.updated", obj), reads=Reads(PRODUCT_READS)) == []


def test_errors_and_lists_are_stripes_envelopes():
    body = payloads.error("No such price", code="resource_missing", param="price")
    assert set(body["error"]) >= {"type", "code", "message", "param", "doc_url"}
    assert check_object(payloads.list_of([payloads.product()], url="/v1/products")) == []


def test_the_invoice_factory_orders_lines_as_stripe_does():
    price = _price()
    proration = payloads.invoice_line(
        invoice_id="x",
        price_obj=price,
        amount=100,
        start=NOW,
        end=NOW + 10,
        subscription_id="sub_1",
        proration=True,
    )
    invoice = payloads.invoice(
        customer_id="cus_1", subscription_id="sub_1", price_obj=price, prorations=[proration]
    )
    details = [line["parent"]["subscription_item_details"] for line in invoice["lines"]["data"]]
    assert [d["proration"] for d in details] == [True, False]
    assert invoice["total"] == 600
    assert "payments" not in invoice
    assert "confirmation_secret" not in invoice


def _unwrap(node: Node) -> Node:
    while isinstance(node, Nullable | Expandable):
        node = node.inner if isinstance(node, Nullable) else node.target
    return node


@pytest.mark.parametrize("object_type", sorted(PRODUCT_READS))
def test_every_field_the_product_reads_is_declared_by_the_sdk(object_type: str) -> None:
    schema = resource(object_type)
    assert schema is not None
    for path in PRODUCT_READS[object_type]:
        node: Node = schema
        for segment in path.split("."):
            node = _unwrap(node)
            if isinstance(node, ListOf) and segment == "data":
                node = node.item
                continue
            assert isinstance(node, Obj), f"{object_type}.{path}: {segment} under a non-object"
            assert segment in node.fields, f"{object_type}.{path}: {segment} is not declared"
            node = node.fields[segment]


# ---------------------------------------------------------------------- the log on a live emulator


def test_the_log_fails_a_test_on_a_request_stripe_would_refuse():
    log = ConformanceLog()
    with Emulator() as emulator:
        log.attach(emulator)
        client = stripe.StripeClient(
            "sk_test_emulator", base_addresses={"api": emulator.url}, max_network_retries=0
        )
        client.v1.customers.create(params={"name": "fine"})
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.customers.create(params={"coupon": "SAVE"})  # type: ignore[typeddict-unknown-key]
    assert log.requests == 2
    assert log.objects >= 2
    assert [v.path for v in log.violations] == ["coupon"]
    with pytest.raises(AssertionError, match="coupon"):
        log.assert_clean()
