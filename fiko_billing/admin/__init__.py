"""The Django admin of fiko_billing.

The catalogue (plans, token packages, prices) is edited here and pushed to
Stripe by ``sync_stripe_products``. What Stripe owns (customers,
subscriptions, payments, webhook events) is shown read-only: Stripe is the
source of truth and webhooks keep those rows current. The token ledger is
never edited in place; a balance changes here only through the "Adjust
tokens" action, which writes adjustment entries through ``fiko_billing.tokens``.

Importing this package registers every model admin with the default site.
"""

from fiko_billing.admin.catalogue import (
    CatalogueItemAdmin,
    PackagePriceInline,
    PlanAdmin,
    PlanPriceInline,
    PriceAdmin,
    PriceInline,
    TokenPackageAdmin,
)
from fiko_billing.admin.common import (
    ACCOUNT_SUBSCRIBER_SEARCH,
    SUBSCRIBER_SEARCH,
    LedgerAdmin,
    MirroredAdmin,
    subscriber_search_fields,
)
from fiko_billing.admin.ledger import (
    MAX_ADJUSTED_ACCOUNTS,
    AccountRowAdmin,
    AdjustmentOutcome,
    AdjustmentResubmitted,
    AllocationInline,
    BalanceFilter,
    TokenAccountAdmin,
    TokenEntryAdmin,
    TokenReservationAdmin,
)
from fiko_billing.admin.mirrored import (
    CustomerAdmin,
    PaymentAdmin,
    RejectedEventAdmin,
    SubscriptionAdmin,
    WebhookEventAdmin,
)

__all__ = [
    "ACCOUNT_SUBSCRIBER_SEARCH",
    "MAX_ADJUSTED_ACCOUNTS",
    "SUBSCRIBER_SEARCH",
    "AccountRowAdmin",
    "AdjustmentOutcome",
    "AdjustmentResubmitted",
    "AllocationInline",
    "BalanceFilter",
    "CatalogueItemAdmin",
    "CustomerAdmin",
    "LedgerAdmin",
    "MirroredAdmin",
    "PackagePriceInline",
    "PaymentAdmin",
    "PlanAdmin",
    "PlanPriceInline",
    "PriceAdmin",
    "PriceInline",
    "RejectedEventAdmin",
    "SubscriptionAdmin",
    "TokenAccountAdmin",
    "TokenEntryAdmin",
    "TokenPackageAdmin",
    "TokenReservationAdmin",
    "WebhookEventAdmin",
    "subscriber_search_fields",
]
