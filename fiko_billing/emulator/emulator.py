"""``Emulator``: the whole emulator behind one object, for tests and the CLI."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from fiko_billing.emulator.api import DEFAULT_API_KEYS, Api, Exchange
from fiko_billing.emulator.application import Application
from fiko_billing.emulator.billing_settings import (
    CANCELED,
    RENEWAL_DRAFT_SECONDS,
    SMART_RETRIES,
    BillingSettings,
)
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.engine import disputes, timeline
from fiko_billing.emulator.events import EventLog
from fiko_billing.emulator.faults import parse_fault
from fiko_billing.emulator.resources import ROUTES
from fiko_billing.emulator.resources.webhook_endpoints import endpoint_urls, receiving
from fiko_billing.emulator.server import EmulatorServer
from fiko_billing.emulator.store import Obj, Store
from fiko_billing.emulator.webhooks import Dispatcher
from fiko_billing.emulator.wire import StripeError


class Emulator:
    """A local, stateful Stripe: ``start()`` it, point the SDK's API base at ``url``.

    ``webhook_url``/``webhook_secret`` receive every event (as ``stripe listen``
    would forward them); endpoints created through ``/v1/webhook_endpoints``
    receive the types they enable, signed with their own secret. An endpoint
    created for ``webhook_url`` itself replaces the forwarding: one delivery
    per event, signed with both secrets.
    ``retry_delays`` and ``max_attempts`` shape redelivery after a failure.
    ``seed`` makes object ids repeat from run to run; ``frozen_at`` (a Unix
    time) stops the clock there, so only ``advance`` moves it.

    Billing follows Stripe's defaults: a renewal invoice is charged
    ``invoice_finalize_delay`` seconds (an hour) after ``invoice.created``; a
    failed payment is retried ``payment_retries`` days after the first failure
    (Smart Retries: 8 attempts within 2 weeks), then the subscription ends
    ``after_retries``: ``"canceled"``, ``"unpaid"`` or ``"past_due"``. ``api_keys``
    are the only secret keys accepted (``sk_test_emulator`` and
    ``rk_test_emulator`` by default); any other gets Stripe's 401.
    """

    def __init__(
        self,
        port: int = 0,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        state_file: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        public_url: str | None = None,
        seed: int | None = None,
        retry_delays: tuple[float, ...] = (1.0, 5.0, 25.0),
        max_attempts: int = 4,
        delivery_timeout: float = 10.0,
        invoice_finalize_delay: int = RENEWAL_DRAFT_SECONDS,
        payment_retries: Sequence[float] = SMART_RETRIES,
        after_retries: str = CANCELED,
        frozen_at: int | None = None,
        api_keys: Iterable[str] = DEFAULT_API_KEYS,
    ) -> None:
        if webhook_url and not webhook_secret:
            raise ValueError("webhook_url needs webhook_secret (the whsec_... your app verifies)")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.host = host
        self.port = port
        self.public_url = public_url.rstrip("/") if public_url else None
        self.webhook_url = webhook_url
        self._webhook_secret = webhook_secret
        self._old_webhook_secrets: list[str] = []
        self.state_file = Path(state_file) if state_file else None
        self.store = Store(seed=seed)
        self.store.clock.frozen_at = frozen_at
        self.store.billing = BillingSettings(
            invoice_finalize_delay=invoice_finalize_delay,
            payment_retries=tuple(payment_retries),
            after_retries=after_retries,
        )
        self.events = EventLog(self.store)
        self.ctx = Ctx(self.store, self.events)
        self.dispatcher = Dispatcher(
            self._targets,
            retry_delays=retry_delays,
            max_attempts=max_attempts,
            timeout=delivery_timeout,
            on_delivered=self._delivered,
        )
        self.events.sinks.append(self.dispatcher)
        self.api = Api(self.ctx, ROUTES, api_keys)
        self.application = Application(self)
        self._server: EmulatorServer | None = None
        if self.state_file is not None:
            if self.state_file.exists():
                try:
                    self.store.load(self.state_file)
                except ValueError as problem:
                    raise ValueError(f"{self.state_file}: {problem}") from None
            self.store.on_change(self.save)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Serve in background threads; returns the base URL (also ``.url``)."""
        if self._server is not None:
            return self.url
        self._server = EmulatorServer((self.host, self.port), self.application)
        self.port = self._server.port
        shown_host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        self.store.base_url = self.public_url or f"http://{shown_host}:{self.port}"
        self.dispatcher.start()
        self._server.start()
        with self.store.lock:
            timeline.run_due(self.ctx)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.dispatcher.stop()
        self.save()

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.store.base_url

    def save(self) -> None:
        if self.state_file is not None:
            with self.store.lock:
                self.store.save(self.state_file)

    # ------------------------------------------------------------------ clock

    def now(self) -> int:
        with self.store.lock:
            return self.store.clock.now()

    def clock_state(self) -> dict[str, Any]:
        with self.store.lock:
            return {"now": self.store.clock.now(), "offset": self.store.clock.offset}

    def advance(self, *, seconds: float = 0, days: float = 0) -> int:
        """Move time forward and run what falls due (renewals, retries, expiries).

        Returns the number of due items run.
        """
        total = seconds + days * 86_400
        with self.store.lock:
            steps = timeline.advance(self.ctx, total)
            self.store.changed()
        return steps

    def observe(
        self,
        *,
        exchanges: Callable[[Exchange], None] | None = None,
        events: Callable[[Obj], None] | None = None,
    ) -> None:
        """Call ``exchanges`` with every ``/v1`` request and its answer, ``events`` with
        every new event: how a test checks what the emulator receives and sends."""
        if exchanges is not None:
            self.api.observers.append(exchanges)
        if events is not None:
            self.events.listeners.append(events)

    # ------------------------------------------------------------------ webhooks

    def _targets(self, event: Obj) -> list[tuple[str, tuple[str, ...]]]:
        """Where an event goes: each endpoint once, the forwarding URL folded into its own.

        An endpoint created through the API for the forwarding URL (what
        ``setup_stripe_webhook`` does) takes the forwarding's place: the URL
        receives each event once, as that endpoint's ``enabled_events`` and
        status say, signed with the forwarding secret as well as the
        endpoint's own, so the project's configured secret keeps working.
        """
        targets = receiving(self.ctx, event["type"])
        if not (self.webhook_url and self._webhook_secret):
            return targets
        forwarding = (self._webhook_secret, *self._old_webhook_secrets)
        if self.webhook_url not in endpoint_urls(self.ctx):
            return [(self.webhook_url, forwarding), *targets]
        return [
            (url, (*secrets, *forwarding)) if url == self.webhook_url else (url, secrets)
            for url, secrets in targets
        ]

    def roll_webhook_secret(self, new_secret: str) -> None:
        """Sign ``webhook_url`` deliveries with ``new_secret``, and with the old one too
        until ``expire_old_webhook_secrets()`` (as Stripe does while a rolled secret lives).
        """
        if self._webhook_secret:
            self._old_webhook_secrets.insert(0, self._webhook_secret)
        self._webhook_secret = new_secret

    def expire_old_webhook_secrets(self) -> None:
        self._old_webhook_secrets.clear()

    def _delivered(self, event_id: str) -> None:
        with self.store.lock:
            event = self.store.get("event", event_id)
            if event is not None and event["pending_webhooks"] > 0:
                event["pending_webhooks"] -= 1

    def deliveries(self) -> list[dict[str, Any]]:
        return self.dispatcher.deliveries()

    # ------------------------------------------------------------------ disputes

    def open_dispute(
        self, charge: str, *, reason: str = "fraudulent", amount: int | None = None
    ) -> Obj:
        """The cardholder's bank disputes a charge (or a payment intent's latest charge):
        ``charge.dispute.created`` then ``charge.dispute.funds_withdrawn``."""
        with self.store.lock:
            found = self.store.find(charge)
            if found is not None and found["object"] == "payment_intent":
                found = self.store.get("charge", found["latest_charge"] or "")
            if found is None or found["object"] != "charge":
                raise ValueError(f"no charge or payment intent {charge!r}")
            try:
                dispute = disputes.open_dispute(self.ctx, found, reason=reason, amount=amount)
            except StripeError as error:
                raise ValueError(error.message) from None
            self.ctx.run_deferred()
            self.store.changed()
            return copy.deepcopy(dispute)

    def close_dispute(self, dispute_id: str, *, won: bool, submit_evidence: bool = True) -> Obj:
        """The bank decides. With ``submit_evidence`` the merchant answers first
        (``charge.dispute.updated``, ``under_review``); then ``charge.dispute.closed``,
        and ``charge.dispute.funds_reinstated`` when won."""
        with self.store.lock:
            dispute = self.store.get("dispute", dispute_id)
            if dispute is None:
                raise ValueError(f"no dispute {dispute_id!r}")
            try:
                if submit_evidence:
                    text = disputes.WINNING if won else disputes.LOSING
                    evidence = {"uncategorized_text": text}
                    disputes.update(self.ctx, dispute, evidence=evidence, submit=True)
                else:
                    disputes.close(self.ctx, dispute, won=won)
            except StripeError as error:
                raise ValueError(error.message) from None
            self.ctx.run_deferred()
            self.store.changed()
            return copy.deepcopy(dispute)

    def add_fault(
        self,
        action: str,
        *,
        types: list[str] | None = None,
        count: int = 1,
        seconds: float = 0,
    ) -> None:
        """Drop, duplicate, delay or reorder the next ``count`` deliveries of ``types``."""
        fault = {"action": action, "types": types, "count": count, "seconds": seconds}
        self.dispatcher.add_fault(parse_fault(fault))

    def pause_deliveries(self) -> None:
        self.dispatcher.pause()

    def resume_deliveries(self) -> None:
        self.dispatcher.resume()

    def flush(self, timeout: float = 10.0) -> None:
        """Block until every queued delivery has been sent (or has failed for good)."""
        self.dispatcher.flush(timeout)

    def reset(self) -> None:
        """Forget every object, event, delivery, fault and idempotency key; the clock returns."""
        self.dispatcher.reset()
        with self.store.lock:
            self.store.reset()
            self.api.idempotency.clear()
            self.store.changed()

    # ------------------------------------------------------------------ state, for tests

    def objects(self, kind: str) -> list[Obj]:
        """Copies of the stored objects of one type (``"customer"``...), newest first."""
        with self.store.lock:
            return copy.deepcopy([o for o in self.store.all(kind) if not o.get("deleted")])

    def get(self, object_id: str) -> Obj | None:
        with self.store.lock:
            found = self.store.find(object_id)
            return copy.deepcopy(found) if found is not None else None

    def event_types(self) -> list[str]:
        """Every event type so far, oldest first: the order Stripe would send them."""
        with self.store.lock:
            return [e["type"] for e in self.store.iter("event")]
