"""A stateful local Stripe for development and tests (standard library only).

Run it with ``python -m fiko_billing.emulator --port 12111`` and point the
SDK's API base at it, or in tests::

    from fiko_billing.emulator import Emulator

    with Emulator(webhook_url="http://127.0.0.1:8000/billing/stripe/webhook/",
                  webhook_secret="whsec_test") as emulator:
        client = stripe.StripeClient("sk_test_emulator", base_addresses={"api": emulator.url})
        ...
        emulator.advance(days=31)   # renewals, retries, expiries fall due
        emulator.flush()            # wait until every webhook is delivered

What it covers, in the shapes of API version ``2026-10-28.endive``:

- The wire protocol: Bearer keys (only those it was started with,
  ``sk_test_emulator`` and ``rk_test_emulator`` by default; any other gets
  Stripe's 401), nested form bodies, ``expand[]``, ``Idempotency-Key`` replay (byte for byte, with
  ``Idempotent-Replayed: true``) and mismatch errors, cursor pagination,
  Stripe's error JSON and statuses, ``Request-Id``; unknown and removed
  parameters are rejected with ``parameter_unknown``.
- Customers, products, prices (lookup keys), coupons, promotion codes,
  Checkout Sessions, Customer Portal sessions, subscriptions (cancel at
  period end, resume, price switch with prorations, immediate cancel),
  invoices (lines in Stripe's order; ``payments`` and ``confirmation_secret``
  only when expanded, never in webhooks) and invoice payments (listed by
  invoice or by payment intent, ``invoice_payment.paid`` whenever one is
  paid), payment intents (test tokens such as ``pm_card_visa``, 402 card
  errors; unknown currencies and amounts below the currency's minimum charge
  refused as Stripe refuses them), charges, refunds, payment methods, events and webhook endpoints.
- Hosted Checkout, 3D Secure challenge, Customer Portal and invoice pages
  (plain HTML forms) driven by Stripe's test cards: 4242 4242 4242 4242
  succeeds, 4000 0025 0000 3155 asks for 3D Secure, 4000 0027 6000 3184 asks
  for it on every payment (renewals too: the customer authenticates on the
  hosted invoice page), 4000 0000 0000 9995 is declined for insufficient
  funds, 4000 0000 0000 0341 pays at Checkout and fails every later
  off-session charge, 4000 0000 0000 0259 is disputed as soon as it is paid.
  An open invoice can be paid on its hosted page.
- Disputes on any charge (``Emulator.open_dispute``/``close_dispute``,
  ``POST /_emulator/disputes`` and ``/_emulator/disputes/{id}/close``, or
  ``/v1/disputes`` evidence with Stripe's ``winning_evidence`` and
  ``losing_evidence``): ``charge.dispute.created``, ``funds_withdrawn``,
  ``updated``, ``closed`` and ``funds_reinstated`` when won. Refunds of any
  charge not charged back, with ``refund.updated`` and
  ``charge.refund.updated``; ``charge.updated`` when a charge's balance
  transaction is attached.
- A clock that only moves forward (``POST /_emulator/clock/advance`` with
  ``seconds``/``hours``/``days``): renewals (the invoice charged an hour after
  ``invoice.created``, as at Stripe), failed renewals retried as Smart Retries
  do by default (8 attempts within 2 weeks, then the subscription is
  canceled, or left unpaid or past due: ``after_retries``), scheduled
  cancellations and session expiry happen at their due times.
- Events for every state change, in the order Stripe documents for each flow,
  delivered to a webhook URL and to API-created endpoints (one created for
  the webhook URL itself replaces the forwarding: one delivery per event,
  signed with both secrets), signed as Stripe signs, retried with back-off.
  ``GET /_emulator/deliveries`` lists them;
  ``POST /_emulator/faults`` drops, duplicates, delays or reorders the next
  ones; ``POST /_emulator/deliveries/pause|resume|flush`` and
  ``POST /_emulator/reset`` complete the control surface.
- State kept in memory, optionally saved to a JSON file on every change and
  loaded at start (webhook deliveries in flight are not saved).

What it does not do: no real card network or money, no Radar or fraud rules,
no taxes, no e-mails or receipts, no Connect, no trials, no usage-based,
tiered or multi-currency prices, no SetupIntents or client-side confirmation
(Stripe.js), no test clock objects (the whole emulator is one clock), no
dispute inquiries, no failed refunds. Payment-mode Checkout creates a
customer only with ``customer_creation=always``, as Stripe does. Prorations
are linear to the second; Smart Retries follow a fixed schedule; events of one
step share its second and come in creation order. One portal configuration
is built in: cancel at period end, plan switches prorated with
``create_prorations``, card updates. ``docs/local_development.md`` keeps the
full list of differences.
"""

from __future__ import annotations

from fiko_billing.api_version import PINNED_API_VERSION
from fiko_billing.emulator.emulator import Emulator

__all__ = ["PINNED_API_VERSION", "Emulator"]
