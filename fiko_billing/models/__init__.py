from fiko_billing.models.catalogue import Interval, Plan, Price, Product, TokenPackage
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
from fiko_billing.models.payments import (
    Charge,
    Dispute,
    InvoicePayment,
    Payment,
    PaymentKind,
    PaymentStatus,
    Refund,
)
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
    "Charge",
    "Customer",
    "Dispute",
    "EntryKind",
    "EventStatus",
    "Interval",
    "InvoicePayment",
    "Payment",
    "PaymentKind",
    "PaymentStatus",
    "Plan",
    "Price",
    "Product",
    "Refund",
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
