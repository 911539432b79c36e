"""fiko_billing/openapi.json says what the views do: routes, methods, statuses, bodies.

``documented(response)`` is used by the endpoint tests too: every response they
look at must be a status the document lists for that operation, its body must
match the documented schema, and an error's code must be one the response's
description names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.urls import URLPattern, reverse
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

import fiko_billing
from fiko_billing import inputs, urls
from fiko_billing.conf import DEFAULTS
from fiko_billing.models import EntryKind, Interval, PaymentKind, PaymentStatus, SubscriptionStatus
from fiko_billing.testing import payloads
from fiko_billing.testing.webhooks import post_event
from fiko_billing.webhooks.views import stripe_webhook
from tests.factories import (
    PackagePriceFactory,
    PlanPriceFactory,
    SubscriberFactory,
    SubscriptionFactory,
)
from tests.resolvers import bearer_client

DOCUMENT = json.loads(
    (Path(fiko_billing.__file__).with_name("openapi.json")).read_text(encoding="utf-8")
)
MOUNT = "/billing"  # where tests/urls.py includes fiko_billing.urls
#: The document does not describe itself, nor the HTML pages Stripe sends customers back to.
NOT_DOCUMENTED = {
    "openapi",
    "checkout-success-page",
    "checkout-canceled-page",
    "portal-return-page",
}
#: Views outside ``@endpoint``, with the methods and statuses they declare.
PLAIN_VIEWS: dict[str, tuple[tuple[str, ...], frozenset[int]]] = {
    "stripe-webhook": (stripe_webhook.allowed_methods, stripe_webhook.declared_statuses),
}
#: Every error code the API answers with.
ERROR_CODES = frozenset(
    {
        "not_authenticated",
        "no_billing_account",
        "csrf_failed",
        "unsupported_media_type",
        "billing_disabled",
        "method_not_allowed",
        "invalid_json",
        "missing_field",
        "invalid_input",
        "unsupported_currency",
        "plan_not_found",
        "already_subscribed",
        "catalogue_not_synced",
        "stripe_error",
        "stripe_timeout",
        "checkout_session_not_found",
        "no_customer",
        "return_url_not_allowed",
        "no_subscription",
        "not_canceling",
        "same_plan",
        "no_subscription_item",
        "body_too_large",
        "invalid_signature",
        "invalid_event",
        "livemode_mismatch",
        "processing_failed",
        "webhook_secret_missing",
    }
)

# ---------------------------------------------------------------------- JSON Schema

#: Keywords that only annotate; a keyword outside these and ``VALIDATED`` is a typo
#: (JSON Schema ignores keywords it does not know, so a misspelt one would check nothing).
ANNOTATIONS = frozenset({"description", "title", "format", "default", "examples", "deprecated"})
VALIDATED = frozenset(
    {
        "$ref",
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
    }
)


def resolve(node: dict[str, Any], document: dict[str, Any] = DOCUMENT) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/components/...``) to what it names."""
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def schema_errors(
    value: Any, schema: dict[str, Any], document: dict[str, Any] = DOCUMENT
) -> list[str]:
    """What is wrong with ``value`` under ``schema`` (empty when it matches).

    OpenAPI 3.1 schemas are JSON Schema 2020-12; the document's components ride
    along in the root so that its ``#/components/...`` references resolve.
    """
    root = {**schema, "components": document.get("components", {})}
    validator = Draft202012Validator(root)
    return sorted(
        f"$.{'.'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(value)
    )


# ---------------------------------------------------------------------- the routes


