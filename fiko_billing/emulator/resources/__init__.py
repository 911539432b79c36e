"""The ``/v1`` endpoints, one module per resource family."""

from __future__ import annotations

from fiko_billing.emulator.routing import Route

from . import (
    catalogue,
    checkout,
    customers,
    discounts,
    disputes,
    events,
    intents,
    invoices,
    payments,
    portal,
    subscriptions,
    webhook_endpoints,
)

ROUTES: list[Route] = [
    route
    for module in (
        customers,
        catalogue,
        discounts,
        checkout,
        portal,
        subscriptions,
        invoices,
        intents,
        payments,
        disputes,
        events,
        webhook_endpoints,
    )
    for route in module.routes
]
