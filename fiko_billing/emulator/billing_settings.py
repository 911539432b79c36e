"""The account's billing settings the emulator follows, with Stripe's defaults.

Stripe leaves a renewal invoice a draft for about an hour after
``invoice.created`` before it finalizes and charges it (the first invoice of
a subscription is charged at once). A failed automatic payment is retried by
Smart Retries, by default up to 8 attempts within 2 weeks; when they are
used up the subscription ends in the state the account chose: canceled (the
default for new accounts), unpaid, or left past due.
"""

from __future__ import annotations

from dataclasses import dataclass

from fiko_billing.emulator.clock import DAY

#: What happens to a subscription whose retries are used up.
CANCELED = "canceled"
UNPAID = "unpaid"
PAST_DUE = "past_due"
AFTER_RETRIES = (CANCELED, UNPAID, PAST_DUE)

#: Days after the first failed attempt at which Smart Retries try again: 7 retries,
#: 8 attempts in all, the last two weeks after the first.
SMART_RETRIES = (1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 14.0)

#: Seconds a renewal invoice stays a draft after ``invoice.created``.
RENEWAL_DRAFT_SECONDS = 3600


@dataclass
class BillingSettings:
    invoice_finalize_delay: int = RENEWAL_DRAFT_SECONDS
    payment_retries: tuple[float, ...] = SMART_RETRIES
    after_retries: str = CANCELED

    def __post_init__(self) -> None:
        if self.invoice_finalize_delay < 0:
            raise ValueError("invoice_finalize_delay cannot be negative")
        retries = tuple(float(d) for d in self.payment_retries)
        if any(d <= 0 for d in retries) or list(retries) != sorted(set(retries)):
            raise ValueError("payment_retries are days after the first failure, increasing")
        self.payment_retries = retries
        if self.after_retries not in AFTER_RETRIES:
            raise ValueError(f"after_retries must be one of {', '.join(AFTER_RETRIES)}")

    @property
    def max_attempts(self) -> int:
        return len(self.payment_retries) + 1

    def next_attempt(self, first_failure: int, attempts: int) -> int | None:
        """When to try again after ``attempts`` failed attempts, or None when used up."""
        if attempts > len(self.payment_retries):
            return None
        return first_failure + int(self.payment_retries[attempts - 1] * DAY)