def route_template(route: str) -> str:
    """``checkout-session/<str:session_id>/`` -> ``/checkout-session/{session_id}/``."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def routed_views() -> dict[str, tuple[str, tuple[str, ...], frozenset[int]]]:
    """Document path -> (URL name, methods, statuses) of each route of ``fiko_billing.urls``."""
    found: dict[str, tuple[str, tuple[str, ...], frozenset[int]]] = {}
    for pattern in urls.urlpatterns:
        assert isinstance(pattern, URLPattern), "nested URLconfs are not expected here"
        name = str(pattern.name)
        if name in NOT_DOCUMENTED:
            continue
        view = pattern.callback
        if hasattr(view, "allowed_methods"):
            methods, statuses = tuple(view.allowed_methods), frozenset(view.declared_statuses)
            if name in PLAIN_VIEWS:
                assert PLAIN_VIEWS[name] == (methods, statuses), name
        else:
            assert name in PLAIN_VIEWS, f"{name}: neither an @endpoint view nor in PLAIN_VIEWS"
            methods, statuses = PLAIN_VIEWS[name]
        found[route_template(str(pattern.pattern))] = (name, methods, statuses)
    return found


def operation_for(method: str, path_info: str, status: int) -> tuple[str, dict[str, Any]]:
    """The documented (path, operation) that answers ``method path_info`` with ``status``.

    A 405 answers a method the path does not have, so any of its operations
    documents it.
    """
    server = DOCUMENT["servers"][0]["url"]
    assert path_info.startswith(server + "/"), path_info
    local = path_info.removeprefix(server)
    for path, item in DOCUMENT["paths"].items():
        if re.fullmatch(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)), local):
            operation = item.get(method.lower())
            if operation is None and status == 405:
                operation = next(iter(item.values()))
            assert operation is not None, f"{method} {path} is not documented"
            return path, operation
    raise AssertionError(f"{local} is not documented")


def error_codes(response_entry: dict[str, Any]) -> set[str]:
    """The error codes a response's description names (in backticks)."""
    return set(re.findall(r"`([a-z_]+)`", resolve(response_entry)["description"]))


def documented(response: Any) -> Any:
    """Assert ``response`` is what the document promises; returns its decoded body."""
    method = response.request["REQUEST_METHOD"]
    path, operation = operation_for(method, response.request["PATH_INFO"], response.status_code)
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {path} answered {status}, not documented"
    entry = resolve(operation["responses"][status])
    if "content" not in entry:
        assert response.content == b"", (
            f"{method} {path} {status}: a body where none is documented"
        )
        return None
    assert response["Content-Type"] == "application/json"
    body = response.json()
    schema = entry["content"]["application/json"]["schema"]
    errors = schema_errors(body, schema)
    assert not errors, f"{method} {path} {status}: {errors}"
    if response.status_code >= 400:
        code = body["error"]["code"]
        assert code in error_codes(entry), (
            f"{method} {path} {status}: code {code!r} is not described "
            f"(described: {sorted(error_codes(entry))})"
        )
    return body


# ---------------------------------------------------------------------- the document


def all_schemas(node: Any) -> list[dict[str, Any]]:
    """Every schema object in the document (components and inline, nested)."""
    found: list[dict[str, Any]] = []

    def visit_schema(schema: dict[str, Any]) -> None:
        found.append(schema)
        for member in schema.get("properties", {}).values():
            visit_schema(member)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                visit_schema(schema[key])

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            for key, member in value.items():
                if key == "schema":
                    visit_schema(member)
                elif key == "schemas":
                    for schema in member.values():
                        visit_schema(schema)
                else:
                    visit(member)
        elif isinstance(value, list):
            for member in value:
                visit(member)

    visit(node)
    return found


def test_the_document_is_openapi_3_1_of_this_release():
    assert DOCUMENT["openapi"] == "3.1.0"
    assert DOCUMENT["info"]["version"] == fiko_billing.__version__
    assert [server["url"] for server in DOCUMENT["servers"]] == [MOUNT]


