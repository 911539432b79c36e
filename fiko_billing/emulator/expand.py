"""``expand[]``: replace ids by objects along dotted paths, as Stripe does.

Paths walk hashes by key and lists element by element, so
``items.data.price.product`` on a subscription and ``data.customer`` on a
list page both work. Some fields are not in an object until asked for
("includable"): a Checkout Session's ``line_items``, a charge's ``refunds``,
an invoice's ``payments`` and ``confirmation_secret``. They are never in a
webhook payload.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fiko_billing.emulator.store import PREFIX_KINDS, Obj, Store
from fiko_billing.emulator.wire import bad_param, list_object

MAX_DEPTH = 4

Includable = Callable[[Store, Obj], Obj | None]


def session_line_items(store: Store, session: Obj) -> Obj:
    items = [render_line_item(store, item) for item in store.hidden(session["id"])["line_items"]]
    return list_object(items, f"/v1/checkout/sessions/{session['id']}/line_items")


def render_line_item(store: Store, item: Obj) -> Obj:
    rendered = copy.deepcopy(item)
    price = store.get("price", item["price"])
    if price is not None:
        rendered["price"] = copy.deepcopy(price)
    return rendered


def charge_refunds(store: Store, charge: Obj) -> Obj:
    refunds = [r for r in store.all("refund") if r["charge"] == charge["id"]]
    return list_object(copy.deepcopy(refunds), f"/v1/charges/{charge['id']}/refunds")


def invoice_payments(store: Store, invoice: Obj) -> Obj:
    payments = [p for p in store.all("invoice_payment") if p["invoice"] == invoice["id"]]
    return list_object(copy.deepcopy(payments), f"/v1/invoice_payments?invoice={invoice['id']}")


def invoice_confirmation_secret(store: Store, invoice: Obj) -> Obj | None:
    """The client secret of the invoice's latest payment intent, once it is finalized."""
    if invoice["status"] == "draft":
        return None
    payments = [p for p in store.all("invoice_payment") if p["invoice"] == invoice["id"]]
    for payment in payments:
        pi = store.get("payment_intent", payment["payment"]["payment_intent"])
        if pi is not None:
            return {"client_secret": pi["client_secret"], "type": "payment_intent"}
    return None


#: Fields Stripe leaves out of an object unless the request expands them.
INCLUDABLE: dict[tuple[str, str], Includable] = {
    ("checkout.session", "line_items"): session_line_items,
    ("charge", "refunds"): charge_refunds,
    ("invoice", "payments"): invoice_payments,
    ("invoice", "confirmation_secret"): invoice_confirmation_secret,
}


def expand(store: Store, obj: Obj, paths: list[str]) -> Obj:
    """A copy of ``obj`` with each path expanded; unknown paths are a 400."""
    result = copy.deepcopy(obj)
    for index, path in enumerate(paths):
        segments = path.split(".")
        if len([s for s in segments if s != "data"]) > MAX_DEPTH:
            raise bad_param(
                f"You cannot expand more than {MAX_DEPTH} levels of a property. Property: {path}",
                param=f"expand[{index}]",
            )
        _walk(store, result, segments, path, f"expand[{index}]")
    return result


def _walk(store: Store, node: Any, segments: list[str], path: str, param: str) -> None:
    if isinstance(node, list):
        for element in node:
            _walk(store, element, segments, path, param)
        return
    if not isinstance(node, dict):
        raise _cannot(path, param)
    key, rest = segments[0], segments[1:]
    if key not in node:
        include = INCLUDABLE.get((str(node.get("object")), key))
        if include is None:
            raise _cannot(path, param)
        node[key] = include(store, node)
    value = node[key]
    if value is None:
        return
    if isinstance(value, str):
        target = store.find(value)
        if target is None:
            if value.split("_", 1)[0] in PREFIX_KINDS:
                return  # a relation whose object no longer exists stays an id
            raise _cannot(path, param)
        value = copy.deepcopy(target)
        node[key] = value
    if rest:
        _walk(store, value, rest, path, param)


def _cannot(path: str, param: str) -> Exception:
    return bad_param(f"This property cannot be expanded ({path}).", param=param)
