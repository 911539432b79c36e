"""The one writer of a subscription's mirrored state, and of its signals.

Everything that learns something about a Stripe subscription comes here:
``customer.subscription.*`` events and API answers (``mirror_subscription``),
and the partial facts other events carry (``record_status``: a failed renewal
invoice means past due, a paid checkout means active, reconciliation ends a
subscription whose period is over). The ordering rule is in
``fiko_billing.services.ordering``: per group of fields, newer seconds win and
a same-second tie ends where Stripe's ``previous_attributes`` lead, or, when
they cannot tell, where one retrieve of the subscription says.

Lock order, on every path: the subscriber's ledger lock, then the
subscription row, then payments. Callers run inside a transaction.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

from fiko_billing import signals
from fiko_billing import stripe_shapes as shapes
from fiko_billing.models import (
    ENTITLED_STATUSES,
    TERMINAL_STATUSES,
    Payment,
    Subscription,
)
from fiko_billing.services import ordering
from fiko_billing.services.stripe_data import ts
from fiko_billing.services.subscription_groups import GROUPS, group_columns, merged, stamp
from fiko_billing.services.subscription_lock import locked_row as lock_subscription_row
from fiko_billing.subscribers import Subscriber, as_foreign_key

logger = logging.getLogger("fiko_billing.subscriptions")

#: Columns whose changes are announced with ``subscription_updated``.
MIRRORED_FIELDS = (
    "status",
    "product_id",
    "price_id",
    "quantity",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "cancel_at",
    "canceled_at",
    "ended_at",
    "trial_end",
    "customer_id",
    "livemode",
)


def mirror_subscription(
    data: shapes.Subscription,
    *,
    state_at: datetime | None,
    previous: Mapping[str, Any] | None = None,
    role: str = "event",
    subscriber: Subscriber | None = None,
    retrieve: Callable[[str], shapes.Subscription] | None = None,
) -> Subscription | None:
    """Bring the local row of a Stripe subscription up to ``data``.

    ``state_at`` is when Stripe produced ``data`` (an event's ``created``, or
    the second an API answer was read); ``previous`` is the event's
    ``data.previous_attributes``. ``role`` says what ``data`` is: ``"event"``,
    ``"first"`` (``customer.subscription.created``) or ``"anchor"`` (an API
    answer). A same-second tie that the payloads cannot decide is settled by
    ``retrieve`` (the gateway's, by default): one call, for that tie only.

    Returns the row, or ``None`` when the subscription belongs to no known
    subscriber. Must run inside a transaction.
    """
    stripe_id = str(data["id"])
    row, subscriber, customer = lock_subscription_row(stripe_id, data, subscriber)
    if row is None and subscriber is None:
        logger.warning("subscription %s belongs to no known subscriber; skipped", stripe_id)
        return None
    at = stamp(state_at)
    old = cast(shapes.Subscription, merged(data, previous)) if previous else None
    states = copy.deepcopy(row.ordering_state) if row is not None else {}
    for group, read in GROUPS.items():
        before = read(old) if old is not None else ordering.MISSING
        updated = _observe(states.get(group), at, read(data), before, role, group)
        if updated is not None:
            states[group] = updated
    if any(ordering.resolve(states[g]) is ordering.AMBIGUOUS for g in states):
        states = _settle(stripe_id, states, at, retrieve)
    other: dict[str, Any] = {
        "trial_end": ts(data.get("trial_end")),
        "ended_at": ts(data.get("ended_at")),
        "livemode": bool(data.get("livemode", False)),
        "stripe_created": ts(data.get("created")),
    }
    if customer is not None:
        other["customer_id"] = customer.pk
    stored_at = stamp(row.stripe_state_at) if row is not None else None
    newest = at is not None and (stored_at is None or at >= stored_at)
    return _write(row, subscriber, stripe_id, states, other=other, newest=newest, at=state_at)


def _observe(
    state: ordering.GroupState | None,
    at: int | None,
    value: Any,
    before: Any,
    role: str,
    group: str,
) -> ordering.GroupState | None:
    if group == "status" and state and state.get("settled") in TERMINAL_STATUSES:
        return None  # Stripe never revives an ended subscription
    if group == "status" and value in TERMINAL_STATUSES:
        return {"at": at or (state or {}).get("at") or 0, "settled": value}
    if at is None:
        # No Stripe time (fulfilment before any event): fill in, never override.
        return None if state else {"at": 0, "hint": value}
    return ordering.observe(state, at, value=value, before=before, role=role)


def _settle(
    stripe_id: str,
    states: dict[str, ordering.GroupState],
    at: int | None,
    retrieve: Callable[[str], shapes.Subscription] | None,
) -> dict[str, ordering.GroupState]:
    """One retrieve settles the groups whose last second the payloads cannot order."""
    if retrieve is None:
        from fiko_billing.gateway import get_gateway

        retrieve = get_gateway().retrieve_subscription
    answer = retrieve(stripe_id)
    logger.info("subscription %s: same-second events settled by one retrieve", stripe_id)
    settled = dict(states)
    for group, state in states.items():
        if ordering.resolve(state) is ordering.AMBIGUOUS:
            value = GROUPS[group](answer)
            settled[group] = {"at": state["at"], "settled": value}
    return settled


def record_status(
    stripe_id: str,
    *,
    status: str,
    before: str | None,
    at: datetime | None,
    subscriber: Subscriber | None = None,
    create: Callable[[], dict[str, Any]] | None = None,
    ended_at: datetime | None = None,
    reason: str | None = None,
    lock_held: bool = False,
    locked_row: Subscription | None = None,
) -> Subscription | None:
    """A status learnt from another object than the subscription (a partial update).

    ``before`` → ``status`` at ``at`` joins what is known of that second; only
    the status changes, so newer plan, period or cancellation state is kept.
    Without a row nothing is written unless ``create`` gives the columns of a
    new one (fulfilment of a paid checkout whose subscription is not known yet).
    ``lock_held``: the caller holds ``subscriber``'s ledger lock already;
    ``locked_row``: and the row, locked and read whole with its subscriber
    (batch jobs, which lock many at once).
    """
    row: Subscription | None = locked_row
    if row is not None:
        subscriber = row.subscriber
    else:
        row, subscriber, _customer = lock_subscription_row(
            stripe_id, None, subscriber, held=lock_held
        )
    if row is None and (create is None or subscriber is None):
        return None
    states = copy.deepcopy(row.ordering_state) if row is not None else {}
    updated = _observe(
        states.get("status"),
        stamp(at),
        status,
        before if before is not None else ordering.MISSING,
        "event",
        "status",
    )
    if updated is not None:
        states["status"] = updated
    if ordering.resolve(states.get("status")) is ordering.AMBIGUOUS:
        states = _settle(stripe_id, states, stamp(at), None)
    initial = create() if row is None and create is not None else {}
    if ended_at is not None:
        initial["ended_at"] = ended_at
    return _write(
        row, subscriber, stripe_id, states, other=initial, newest=False, at=at, reason=reason
    )


def _write(
    row: Subscription | None,
    subscriber: Subscriber | None,
    stripe_id: str,
    states: dict[str, ordering.GroupState],
    *,
    other: dict[str, Any],
    newest: bool,
    at: datetime | None,
    reason: str | None = None,
) -> Subscription | None:
    desired = _state_columns(row, states)
    desired.update(_other_columns(row, other, newest=newest))
    stamps = [s["at"] for s in states.values() if s.get("at")]
    newest_at = ts(max(stamps)) if stamps else None
    if row is None:
        assert subscriber is not None  # noqa: S101 - both callers return before, without one
        return _create(subscriber, stripe_id, states, newest_at, desired, reason=reason)
    _update(row, states, newest_at, desired, reason=reason)
    return row


def _state_columns(
    row: Subscription | None, states: dict[str, ordering.GroupState]
) -> dict[str, Any]:
    desired: dict[str, Any] = {}
    known = row.ordering_state if row is not None else {}
    for group, state in states.items():
        value = ordering.resolve(state)
        if value is ordering.MISSING or value is ordering.AMBIGUOUS:
            continue
        if row is not None and group in known and ordering.resolve(known[group]) == value:
            continue  # unchanged: spare the catalogue lookup
        desired.update(group_columns(group, value))
    return desired


def _other_columns(
    row: Subscription | None, other: dict[str, Any], *, newest: bool
) -> dict[str, Any]:
    desired: dict[str, Any] = {}
    for name, value in other.items():
        if name == "ended_at":
            current = row.ended_at if row is not None else None
            if value is not None and (current is None or value > current):
                desired[name] = value
        elif name in ("trial_end",):
            if newest or row is None:
                desired[name] = value
        elif value is not None or row is None:
            desired[name] = value
    return desired


def _create(
    subscriber: Subscriber,
    stripe_id: str,
    states: dict[str, ordering.GroupState],
    newest_at: datetime | None,
    desired: dict[str, Any],
    *,
    reason: str | None,
) -> Subscription:
    # Every writer holds the subscriber's ledger lock: no concurrent create.
    row = Subscription.objects.create(
        subscriber=as_foreign_key(subscriber),
        stripe_subscription_id=stripe_id,
        ordering_state=states,
        stripe_state_at=newest_at,
        **desired,
    )
    Payment.objects.filter(stripe_subscription_id=stripe_id, subscription__isnull=True).update(
        subscription=row
    )
    _announce(row, before=None, changed=set(desired), reason=reason)
    return row


def _update(
    row: Subscription,
    states: dict[str, ordering.GroupState],
    newest_at: datetime | None,
    desired: dict[str, Any],
    *,
    reason: str | None,
) -> None:
    before = {name: getattr(row, name) for name in MIRRORED_FIELDS}
    changed = {name for name, value in desired.items() if name in before and before[name] != value}
    fields = []
    for name, value in desired.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            fields.append(name)
    if row.ordering_state != states:
        row.ordering_state = states
        fields.append("ordering_state")
    if newest_at is not None and row.stripe_state_at != newest_at:
        row.stripe_state_at = newest_at
        fields.append("stripe_state_at")
    if fields:
        row.save(update_fields=[*fields, "modified"])
    if changed:
        _announce(row, before=before, changed=changed, reason=reason)


def _announce(
    row: Subscription,
    *,
    before: dict[str, Any] | None,
    changed: set[str],
    reason: str | None = None,
) -> None:
    was_entitled = before is not None and before["status"] in ENTITLED_STATUSES
    subscriber = row.subscriber
    if row.is_entitled and not was_entitled:
        signals.send_on_commit(
            signals.subscription_activated, Subscription, subscriber=subscriber, subscription=row
        )
        _became_entitled(row)
    elif was_entitled and not row.is_entitled:
        signals.send_on_commit(
            signals.subscription_deactivated,
            Subscription,
            subscriber=subscriber,
            subscription=row,
            reason=reason or row.status,
        )
    if row.cancel_at_period_end and (before is None or not before["cancel_at_period_end"]):
        signals.send_on_commit(
            signals.subscription_cancellation_scheduled,
            Subscription,
            subscriber=subscriber,
            subscription=row,
            cancel_at=row.cancel_at or row.current_period_end,
        )
    if before is not None:
        signals.send_on_commit(
            signals.subscription_updated,
            Subscription,
            subscriber=subscriber,
            subscription=row,
            changed=changed,
        )
    logger.info(
        "subscription %s of subscriber %s: %s (%s)",
        row.stripe_subscription_id,
        row.subscriber_id,
        row.status,
        ", ".join(sorted(changed)),
    )


def _became_entitled(row: Subscription) -> None:
    if row.subscriber_id is None or row.product_id is None:
        return  # only plan subscriptions are one per subscriber; the check tells them apart
    from fiko_billing.services.duplicates import enforce_single_subscription

    enforce_single_subscription(row)