@pytest.mark.django_db
def test_it_is_served_as_json(client):
    response = client.get(reverse("fiko_billing:openapi"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == DOCUMENT


def test_every_route_and_method_is_documented_and_nothing_else():
    routed = {
        (path, method.lower())
        for path, (_name, methods, _statuses) in routed_views().items()
        for method in methods
    }
    in_document = {
        (path, method)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    }
    assert routed == in_document
    assert all(set(item) <= {"get", "post"} for item in DOCUMENT["paths"].values())


def test_documented_paths_reverse_to_the_mounted_urls():
    for path, (name, _methods, _statuses) in routed_views().items():
        if "{" in path:
            assert MOUNT + path.replace("{session_id}", "cs_test_1") == reverse(
                f"fiko_billing:{name}", kwargs={"session_id": "cs_test_1"}
            )
        else:
            assert MOUNT + path == reverse(f"fiko_billing:{name}")


def test_every_operation_documents_exactly_its_declared_statuses():
    for path, (_name, methods, statuses) in routed_views().items():
        for method in methods:
            operation = DOCUMENT["paths"][path][method.lower()]
            documented_statuses = {int(status) for status in operation["responses"]}
            assert documented_statuses == statuses, (path, method)


def test_errors_use_the_shared_error_schema_and_name_their_codes():
    error_ref = {"$ref": "#/components/schemas/Error"}
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            for status, entry in operation["responses"].items():
                content = resolve(entry)["content"]["application/json"]
                if status == "200":
                    assert content["schema"]["$ref"].startswith("#/components/schemas/")
                    continue
                assert content["schema"] == error_ref, (path, method, status)
                # 400 is declared everywhere, but some endpoints read no input at all.
                if not (status == "400" and entry == {"$ref": "#/components/responses/NoInput"}):
                    assert error_codes(entry), (path, method, status)


def test_every_error_code_of_the_api_is_described_and_nothing_else():
    described = set()
    for item in DOCUMENT["paths"].values():
        for operation in item.values():
            for entry in operation["responses"].values():
                described |= error_codes(entry)
    assert described == ERROR_CODES


def test_405_documents_the_allow_header():
    for item in DOCUMENT["paths"].values():
        for operation in item.values():
            assert "Allow" in resolve(operation["responses"]["405"])["headers"]


def test_security_plans_are_public_the_rest_need_a_subscriber():
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert schemes["cookieAuth"]["type"] == "apiKey"
    assert schemes["cookieAuth"]["in"] == "cookie"
    assert "X-CSRFToken" in schemes["cookieAuth"]["description"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert DOCUMENT["security"] == [{"cookieAuth": []}, {"bearerAuth": []}]
    for path, item in DOCUMENT["paths"].items():
        for operation in item.values():
            if path in ("/plans/", "/stripe/webhook/"):
                assert operation["security"] == []
            else:
                assert "security" not in operation, path


def test_enums_match_the_models():
    schemas = DOCUMENT["components"]["schemas"]
    account = schemas["Account"]["properties"]
    assert account["status"]["enum"] == ["none", *SubscriptionStatus.values]
    assert account["plan"]["properties"]["interval"]["enum"] == Interval.values
    assert schemas["Plan"]["properties"]["interval"]["enum"] == Interval.values
    assert schemas["TokenPackage"]["properties"]["interval"]["enum"] == [*Interval.values, None]
    assert schemas["Payment"]["properties"]["kind"]["enum"] == PaymentKind.values
    assert schemas["Payment"]["properties"]["status"]["enum"] == PaymentStatus.values
    assert schemas["TokenTransaction"]["properties"]["kind"]["enum"] == EntryKind.values


def test_limits_match_the_code():
    schemas = DOCUMENT["components"]["schemas"]
    assert (
        schemas["CheckoutRequest"]["properties"]["quantity"]["maximum"] == DEFAULTS["MAX_QUANTITY"]
    )
    for name in ("TokenTransactionPage", "PaymentPage"):
        assert schemas[name]["properties"]["page_size"]["maximum"] == inputs.MAX_PAGE_SIZE
    for path in ("/tokens/transactions/", "/payments/"):
        params = {p["name"]: p["schema"] for p in DOCUMENT["paths"][path]["get"]["parameters"]}
        assert params["page_size"]["maximum"] == inputs.MAX_PAGE_SIZE
        assert params["page_size"]["default"] == 20


def test_every_schema_uses_only_keywords_we_know_are_validated_or_annotations():
    schemas = all_schemas(DOCUMENT)
    assert len(schemas) > 100
    for schema in schemas:
        assert set(schema) <= ANNOTATIONS | VALIDATED, schema


def test_request_bodies_are_as_documented():
    body = DOCUMENT["components"]["schemas"]["CheckoutRequest"]
    accepted = [
        {"plan_type": "full", "plan_id": 1},
        {"plan_type": "token", "plan_id": 7, "quantity": 100, "currency": "EUR"},
    ]
    rejected = [
        {},
        {"plan_type": "gold", "plan_id": 1},
        {"plan_type": "full"},
        {"plan_type": "full", "plan_id": "1"},
        {"plan_type": "full", "plan_id": 0},
        {"plan_type": "full", "plan_id": True},
        {"plan_type": "full", "plan_id": 2**31},
        {"plan_type": "token", "plan_id": 1, "quantity": 0},
        {"plan_type": "token", "plan_id": 1, "quantity": 101},
        {"plan_type": "full", "plan_id": 1, "currency": "dollars"},
        {"plan_type": "full", "plan_id": 1, "currency": "x1z"},
    ]
    assert [schema_errors(b, body) for b in accepted] == [[], []]
    assert all(schema_errors(b, body) for b in rejected)
    assert body["required"] == ["plan_type", "plan_id"]
    schemas = DOCUMENT["components"]["schemas"]
    assert schemas["ChangeRequest"]["required"] == ["plan_id"]
    assert schemas["CancelRequest"]["properties"]["immediately"]["type"] == "boolean"
    assert schema_errors({"immediately": "yes"}, schemas["CancelRequest"])
    assert schemas["PortalRequest"]["required"] == []
    assert "return_url" in schemas["PortalRequest"]["properties"]


# ---------------------------------------------------------------------- the validators


def test_the_document_is_valid_openapi_3_1():
    validate(DOCUMENT)


@pytest.mark.parametrize(
    ("value", "schema", "expected"),
    [
        (1, {"type": "integer"}, []),
        (True, {"type": "integer"}, ["$.: True is not of type 'integer'"]),
        (None, {"type": ["string", "null"]}, []),
        (
            {"a": 1, "b": 2},
            {
                "type": "object",
                "properties": {"a": {"type": "integer"}},
                "additionalProperties": False,
            },
            ["$.: Additional properties are not allowed ('b' was unexpected)"],
        ),
        (
            {"a": "1"},
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a", "c"]},
            ["$.: 'c' is a required property", "$.a: '1' is not of type 'integer'"],
        ),
        (
            [1, "2"],
            {"type": "array", "items": {"type": "integer"}},
            ["$.1: '2' is not of type 'integer'"],
        ),
    ],
)
def test_schema_errors_reports_each_violation(value, schema, expected):
    assert schema_errors(value, schema, document={}) == expected


def test_schema_errors_follows_the_documents_refs():
    document = {"components": {"schemas": {"N": {"type": "integer"}}}}
    assert schema_errors("1", {"$ref": "#/components/schemas/N"}, document=document) == [
        "$.: '1' is not of type 'integer'"
    ]


# ---------------------------------------------------------------------- the input forms


def field_schema(field: Any) -> dict[str, Any]:
    """The keywords the document must give a member read by ``field``."""
    if isinstance(field, inputs.IntegerInput):
        schema = {"type": "integer", "minimum": field.minimum, "maximum": field.maximum}
    elif isinstance(field, inputs.ChoiceInput):
        schema = {"type": "string", "enum": list(field.choices)}
    elif isinstance(field, inputs.CurrencyInput):
        schema = {"type": "string", "minLength": 3, "maxLength": 3, "pattern": "^[A-Za-z]{3}$"}
    elif isinstance(field, inputs.TextInput):
        schema = {"type": "string", "minLength": 1, "maxLength": field.max_length}
    else:
        assert isinstance(field, inputs.BooleanInput), field
        schema = {"type": "boolean"}
    return schema


def input_forms() -> dict[str, tuple[str, Any]]:
    """Document path -> (method, input form) of every endpoint that reads input."""
    found = {}
    for path, (name, methods, _statuses) in routed_views().items():
        view = next(p.callback for p in urls.urlpatterns if p.name == name)
        form = getattr(view, "input_form", None)
        if form is not None:
            found[path] = (methods[0].lower(), form)
    return found


def test_every_endpoint_that_reads_a_body_or_query_declares_its_input_form():
    assert sorted(input_forms()) == [
        "/payments/",
        "/stripe/checkout-session/",
        "/stripe/customer-portal/",
        "/subscription/cancel/",
        "/subscription/change/",
        "/subscription/change/preview/",
        "/subscription/resume/",
        "/tokens/transactions/",
    ]


@pytest.mark.django_db
def test_the_documented_request_of_every_endpoint_is_its_input_form(rf):
    """Members, required ones, types, ranges and defaults: the form and the document agree."""
    for path, (method, form_class) in input_forms().items():
        form = form_class({}, request=rf.get("/"))
        operation = DOCUMENT["paths"][path][method]
        if method == "get":
            members = {
                p["name"]: (p["schema"], p.get("required", False))
                for p in map(resolve, operation.get("parameters", []))
                if p["in"] == "query"
            }
            required = sorted(name for name, (_schema, needed) in members.items() if needed)
            properties = {name: schema for name, (schema, _needed) in members.items()}
        else:
            body = resolve(operation["requestBody"]["content"]["application/json"]["schema"])
            properties = body.get("properties", {})
            required = sorted(body.get("required", []))
            assert body["type"] == "object", path
        assert sorted(properties) == sorted(form.fields), path
        assert required == sorted(n for n, f in form.fields.items() if f.required), path
        for name, field in form.fields.items():
            documented_schema = properties[name]
            expected = field_schema(field)
            if isinstance(field, inputs.QueryIntegerInput):
                expected = {"type": "integer", "minimum": 1, "maximum": field.maximum}
            assert {k: documented_schema.get(k) for k in expected} == expected, (path, name)
            if name in form_class.defaults:
                assert documented_schema["default"] == form_class.defaults[name], (path, name)


# ---------------------------------------------------------------------- real answers


@pytest.mark.django_db
def test_plans_answer_matches_its_schema(client):
    PlanPriceFactory(unit_amount=900)
    PackagePriceFactory(unit_amount=500, package__interval="month")
    PackagePriceFactory(unit_amount=100, currency="jpy")
    response = client.get("/billing/plans/")
    assert response.status_code == 200
    body = documented(response)
    assert (len(body["plans"]), len(body["token_packages"])) == (1, 2)


@pytest.mark.django_db
def test_account_answer_matches_its_schema(client, settings):
    api = bearer_client(client, settings, SubscriberFactory())
    response = api.get("/billing/account/")
    assert response.status_code == 200
    assert documented(response)["plan"] is None

    price = PlanPriceFactory(currency="eur")
    SubscriptionFactory(customer__subscriber=api.subscriber, plan=price.plan, price=price)
    response = api.get("/billing/account/")
    assert response.status_code == 200
    assert documented(response)["plan"]["id"] == price.plan_id


@pytest.mark.django_db
def test_documented_rejects_an_undocumented_answer(client):
    response = client.get("/billing/plans/")
    response.content = json.dumps({"currency": "usd", "plans": [], "token_packages": [], "x": 1})
    with pytest.raises(AssertionError, match=r"'x' was unexpected"):
        documented(response)


@pytest.mark.django_db
def test_webhook_answers_are_documented(client):
    url = reverse("fiko_billing:stripe-webhook")
    response = client.get(url)
    assert response.status_code == 405
    assert documented(response)["error"]["code"] == "method_not_allowed"
    assert response["Allow"] == "POST"

    response = client.post(url, data=b"{}", content_type="application/json")
    assert response.status_code == 400
    assert documented(response)["error"]["code"] == "invalid_signature"

    event = payloads.event("fiko.test.unhandled", {"id": "obj_1", "object": "thing"})
    response = post_event(event, client=client, conforming=False)
    assert response.status_code == 200
    assert documented(response) == {"received": True, "outcome": "ignored"}
    response = post_event(event, client=client, conforming=False)
    assert documented(response) == {"received": True, "outcome": "duplicate"}


@pytest.mark.django_db
def test_checkout_answers_match_their_schemas(client, settings, stripe_stub):
    api = bearer_client(client, settings, SubscriberFactory())
    price = PackagePriceFactory(stripe_price_id="price_pack")
    stripe_stub.on("POST", "/v1/customers", payloads.customer(id="cus_doc"))
    stripe_stub.on("POST", "/v1/checkout/sessions", payloads.checkout_session(id="cs_test_doc"))
    stripe_stub.on(
        "GET", "/v1/checkout/sessions/cs_test_doc", payloads.checkout_session(id="cs_test_doc")
    )
    response = api.post(
        reverse("fiko_billing:checkout-session"),
        data=json.dumps({"plan_type": "token", "plan_id": price.package_id}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert documented(response)["id"] == "cs_test_doc"

    response = api.get(reverse("fiko_billing:checkout-session-status", args=["cs_test_doc"]))
    assert response.status_code == 200, response.content
    body = documented(response)
    assert (body["fulfilled"], body["payment"]["status"]) == (False, "pending")

    response = api.get(reverse("fiko_billing:checkout-session-status", args=["cs_test_nope"]))
    assert response.status_code == 404
    assert documented(response)["error"]["code"] == "checkout_session_not_found"
