"""The token ledger's tables. Only ``fiko_billing.tokens`` writes them."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from fiko_billing.conf import subscriber_model_reference


class TokenAccount(models.Model):
    """A subscriber's stored balance, always equal to the sum of its entries.

    The row doubles as the lock that serialises every ledger write for one
    subscriber.
    """

    # Kept when the subscriber is deleted, with its entries (see models.deletion).
    subscriber = models.OneToOneField(
        subscriber_model_reference(),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="token_account",
        verbose_name=_("subscriber"),
    )
    balance = models.BigIntegerField(
        _("balance"), default=0, help_text=_("Negative while a refund left a debt.")
    )
    holds_expire_at = models.DateTimeField(
        _("first hold expires at"),
        null=True,
        blank=True,
        help_text=_(
            "Never later than the earliest expiry of a held reservation: until then no "
            "ledger write needs to look for expired holds."
        ),
    )
    updated = models.DateTimeField(
        _("updated"), auto_now=True, help_text=_("When a ledger operation last touched it.")
    )

    class Meta:
        verbose_name = _("token account")
        verbose_name_plural = _("token accounts")

    def __str__(self) -> str:
        return f"{self.subscriber}: {self.balance} tokens"


class EntryKind(models.TextChoices):
    GRANT = "grant", _("Plan allowance")
    PURCHASE = "purchase", _("Purchase")
    ADJUSTMENT = "adjustment", _("Adjustment")
    CONSUME = "consume", _("Spent")
    RESERVE = "reserve", _("Reserved")
    RELEASE = "release", _("Released reservation")
    EXPIRY = "expiry", _("Expired")
    REFUND = "refund", _("Taken back after a refund")
    DISPUTE = "dispute", _("Held during a dispute")
    REINSTATE = "reinstate", _("Given back after a dispute was won")


#: Kinds that add tokens and so are grants that later debits draw from.
CREDIT_KINDS = frozenset(
    {EntryKind.GRANT, EntryKind.PURCHASE, EntryKind.ADJUSTMENT, EntryKind.REINSTATE}
)


class TokenEntry(models.Model):
    """One signed movement of tokens. Entries are never updated, except the
    ``remaining`` counter of a credit, which tracks how much of it is unspent."""

    account = models.ForeignKey(
        TokenAccount,
        on_delete=models.CASCADE,
        related_name="entries",
        verbose_name=_("token account"),
    )
    kind = models.CharField(_("kind"), max_length=12, choices=EntryKind.choices)
    amount = models.BigIntegerField(_("amount"), help_text=_("Positive adds, negative takes."))
    balance_after = models.BigIntegerField(
        _("balance after"), help_text=_("The account's balance right after this entry.")
    )
    # NULL, not "", for "no reference": the unique constraint ignores NULLs only.
    reference = models.CharField(  # noqa: DJ001
        _("reference"),
        max_length=255,
        null=True,
        blank=True,
        help_text=_(
            "Unique per account: the cause of the operation (an invoice, a checkout session, "
            "a refund), so a repeated operation changes nothing."
        ),
    )
    grant = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name=_("credit"),
        help_text=_("For expiries and refunds: the credit they act on."),
    )
    expires_at = models.DateTimeField(
        _("expires at"),
        null=True,
        blank=True,
        help_text=_("For credits: when their unspent part expires; empty for never."),
    )
    remaining = models.BigIntegerField(
        _("remaining"), default=0, help_text=_("For credits: the part not yet spent or expired.")
    )
    description = models.CharField(
        _("description"),
        max_length=255,
        blank=True,
        help_text=_("Shown to the customer in the token history."),
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("token entry")
        verbose_name_plural = _("token entries")
        ordering = ("-created", "-pk")
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="fiko_entry_amount_nonzero"),
            models.CheckConstraint(
                condition=Q(kind__in=EntryKind.values), name="fiko_entry_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(remaining__gte=0)
                & (Q(remaining=0) | (Q(amount__gt=0) & Q(remaining__lte=F("amount")))),
                name="fiko_entry_remaining_within_amount",
            ),
            models.UniqueConstraint(
                fields=("account", "reference"),
                condition=Q(reference__isnull=False),
                name="fiko_entry_unique_reference",
            ),
        ]
        indexes = [
            # Debits draw from live credits, earliest expiry first.
            models.Index(
                fields=("account", "expires_at"),
                condition=Q(remaining__gt=0),
                name="fiko_entry_live_credits",
            ),
            # Expiry sweep across all accounts.
            models.Index(
                fields=("expires_at",),
                condition=Q(remaining__gt=0, expires_at__isnull=False),
                name="fiko_entry_expiring",
            ),
            models.Index(fields=("account", "-created"), name="fiko_entry_history"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+d}"


class ReservationStatus(models.TextChoices):
    HELD = "held", _("Held")
    SETTLED = "settled", _("Settled")
    RELEASED = "released", _("Released")
    EXPIRED = "expired", _("Expired")


class TokenReservation(models.Model):
    """Tokens held before an expensive operation, charged by ``settle``."""

    account = models.ForeignKey(
        TokenAccount,
        on_delete=models.CASCADE,
        related_name="reservations",
        verbose_name=_("token account"),
    )
    amount = models.BigIntegerField(
        _("amount held"), help_text=_("Tokens taken out of the spendable balance while held.")
    )
    settled_amount = models.BigIntegerField(
        _("amount charged"),
        null=True,
        blank=True,
        help_text=_("Tokens finally spent (0 when released); empty while held."),
    )
    status = models.CharField(
        _("status"),
        max_length=8,
        choices=ReservationStatus.choices,
        default=ReservationStatus.HELD,
    )
    # NULL, not "", for "no reference": the unique constraint ignores NULLs only.
    reference = models.CharField(  # noqa: DJ001
        _("reference"),
        max_length=255,
        null=True,
        blank=True,
        help_text=_("Unique per account: reserving again with it returns this reservation."),
    )
    entry = models.OneToOneField(
        TokenEntry,
        on_delete=models.PROTECT,
        related_name="reservation",
        verbose_name=_("ledger entry"),
        help_text=_("The entry that took the held tokens from the balance."),
    )
    description = models.CharField(_("description"), max_length=255, blank=True)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(
        _("expires at"),
        null=True,
        blank=True,
        help_text=_("Unless settled or released by then, the hold is given back."),
    )
    closed_at = models.DateTimeField(
        _("closed at"),
        null=True,
        blank=True,
        help_text=_("When it was settled, released or expired."),
    )

    class Meta:
        verbose_name = _("token reservation")
        verbose_name_plural = _("token reservations")
        ordering = ("-created", "-pk")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="fiko_reservation_positive"),
            models.CheckConstraint(
                condition=Q(status__in=ReservationStatus.values),
                name="fiko_reservation_status_valid",
            ),
            models.UniqueConstraint(
                fields=("account", "reference"),
                condition=Q(reference__isnull=False),
                name="fiko_reservation_unique_reference",
            ),
        ]
        indexes = [
            models.Index(fields=("status", "created"), name="fiko_reservation_status"),
            # expire_due: held reservations past their expiry, across all accounts.
            models.Index(
                fields=("expires_at",),
                condition=Q(status="held"),
                name="fiko_reservation_expiring",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} tokens ({self.status})"


class TokenAllocation(models.Model):
    """Which credits a reservation drew from, so a release can put tokens back."""

    debit = models.ForeignKey(
        TokenEntry,
        on_delete=models.CASCADE,
        related_name="allocations",
        verbose_name=_("reservation entry"),
        help_text=_("The ledger entry of the reservation."),
    )
    grant = models.ForeignKey(
        TokenEntry,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("credit"),
        help_text=_("A credit the reservation took tokens from; a release gives them back."),
    )
    amount = models.BigIntegerField(
        _("amount"), help_text=_("Tokens the reservation took from that credit.")
    )

    class Meta:
        verbose_name = _("token allocation")
        verbose_name_plural = _("token allocations")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="fiko_allocation_positive"),
            models.UniqueConstraint(fields=("debit", "grant"), name="fiko_allocation_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} tokens of credit #{self.grant_id} held by entry #{self.debit_id}"
