"""System checks: ``manage.py check`` reports a broken billing configuration.

Every id below keeps its meaning for good. An id that is no longer raised
stays listed here, marked reserved, and is never given to another check.

fiko_billing.E001  ENABLED, but STRIPE_SECRET_KEY is empty.
fiko_billing.E002  ENABLED, but STRIPE_WEBHOOK_SECRET is empty.
fiko_billing.E003  A live-mode key (sk_live_, rk_live_, pk_live_) while TEST_MODE is on.
fiko_billing.E004  A test-mode key (sk_test_, rk_test_, pk_test_) while TEST_MODE is off.
fiko_billing.E005  A publishable key (pk_) in STRIPE_SECRET_KEY.
fiko_billing.E006  A secret or restricted key (sk_, rk_) in STRIPE_PUBLISHABLE_KEY.
fiko_billing.E007  CURRENCY is not an ISO 4217 code that Stripe supports.
fiko_billing.E008  SUCCESS_URL, CANCEL_URL or PORTAL_RETURN_URL is not https while
                   TEST_MODE is off (one error per URL).
fiko_billing.E009  A webhook secret that does not start with whsec_.
fiko_billing.E010  A setting that cannot be read: wrong type, value out of range,
                   unimportable path, unknown key, FIKO_BILLING not a dict.
fiko_billing.E011  FIKO_BILLING_SUBSCRIBER_MODEL is malformed or names a model that
                   is not installed.
fiko_billing.E012  FIKO_BILLING_SUBSCRIBER_MODEL is not the user model, but
                   SUBSCRIBER_RESOLVER is the default (which returns the user).
fiko_billing.W001  STRIPE_API_VERSION differs from the API version the installed
                   stripe SDK pins.

With ENABLED off no request reaches Stripe, so E001 to E004 are not raised.
The others still are: a value that is wrong now is wrong on the day billing
is switched on.
"""

from __future__ import annotations

# Importing the modules registers their checks.
from fiko_billing.checks import configuration, credentials, snapshot
from fiko_billing.checks.snapshot import TAG

__all__ = ["TAG", "configuration", "credentials", "snapshot"]
