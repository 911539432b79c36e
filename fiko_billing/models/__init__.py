from fiko_billing.models.catalogue import Interval, Plan, Price, TokenPackage
from fiko_billing.models.customers import Customer
from fiko_billing.models.events import EventStatus, WebhookEvent
from fiko_billing.models.ledger import (
    CREDIT_KINDS,
    EntryKind,
    ReservationStatus,
    TokenAccount,
    TokenAllocation,
    TokenEntry,
    TokenReservation,
)
from fiko_billing.models.payments import Payment, PaymentKind, PaymentStatus
from fiko_billing.models.rejections import RejectedEvent
from fiko_billing.models.subscriptions import (
    ENTITLED_STATUSES,
    TERMINAL_STATUSES,
    Subscription,
    SubscriptionStatus,
)

__all__ = [
    "CREDIT_KINDS",
    "ENTITLED_STATUSES",
    "TERMINAL_STATUSES",
    "Customer",
    "EntryKind",
    "EventStatus",
    "Interval",
    "Payment",
    "PaymentKind",
    "PaymentStatus",
    "Plan",
    "Price",
    "RejectedEvent",
    "ReservationStatus",
    "Subscription",
    "SubscriptionStatus",
    "TokenAccount",
    "TokenAllocation",
    "TokenEntry",
    "TokenPackage",
    "TokenReservation",
    "WebhookEvent",
]
