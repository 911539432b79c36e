"""The ledger against a model of it, under random sequences of operations (Hypothesis).

A state machine draws credits, spends, reservations (settled, released or
left to expire), refunds that may leave a debt, the clock moving on and
``expire_due``, with amounts and references Hypothesis chooses, including
hostile ones. After every step the ledger must agree with a plain model:
the stored balance, what ``balance()`` reports, which operations may fail
(``InsufficientTokens`` exactly when the model says the tokens are not
there), and the ledger's own invariants (the balance is the sum of the
entries; while it is not negative, what is left of the credits adds up to
it; no reference is used twice).

The fast version runs in every suite; ``--heavy`` runs many more sequences on
PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db.models import Count, Sum
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from fiko_billing import tokens
from fiko_billing.exceptions import (
    InsufficientTokens,
    ReferenceConflict,
    ReservationClosed,
    ReservationExpired,
)
from fiko_billing.models import TokenAccount, TokenEntry
from tests.factories import SubscriberFactory

START = datetime(2031, 5, 1, tzinfo=UTC)
amounts = st.integers(min_value=1, max_value=5_000)
hostile_amounts = st.one_of(
    st.integers(max_value=0),
    st.integers(min_value=tokens.MAX_AMOUNT + 1),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=5),
    st.none(),
)
hostile_texts = st.one_of(
    st.text(min_size=256, max_size=300),
    st.text(max_size=20).map(lambda t: t + "\x00"),
    st.just("\ud800"),
    st.binary(max_size=10),
    st.integers(),
)


@dataclass
class Hold:
    reservation: tokens.Reservation
    amount: int
    expires_at: datetime


class LedgerMachine(RuleBasedStateMachine):
    holds = Bundle("holds")

    def __init__(self) -> None:
        super().__init__()
        self.clock = time_machine.travel(START, tick=False)
        self.traveller = self.clock.start()
        self.now = START
        self.subscriber = SubscriberFactory()
        self.stored = 0  # what the model says the stored balance is
        self.open: dict[int, Hold] = {}
        self.serial = 0

    def teardown(self) -> None:
        self.clock.stop()

    def reference(self) -> str:
        self.serial += 1
        return f"ref-{self.serial}"

    def sweep(self) -> tuple[int, dict[int, Hold]]:
        """What every ledger write does first: give back the holds past their expiry.

        Returns the state before, for an operation that fails: it rolls back
        with everything it wrote, the sweep included.
        """
        before = (self.stored, dict(self.open))
        for pk, hold in list(self.open.items()):
            if hold.expires_at <= self.now:
                self.stored += hold.amount
                del self.open[pk]
        return before

    @initialize()
    def start(self) -> None:
        self.sweep()

    @rule(amount=amounts)
    def credit(self, amount: int) -> None:
        self.sweep()
        tokens.credit(self.subscriber, amount, kind="purchase", reference=self.reference())
        self.stored += amount

    @rule(amount=amounts)
    def consume(self, amount: int) -> None:
        before = self.sweep()
        if amount > self.stored:
            try:
                tokens.consume(self.subscriber, amount)
            except InsufficientTokens:
                self.stored, self.open = before
                return
            raise AssertionError("consume spent tokens the model says are not there")
        tokens.consume(self.subscriber, amount)
        self.stored -= amount

    @rule(amount=amounts)
    def revoke(self, amount: int) -> None:
        self.sweep()
        tokens.revoke(self.subscriber, amount, reference=self.reference())
        self.stored -= amount

    @rule(target=holds, amount=amounts, minutes=st.integers(min_value=1, max_value=120))
    def reserve(self, amount: int, minutes: int) -> Any:
        before = self.sweep()
        if amount > self.stored:
            try:
                tokens.reserve(self.subscriber, amount, expires_in=minutes * 60)
            except InsufficientTokens:
                self.stored, self.open = before
                return None
            raise AssertionError("reserve held tokens the model says are not there")
        held = tokens.reserve(
            self.subscriber, amount, reference=self.reference(), expires_in=minutes * 60
        )
        self.stored -= amount
        hold = Hold(held, amount, self.now + timedelta(minutes=minutes))
        self.open[held.pk] = hold
        return hold

    @rule(hold=consumes(holds), share=st.floats(min_value=0, max_value=2))
    def settle(self, hold: Hold | None, share: float) -> None:
        if hold is None:
            return
        actual = int(hold.amount * share)
        self.sweep()
        if hold.reservation.pk not in self.open:
            if actual == 0:
                tokens.release(hold.reservation)
                return
            with pytest.raises(ReservationExpired):
                hold.reservation.settle(actual)
            with pytest.raises(ReservationClosed):  # and it stays closed
                hold.reservation.settle(actual)
            return
        extra = actual - hold.amount
        if extra > 0 and extra > self.stored:
            with pytest.raises(InsufficientTokens):
                hold.reservation.settle(actual)
            hold.reservation.release()
            self.stored += hold.amount
        else:
            found = tokens.get_reservation(self.subscriber, str(hold.reservation.reference))
            found.settle(actual)
            self.stored -= extra
        del self.open[hold.reservation.pk]

    @rule(minutes=st.integers(min_value=1, max_value=180))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        self.traveller.move_to(self.now)

    @rule()
    def expire_due(self) -> None:
        self.sweep()
        tokens.expire_due()

    @rule(amount=hostile_amounts, text=hostile_texts)
    def hostile_arguments_change_nothing(self, amount: Any, text: Any) -> None:
        before = TokenEntry.objects.count()
        for call in (
            lambda: tokens.consume(self.subscriber, amount),
            lambda: tokens.credit(self.subscriber, amount, kind="purchase", reference=None),
            lambda: tokens.consume(self.subscriber, 1, reference=text),
            lambda: tokens.consume(self.subscriber, 1, description=text),
            lambda: tokens.reserve(
                self.subscriber, 1, expires_in=-1 if amount is None else amount
            ),
        ):
            try:
                call()
            except (ValueError, TypeError):
                continue
            raise AssertionError("a hostile argument was accepted")
        assert TokenEntry.objects.count() == before

    @rule(amount=amounts)
    def a_reference_is_used_once(self, amount: int) -> None:
        self.sweep()
        reference = self.reference()
        tokens.credit(self.subscriber, amount, kind="purchase", reference=reference)
        self.stored += amount
        again = tokens.credit(self.subscriber, amount, kind="purchase", reference=reference)
        assert again.amount == amount
        with pytest.raises(ReferenceConflict):
            tokens.credit(self.subscriber, amount + 1, kind="purchase", reference=reference)

    @invariant()
    def the_ledger_agrees_with_the_model(self) -> None:
        account = TokenAccount.objects.filter(subscriber=self.subscriber).first()
        if account is None:
            assert self.stored == 0
            return
        entries = TokenEntry.objects.filter(account=account)
        total = entries.aggregate(s=Sum("amount"))["s"] or 0
        assert account.balance == total  # the stored balance is the sum of the entries
        # Holds past their expiry still count as spent until a write gives them back.
        assert account.balance == self.stored
        assert tokens.balance(self.subscriber) == account.balance  # nothing here expires
        credits_left = entries.filter(amount__gt=0).aggregate(s=Sum("remaining"))["s"] or 0
        assert credits_left == max(account.balance, 0)
        duplicated = (
            entries.exclude(reference=None)
            .values("reference")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
        )
        assert not duplicated.exists()


def run(examples: int, steps: int) -> None:
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            # Shrinking a long sequence against a database can take many
            # minutes; the failing sequence is printed as found.
            phases=(Phase.explicit, Phase.reuse, Phase.generate),
        ),
    )


@pytest.mark.django_db
def test_the_ledger_matches_its_model_under_random_operations() -> None:
    run(examples=15, steps=25)


@pytest.mark.heavy
@pytest.mark.postgres
@pytest.mark.django_db
def test_heavy_the_ledger_matches_its_model_under_random_operations() -> None:
    run(examples=300, steps=40)
