"""Signals sent by fiko_billing.

Every signal is sent after the database transaction that caused it commits
(``transaction.on_commit``), so a receiver never sees state that is later
rolled back, and a receiver's failure cannot undo billing state. Receivers
get ``sender`` (the model class concerned) and the keyword arguments listed
with each signal; accept ``**kwargs`` so new arguments do not break you.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal

from fiko_billing.subscribers import ensure_subscriber

#: Tokens were added to a subscriber's balance.
#: Arguments: ``subscriber``, ``entry`` (the ``TokenEntry``), ``amount`` (int, > 0),
#: ``balance`` (int, the stored balance after the credit).
tokens_credited = Signal()

#: Tokens were taken from a subscriber's balance (spent, reserved, expired,
#: refunded or adjusted down).
#: Arguments: ``subscriber``, ``entry`` (the ``TokenEntry``), ``amount`` (int, > 0),
#: ``balance`` (int, the stored balance after the debit).
tokens_debited = Signal()

#: A subscription started granting its benefits: its first payment, or a return
#: from a status without them (unpaid, paused, incomplete). ``past_due`` keeps
#: the benefits during Stripe's retries, so recovering from it is an update.
#: Arguments: ``subscriber``, ``subscription``.
subscription_activated = Signal()

#: A mirrored subscription changed (status, plan, period or cancellation).
#: Arguments: ``subscriber``, ``subscription``, ``changed`` (set of field names).
subscription_updated = Signal()

#: A subscription was set to cancel at the end of its period.
#: Arguments: ``subscriber``, ``subscription``, ``cancel_at`` (datetime).
subscription_cancellation_scheduled = Signal()

#: A subscription ended (canceled, expired or deactivated by reconciliation).
#: Arguments: ``subscriber``, ``subscription``, ``reason`` (str).
subscription_deactivated = Signal()

#: A payment succeeded. Arguments: ``subscriber``, ``payment``.
payment_succeeded = Signal()

#: A payment failed. Arguments: ``subscriber``, ``payment`` (a ``Payment``, or ``None``
#: when the failed invoice has no payment row of ours), ``reason`` (str).
payment_failed = Signal()

#: A payment needs the customer's action (3D Secure).
#: Arguments: ``subscriber``, ``payment`` (a ``Payment`` or ``None``),
#: ``hosted_invoice_url`` (str or None).
payment_action_required = Signal()

#: A customer disputed a payment (a chargeback was opened).
#: Arguments: ``subscriber``, ``payment``, ``dispute_id`` (str), ``reason`` (str or None).
payment_disputed = Signal()

#: A payment was refunded, in full or in part (a refund was recorded or changed).
#: Arguments: ``subscriber``, ``payment``, ``refund_id`` (str), ``amount`` (int, minor units).
payment_refunded = Signal()

#: A dispute of a payment was closed. Arguments: ``subscriber``, ``payment``,
#: ``dispute_id`` (str), ``status`` (str: ``"won"``, ``"lost"``, ``"warning_closed"``...).
payment_dispute_closed = Signal()

#: A second paid plan subscription was canceled at once and its first payment refunded
#: (``ALLOW_MULTIPLE_SUBSCRIPTIONS`` is off). Arguments: ``subscriber``,
#: ``subscription`` (the canceled one), ``kept`` (the subscription kept),
#: ``refund_id`` (str, or None when nothing was paid).
subscription_duplicate_canceled = Signal()

#: A stored webhook event finished processing (whatever the outcome).
#: Arguments: ``event`` (the ``WebhookEvent``), ``outcome`` (str).
webhook_event_processed = Signal()


def send_on_commit(signal: Signal, sender: object, **kwargs: Any) -> None:
    """Send ``signal`` once the current transaction commits (at once outside one).

    A ``subscriber`` argument is checked now, inside the transaction: a
    receiver is never handed anything but an instance of the subscriber model.
    Rows whose subscriber was erased (``subscriber`` is ``None``) have nobody
    to tell, so nothing is sent for them.
    """
    if "subscriber" in kwargs:
        if kwargs["subscriber"] is None:
            return
        ensure_subscriber(kwargs["subscriber"])
    transaction.on_commit(lambda: signal.send(sender=sender, **kwargs))
