"""What a signed webhook body must be before it is stored as an event.

The signature proves Stripe sent a body, not that the body is an event this
package can store: a hostile or broken one may be deeply nested, hold
``NaN``, a ``created`` that is no date, an id too long for its column. Each
is refused here with ``EventRejected`` before the database sees it.

Stripe retries a delivery until it gets a 2xx, for up to three days; a body
that is wrong now is wrong on every retry. So a rejected body that carried a
valid signature is answered 200 with the outcome ``rejected`` and recorded in
``RejectedEvent`` (once per distinct body), where the admin shows it.
Customer-supplied text is never a reason to refuse: U+0000 in a name or a
description is stored as it is (see ``NulSafeJSONField``). U+0000 in an id, a
code or a Stripe URL (``customer``, ``status``, ``hosted_invoice_url``) is: no
Stripe value of that kind holds one, the handlers look such values up or store
them in columns, and PostgreSQL refuses them in a query, so the event could
only fail on every retry.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from fiko_billing import strict_json
from fiko_billing.conf import billing_settings
from fiko_billing.models import RejectedEvent

logger = logging.getLogger("fiko_billing.webhooks")

#: Stripe ids are ASCII letters, digits and ``_`` (``evt_1Q2w3E4r…``).
EVENT_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
#: Event types: ``checkout.session.completed``, ``invoice_payment.paid``.
EVENT_TYPE = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+")
MAX_TYPE_LENGTH = 100
MAX_API_VERSION_LENGTH = 64
#: ``created`` is a Unix time; before 1970 or after the year 3000 it is no date
#: of any event (test clocks may run years ahead, never centuries).
MAX_CREATED = int(datetime(3000, 1, 1, tzinfo=UTC).timestamp())


#: Members whose string values are Stripe ids, codes or Stripe's own URLs
#: wherever they appear in the object (``*_id`` and ``*_url`` members too);
#: never customer text. ``metadata`` is the merchant's and customer's own, so
#: its members are not looked at.
CODE_MEMBERS = frozenset(
    {
        "id",
        "object",
        "customer",
        "subscription",
        "invoice",
        "payment_intent",
        "charge",
        "price",
        "product",
        "plan",
        "refund",
        "dispute",
        "latest_invoice",
        "latest_charge",
        "payment_method",
        "default_payment_method",
        "balance_transaction",
        "schedule",
        "test_clock",
        "status",
        "currency",
        "mode",
        "payment_status",
        "billing_reason",
        "collection_method",
        "reason",
        "interval",
        "type",
        "url",
    }
)
#: How U+0000 is written in JSON; a body without it holds none.
_NUL_ESCAPE = b"\\u0000"


class EventRejected(ValueError):
    """A signed body that is not a usable Stripe event; ``code`` says which rule it broke."""

    def __init__(self, code: str, message: str, *, data: object = None) -> None:
        super().__init__(message)
        self.code = code
        readable = data if isinstance(data, dict) else {}
        self.event_id = _printable(readable.get("id"), 255)
        self.event_type = _printable(readable.get("type"), MAX_TYPE_LENGTH)


def _printable(value: object, length: int) -> str:
    """As much of ``value`` as may be shown and stored: printable ASCII, cut to ``length``."""
    if not isinstance(value, str):
        return ""
    return "".join(ch for ch in value if " " <= ch <= "~")[:length]


def parse_event(body: bytes) -> dict[str, Any]:
    """The event in ``body``, or ``EventRejected`` naming what is wrong with it."""
    try:
        data = strict_json.loads(body)
    except strict_json.JSONRejected as exc:
        raise EventRejected("invalid_json", f"Not JSON this endpoint accepts: {exc}") from exc
    if not isinstance(data, dict) or data.get("object") != "event":
        raise EventRejected("invalid_event", "Not a Stripe event object.", data=data)
    _check_event(data)
    if _NUL_ESCAPE in body:
        _check_codes(data)
    _check_mode(data)
    return data


def _check_event(data: dict[str, Any]) -> None:
    def reject(message: str) -> EventRejected:
        return EventRejected("invalid_event", message, data=data)

    event_id, event_type, created = data.get("id"), data.get("type"), data.get("created")
    if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
        raise reject("The event id must be 1 to 255 ASCII letters, digits or '_'.")
    if (
        not isinstance(event_type, str)
        or len(event_type) > MAX_TYPE_LENGTH
        or not EVENT_TYPE.fullmatch(event_type)
    ):
        raise reject("The event type must be a dotted name of at most 100 characters.")
    if isinstance(created, bool) or not isinstance(created, int):
        raise reject("'created' must be an integer Unix time.")
    if not 0 < created < MAX_CREATED:
        raise reject("'created' is not a time between 1970 and the year 3000.")
    api_version = data.get("api_version")
    if api_version is not None and (
        not isinstance(api_version, str)
        or len(api_version) > MAX_API_VERSION_LENGTH
        or "\x00" in api_version
    ):
        raise reject("'api_version' must be a string of at most 64 characters.")
    if not isinstance(data.get("livemode", False), bool):
        raise reject("'livemode' must be true or false.")
    event_data = data.get("data")
    if not isinstance(event_data, dict) or not isinstance(event_data.get("object"), dict):
        raise reject("The event has no 'data.object'.")


def _check_mode(data: dict[str, Any]) -> None:
    """``EventRejected`` for an event of the other mode than the secret key's.

    Test and live objects never mix in one database: a test-mode endpoint
    pointed at a live site (its signing secret added to ``STRIPE_WEBHOOK_SECRET``
    to make the failures stop) must not write test payments, customers and
    tokens into it, nor a live event into a test site.
    """
    key_live = billing_settings.key_livemode
    event_live = data.get("livemode")
    if key_live is None or not isinstance(event_live, bool) or event_live == key_live:
        return
    if event_live:
        message = (
            "A live-mode event reached a site whose STRIPE_SECRET_KEY is a test-mode key; "
            "point the live-mode webhook endpoint at the live site."
        )
    else:
        message = (
            "A test-mode event reached a site whose STRIPE_SECRET_KEY is a live-mode key; "
            "remove the test-mode endpoint's secret from STRIPE_WEBHOOK_SECRET, or point "
            "that endpoint at a test site."
        )
    raise EventRejected("livemode_mismatch", message, data=data)


def _check_codes(data: dict[str, Any]) -> None:
    """``EventRejected`` if an id or a code in the event's object (or in what it was
    before) holds U+0000."""
    stack: list[tuple[object, str]] = [
        (data["data"].get(part), f"data.{part}") for part in ("object", "previous_attributes")
    ]
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if key == "metadata":
                continue
            member = f"{path}.{_printable(key, 40)}"
            if isinstance(value, str):
                if "\x00" in value and (key in CODE_MEMBERS or key.endswith(("_id", "_url"))):
                    raise EventRejected(
                        "invalid_event",
                        f"'{member}' holds U+0000, which no Stripe id, code or URL does.",
                        data=data,
                    )
            else:
                stack.append((value, member))


def record_rejected(body: bytes, rejection: EventRejected) -> RejectedEvent:
    """Keep a signed body that was rejected; the same body again only counts a delivery."""
    digest = hashlib.sha256(body).hexdigest()
    logger.error(
        "webhook delivery rejected (signed, answered 200 so Stripe stops retrying): "
        "%s event=%s type=%s sha256=%s: %s",
        rejection.code,
        rejection.event_id or "-",
        rejection.event_type or "-",
        digest,
        rejection,
    )
    if RejectedEvent.objects.filter(body_sha256=digest).update(deliveries=F("deliveries") + 1):
        return RejectedEvent.objects.get(body_sha256=digest)
    text = body.decode("utf-8", "backslashreplace").replace("\x00", "\\u0000")
    try:
        with transaction.atomic():
            return RejectedEvent.objects.create(
                body_sha256=digest,
                reason=rejection.code,
                message=str(rejection)[:500],
                stripe_event_id=rejection.event_id,
                type=rejection.event_type,
                body=text,
            )
    except IntegrityError:
        # The same body delivered concurrently: the other request recorded it.
        RejectedEvent.objects.filter(body_sha256=digest).update(deliveries=F("deliveries") + 1)
        return RejectedEvent.objects.get(body_sha256=digest)
