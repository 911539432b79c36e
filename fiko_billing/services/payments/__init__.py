"""The one place that records payments, refunds and disputes, and what they do to tokens.

Stripe tells us about one payment through several objects that arrive in any
order: the invoice (``invoice.paid``), the PaymentIntent that paid it
(``invoice_payment.paid``; a webhook invoice never names it), its charge
(``charge.*``), and later refunds (``refund.*``) and disputes
(``charge.dispute.*``), which name only the PaymentIntent and the charge.
Each is recorded as it comes; refunds and disputes of a payment we have not
recorded yet (or whose tokens are not credited yet) wait for it
(``fiko_billing.services.waiting``).

Rules (see the "Money rules" page of the docs):

* a refund takes back its share of the payment's tokens (tokens times refunded /
  amount; when the payment is refunded in full, all of them), from what is
  still there of the credit the payment bought; expired tokens are not taken
  again; spent ones are taken as a debt, or forgiven with
  ``REFUND_SPENT_TOKENS = "forgive"``. A refund that fails gives them back;
* a dispute holds its share of the tokens the same way as soon as it is
  opened; a lost dispute keeps them taken, a won one gives them back;
* the payment's status follows: disputed while a dispute is open, dispute
  lost, refunded or partially refunded, else succeeded; a refund never hides
  a dispute.

Lock order: the subscriber's ledger lock, then the payment row.
"""

from fiko_billing.services.payments.claims import record_dispute, record_refund
from fiko_billing.services.payments.common import (
    Claims,
    credit_reference,
    is_paid,
    link_ids,
    refresh,
    wake_keys,
)
from fiko_billing.services.payments.invoices import (
    InvoiceOutcome,
    record_charge,
    record_invoice,
    record_invoice_payment,
)

__all__ = [
    "Claims",
    "InvoiceOutcome",
    "credit_reference",
    "is_paid",
    "link_ids",
    "record_charge",
    "record_dispute",
    "record_invoice",
    "record_invoice_payment",
    "record_refund",
    "refresh",
    "wake_keys",
]
