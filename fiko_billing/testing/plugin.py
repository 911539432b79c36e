"""The pytest plugin of fiko-billing, registered as the ``fiko_billing`` ``pytest11`` entry point.

Installed with ``pip install "fiko-billing[testing]"``, it offers its
fixtures to every test of the project without a line in ``conftest.py``;
a test that asks for none of them is untouched (the plugin defines
fixtures only, and imports nothing of Django until one is used).
``pytest -p no:fiko_billing`` turns it off.

The fixtures (see the testing section of the documentation):

- ``stripe_emulator``, ``billing_live_server``, ``stripe_conformance``:
  the Stripe emulator, alone or delivering to ``live_server``;
- ``billing_plan``, ``billing_token_package``: a catalogue with a price each;
- ``billing_subscriber``, ``subscribed_subscriber``, ``paid_purchase``: a
  subscriber, one with an active plan, a paid token package;
- ``post_event``: signs a Stripe event and posts it to the webhook view.
"""

from __future__ import annotations

from fiko_billing.testing.billing_fixtures import (
    billing_plan,
    billing_subscriber,
    billing_token_package,
    paid_purchase,
    post_event,
    subscribed_subscriber,
)
from fiko_billing.testing.fixtures import billing_live_server, stripe_conformance, stripe_emulator

__all__ = [
    "billing_live_server",
    "billing_plan",
    "billing_subscriber",
    "billing_token_package",
    "paid_purchase",
    "post_event",
    "stripe_conformance",
    "stripe_emulator",
    "subscribed_subscriber",
]
