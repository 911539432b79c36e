"""Debits draw from the right credits however many live credits an account holds.

A consume or a reserve reads only the first live credits in drawing order,
as many as the amount (each live credit holds at least one token). These
properties compare every credit's ``remaining`` after a debit with a plain
model of the drawing order, earliest expiry first, never-expiring last, the
older credit first on a tie, on accounts with more live credits than the
amount, created in random order and partly drawn already.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fiko_billing import tokens
from fiko_billing.models import TokenEntry
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)

# A credit: its tokens and its expiry in days (None: never expires).
credit_specs = st.lists(
    st.tuples(st.integers(1, 4), st.one_of(st.none(), st.integers(1, 6))),
    min_size=1,
    max_size=25,
)


def model_draw(credits: list[list], amount: int) -> None:
    """Take ``amount`` from ``credits`` ([pk, remaining, expiry]) in drawing order."""
    order = sorted(credits, key=lambda c: (c[2] is None, c[2] or 0, c[0]))
    for credit in order:
        part = min(credit[1], amount)
        credit[1] -= part
        amount -= part


def ledger_after(specs: list[tuple[int, int | None]], debits: list[int], how: str) -> None:
    subscriber = SubscriberFactory()
    credits = []
    for number, (size, days) in enumerate(specs):
        expiry = None if days is None else NOW + timedelta(days=days)
        entry = tokens.credit(
            subscriber, size, kind="grant", reference=f"in_{number}", expires_at=expiry
        )
        credits.append([entry.pk, size, days])
    for amount in debits:
        if amount > sum(c[1] for c in credits):
            continue
        if how == "consume":
            tokens.consume(subscriber, amount)
        else:
            tokens.reserve(subscriber, amount)
        model_draw(credits, amount)
    stored = dict(
        TokenEntry.objects.filter(pk__in=[c[0] for c in credits]).values_list("pk", "remaining")
    )
    assert stored == {pk: left for pk, left, _ in credits}


@pytest.mark.parametrize("how", ["consume", "reserve"])
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=credit_specs, debits=st.lists(st.integers(1, 12), min_size=1, max_size=4))
def test_a_debit_draws_earliest_expiry_first_from_many_credits(how, specs, debits):
    with time_machine.travel(NOW, tick=False):
        ledger_after(specs, debits, how)


@pytest.mark.parametrize("how", ["consume", "reserve"])
def test_the_credit_that_expires_first_is_drawn_even_when_it_is_the_newest(how):
    # Thirty never-expiring credits come first by pk; the amount is smaller
    # than their number, so a read of the first credits by pk alone would miss
    # the one that must go first.
    specs: list[tuple[int, int | None]] = [(1, None)] * 30 + [(2, 3), (2, 1)]
    with time_machine.travel(NOW, tick=False):
        ledger_after(specs, [3], how)
