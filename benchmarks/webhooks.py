"""Webhook intake over real HTTP beside two ceilings measured in the same run.

    python -m benchmarks.webhooks [--db sqlite|postgres|both] [--events N] [--senders 1,8]

For each database it serves the test project (``tests.urls``) from a threaded
WSGI server on 127.0.0.1 and POSTs signed Stripe events to
``/billing/stripe/webhook/``, each sender thread over one persistent HTTP
connection. The mix: subscriptions created and updated, renewal invoices paid
(each grants the period's tokens), token-package checkouts completed (their
payments exist, as our checkout endpoint creates them), refunds of fulfilled
purchases (``refund.created``: their tokens are taken back), plus 10% duplicate
deliveries and 5% event types we do not handle. Deliveries answered with an
error are counted, then delivered again (as Stripe retries) until processed,
and the run only counts if every event ended with its effect exactly once.
``STRIPE_API_BASE`` points at a local stub that counts the requests reaching
it: processing an event must not call Stripe. A separate pass counts the
statements of each delivery type (BEGIN and COMMIT included).

The two ceilings: the database's (a transaction that inserts one event row and
marks it processed, through the same Django connection, in as many threads as
there are senders), and the server stack's (the same deliveries POSTed to a
minimal webhook view in the same server that verifies the signature and stores
the event with one raw INSERT: ``benchmarks/minimal_webhook.py``). See
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from benchmarks._setup import (
    describe_server,
    django_on,
    measure_each,
    new_subscribers,
    prepare_schema,
    print_json,
    threaded_ops_per_second,
    versions,
)

BENCH_DATABASE = "fiko_bench_webhooks"
SECRET = "whsec_bench_only"  # noqa: S105 - signs this benchmark's own deliveries
WEBHOOK_PATH = "/billing/stripe/webhook/"
MINIMAL_PATH = "/bench/minimal-webhook/"
QUERY_COUNT_EVENTS = 10  # per event type
RUN_TIME_LIMIT = 300.0  # seconds a sender may take before the run is abandoned
REDELIVERY_ROUNDS = 10
DAY = 86400
UNIT_AMOUNT = 500
PACKAGE_TOKENS = 250
PLAN_TOKENS = 1_000

# Shares of the handled, first-time deliveries (the rest of the mix is
# duplicates and unhandled types).
MIX = {
    "customer.subscription.created": 20,
    "customer.subscription.updated": 20,
    "invoice.paid": 20,
    "checkout.session.completed": 15,
    "refund.created": 10,
}
DUPLICATE_SHARE = 0.10
UNHANDLED_SHARE = 0.05
UNHANDLED_TYPES = ("product.created", "payment_intent.created", "customer.updated")


# --------------------------------------------------------------------------- setup


def server_settings(values: dict[str, Any], stripe_url: str, *, prepared: bool = False) -> None:
    """The settings of a server taking webhooks, with Stripe at ``stripe_url``.

    ``prepared``: on PostgreSQL, Django's server-side binding with psycopg's
    prepared statements (``OPTIONS``), for the fiko endpoint and both ceilings.
    """
    # A server keeps its database connections between requests.
    values["DATABASES"]["default"]["CONN_MAX_AGE"] = 60
    if prepared and "postgresql" in values["DATABASES"]["default"]["ENGINE"]:
        values["DATABASES"]["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=5
        )
    values["ALLOWED_HOSTS"] = ["127.0.0.1"]
    # tests.urls plus the minimal webhook view of the second ceiling.
    values["ROOT_URLCONF"] = "benchmarks.minimal_webhook"
    # Failed deliveries are counted in the table; their tracebacks would bury it.
    values["LOGGING"] = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"null": {"class": "logging.NullHandler"}},
        "loggers": {"fiko_billing": {"handlers": ["null"], "propagate": False}},
    }
    values["FIKO_BILLING"] = {
        **values["FIKO_BILLING"],
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "STRIPE_API_BASE": stripe_url,
        "STRIPE_MAX_NETWORK_RETRIES": 0,
        "STRIPE_TIMEOUT": 5,
        "WEBHOOK_PROCESSING": "sync",
    }


# --------------------------------------------------------------------------- the events


@dataclass
class Catalogue:
    plan_price: dict[str, Any]
    package_price: dict[str, Any]
    package: Any


def create_catalogue() -> Catalogue:
    from fiko_billing.models import Plan, Price, TokenPackage
    from fiko_billing.testing import payloads

    plan = Plan.objects.create(name="Plan", stripe_product_id="prod_plan", tokens=PLAN_TOKENS)
    Price.objects.create(
        product=plan, currency="usd", unit_amount=UNIT_AMOUNT, stripe_price_id="price_plan"
    )
    package = TokenPackage.objects.create(
        name="Package", stripe_product_id="prod_pack", tokens=PACKAGE_TOKENS
    )
    Price.objects.create(
        product=package, currency="usd", unit_amount=UNIT_AMOUNT, stripe_price_id="price_pack"
    )
    return Catalogue(
        plan_price=payloads.price(
            id="price_plan", product_id="prod_plan", unit_amount=UNIT_AMOUNT, interval="month"
        ),
        package_price=payloads.price(
            id="price_pack", product_id="prod_pack", unit_amount=UNIT_AMOUNT
        ),
        package=package,
    )


def split(total: int) -> dict[str, int]:
    """How many events of each kind make ``total`` deliveries."""
    unhandled = round(total * UNHANDLED_SHARE)
    duplicates = round(total * DUPLICATE_SHARE)
    unique = total - unhandled - duplicates
    weight = sum(MIX.values())
    counts = {kind: max(1, unique * share // weight) for kind, share in MIX.items()}
    counts["customer.subscription.updated"] += unique - sum(counts.values())
    counts["unhandled"] = unhandled
    counts["duplicate"] = duplicates
    return counts


@dataclass
class World:
    """The subscribers, customers and payments behind one run's events, and the events."""

    tag: str
    counts: dict[str, int]
    events: list[dict[str, Any]] = field(default_factory=list)


def build_world(tag: str, total: int, catalogue: Catalogue, now: int) -> World:
    """Seed the rows one run's events refer to (bulk inserts) and build the events."""
    from django.db import transaction

    from fiko_billing.models import (
        Customer,
        EntryKind,
        Payment,
        PaymentKind,
        PaymentStatus,
        TokenAccount,
        TokenEntry,
    )
    from fiko_billing.subscribers import get_subscriber_model
    from fiko_billing.testing import payloads
    from tests import stripe_shapes

    counts = split(total)
    world = World(tag, counts)
    people = counts["customer.subscription.created"]
    model = get_subscriber_model()
    with transaction.atomic():
        made = model._default_manager.bulk_create(new_subscribers(people, f"{tag}_", f"{tag} "))
        pks = [subscriber.pk for subscriber in made]
        Customer.objects.bulk_create(
            [
                Customer(subscriber_id=pk, stripe_customer_id=f"cus_{tag}_{n}")
                for n, pk in enumerate(pks)
            ]
        )
        package_payment = {
            "kind": PaymentKind.TOKEN_PACKAGE,
            "package": catalogue.package,
            "amount": UNIT_AMOUNT,
            "currency": "usd",
            "tokens": PACKAGE_TOKENS,
        }
        Payment.objects.bulk_create(
            [
                Payment(
                    subscriber_id=pks[n % people],
                    stripe_checkout_session_id=f"cs_{tag}_{n}",
                    **package_payment,
                )
                for n in range(counts["checkout.session.completed"])
            ]
        )
        # Refunds take back tokens of purchases fulfilled before the run.
        refunds = counts["refund.created"]
        Payment.objects.bulk_create(
            [
                Payment(
                    subscriber_id=pks[n % people],
                    stripe_checkout_session_id=f"cs_{tag}_paid_{n}",
                    stripe_payment_intent_id=f"pi_{tag}_paid_{n}",
                    status=PaymentStatus.SUCCEEDED,
                    fulfilled_at=datetime.fromtimestamp(now - DAY, tz=UTC),
                    credited_at=datetime.fromtimestamp(now - DAY, tz=UTC),
                    **package_payment,
                )
                for n in range(refunds)
            ]
        )
        bought = Counter(pks[n % people] for n in range(refunds))
        accounts = TokenAccount.objects.bulk_create(
            [
                TokenAccount(subscriber_id=pk, balance=PACKAGE_TOKENS * k)
                for pk, k in bought.items()
            ]
        )
        account_of = {account.subscriber_id: account.pk for account in accounts}
        running: Counter[Any] = Counter()
        entries = []
        for n in range(refunds):
            pk = pks[n % people]
            running[pk] += PACKAGE_TOKENS
            entries.append(
                TokenEntry(
                    account_id=account_of[pk],
                    kind=EntryKind.PURCHASE,
                    amount=PACKAGE_TOKENS,
                    balance_after=running[pk],
                    remaining=PACKAGE_TOKENS,
                    reference=f"checkout:cs_{tag}_paid_{n}",
                )
            )
        TokenEntry.objects.bulk_create(entries)

    def subscription(n: int, **fields: Any) -> dict[str, Any]:
        return payloads.subscription(
            id=f"sub_{tag}_{n}",
            customer_id=f"cus_{tag}_{n}",
            price_obj=catalogue.plan_price,
            start=now - DAY,
            end=now + 29 * DAY,
            **fields,
        )

    events = world.events
    for n in range(people):
        events.append(
            payloads.event("customer.subscription.created", subscription(n), created=now - DAY)
        )
    for n in range(counts["customer.subscription.updated"]):
        events.append(
            payloads.event(
                "customer.subscription.updated",
                subscription(n % people, cancel_at_period_end=True),
                created=now - DAY + 1 + n // people,
            )
        )
    for n in range(counts["invoice.paid"]):
        invoice = payloads.invoice(
            id=f"in_{tag}_{n}",
            customer_id=f"cus_{tag}_{n % people}",
            subscription_id=f"sub_{tag}_{n % people}",
            price_obj=catalogue.plan_price,
            billing_reason="subscription_cycle",
            period_start=now - 60,
            period_end=now + 30 * DAY,
        )
        events.append(payloads.event("invoice.paid", invoice, created=now - 60))
    for n in range(counts["checkout.session.completed"]):
        session = payloads.checkout_session(
            id=f"cs_{tag}_{n}",
            status="complete",
            payment_status="paid",
            customer_id=f"cus_{tag}_{n % people}",
            amount_total=UNIT_AMOUNT,
            payment_intent=f"pi_{tag}_{n}",
        )
        events.append(payloads.event("checkout.session.completed", session, created=now - 30))
    for n in range(refunds):
        charge = payloads.charge(
            id=f"ch_{tag}_{n}",
            amount=UNIT_AMOUNT,
            amount_refunded=UNIT_AMOUNT,
            payment_intent=f"pi_{tag}_paid_{n}",
        )
        refund = stripe_shapes.refund(charge=charge, amount=UNIT_AMOUNT, refund_id=f"re_{tag}_{n}")
        events.append(payloads.event("refund.created", refund, created=now - 10))
    for n in range(counts["unhandled"]):
        kind = UNHANDLED_TYPES[n % len(UNHANDLED_TYPES)]
        events.append(payloads.event(kind, payloads.product(), created=now - 5))
    return world


@dataclass
class Delivery:
    body: bytes
    signature: str
    kind: str  # the event type, or "duplicate"


def deliveries(world: World, senders: int, rng: random.Random) -> list[list[Delivery]]:
    """The events shuffled over ``senders`` queues; each duplicate follows its original."""
    from fiko_billing.webhooks.signature import signature_header

    signed_at = int(time.time())

    def delivery(event: dict[str, Any], kind: str) -> Delivery:
        body = json.dumps(event).encode()
        return Delivery(body, signature_header(body, SECRET, signed_at), kind)

    events = list(world.events)
    rng.shuffle(events)
    queues = [[delivery(e, e["type"]) for e in events[start::senders]] for start in range(senders)]
    handled = [
        (q, i)
        for q, queue in enumerate(queues)
        for i, item in enumerate(queue)
        if item.kind in MIX
    ]
    for q, i in sorted(rng.sample(handled, world.counts["duplicate"]), reverse=True):
        original = queues[q][i]
        at = rng.randint(i + 1, len(queues[q]))
        queues[q].insert(at, Delivery(original.body, original.signature, "duplicate"))
    return queues


def minimal_queues(queues: list[list[Delivery]]) -> list[list[Delivery]]:
    """The same deliveries under new event ids (duplicates stay duplicates), signed again."""
    from fiko_billing.webhooks.signature import signature_header

    signed_at = int(time.time())
    renamed: dict[bytes, Delivery] = {}

    def rename(item: Delivery) -> Delivery:
        if item.body not in renamed:
            event = json.loads(item.body)
            event["id"] = event["id"].replace("evt_", "evt_min_", 1)
            body = json.dumps(event).encode()
            renamed[item.body] = Delivery(body, signature_header(body, SECRET, signed_at), "")
        done = renamed[item.body]
        return Delivery(done.body, done.signature, item.kind)

    return [[rename(item) for item in queue] for queue in queues]


# --------------------------------------------------------------------------- HTTP


def start_server() -> tuple[Any, threading.Thread]:
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        # The server writes headers and body separately; with Nagle's algorithm
        # each answer would wait for the client's delayed ACK (40 ms on Linux).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
    server.set_app(WSGIHandler())
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    return server, thread


@dataclass
class Sent:
    elapsed: float
    outcomes: Counter[str]
    failed: list[Delivery]  # answered with an error: Stripe would deliver them again


def send_all(port: int, queues: list[list[Delivery]], path: str = WEBHOOK_PATH) -> Sent:
    """POST every queue from its own thread over one persistent connection each."""
    outcomes: Counter[str] = Counter()
    failed: list[Delivery] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(queues) + 1)
    failures: list[BaseException] = []

    def sender(queue: list[Delivery]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        seen: Counter[str] = Counter()
        errors: list[Delivery] = []
        try:
            connection.connect()
            barrier.wait(timeout=60)
            deadline = time.monotonic() + RUN_TIME_LIMIT
            for item in queue:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"a sender ran past the limit of {RUN_TIME_LIMIT:.0f} s")
                connection.request(
                    "POST",
                    path,
                    body=item.body,
                    headers={
                        "Content-Type": "application/json",
                        "Stripe-Signature": item.signature,
                    },
                )
                response = connection.getresponse()
                answer = response.read()
                if response.status == 200:
                    seen[json.loads(answer)["outcome"]] += 1
                else:
                    seen[f"HTTP {response.status}"] += 1
                    errors.append(item)
        except BaseException as exc:
            failures.append(exc)
            barrier.abort()
        finally:
            connection.close()
            with lock:
                outcomes.update(seen)
                failed.extend(errors)

    threads = [threading.Thread(target=sender, args=(queue,)) for queue in queues]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} sender(s) failed") from failures[0]
    return Sent(elapsed, outcomes, failed)


def redeliver(port: int, failed: list[Delivery]) -> None:
    """Deliver the failed events again, one at a time, as Stripe's retries would."""
    for _round in range(REDELIVERY_ROUNDS):
        if not failed:
            return
        failed = send_all(port, [failed]).failed
    raise RuntimeError(f"{len(failed)} event(s) still failing after {REDELIVERY_ROUNDS} retries")


def check_effects(world: World) -> None:
    """The figure only counts if, in the end, every event had its effect exactly once."""
    from fiko_billing.models import (
        EntryKind,
        Payment,
        PaymentStatus,
        Subscription,
        TokenEntry,
        WebhookEvent,
    )

    counts = world.counts
    tag = world.tag
    ids = [event["id"] for event in world.events]
    found = {
        "events": Counter(
            WebhookEvent.objects.filter(stripe_event_id__in=ids).values_list("status", flat=True)
        ),
        "subscriptions": Subscription.objects.filter(
            stripe_subscription_id__startswith=f"sub_{tag}_", cancel_at_period_end=True
        ).count(),
        "grants": TokenEntry.objects.filter(
            kind=EntryKind.GRANT, reference__startswith=f"invoice:in_{tag}_"
        ).count(),
        "purchases": TokenEntry.objects.filter(
            kind=EntryKind.PURCHASE, reference__regex=rf"^checkout:cs_{tag}_[0-9]+$"
        ).count(),
        "refunds": TokenEntry.objects.filter(
            kind=EntryKind.REFUND, reference__startswith=f"refund:re_{tag}_"
        ).count(),
        "refunded payments": Payment.objects.filter(
            stripe_payment_intent_id__startswith=f"pi_{tag}_paid_", status=PaymentStatus.REFUNDED
        ).count(),
    }
    wanted = {
        "events": Counter(
            {"processed": sum(counts[kind] for kind in MIX), "ignored": counts["unhandled"]}
        ),
        "subscriptions": counts["customer.subscription.created"],
        "grants": counts["invoice.paid"],
        "purchases": counts["checkout.session.completed"],
        "refunds": counts["refund.created"],
        "refunded payments": counts["refund.created"],
    }
    if found != wanted:
        raise RuntimeError(f"effects {found}, expected {wanted}")


# --------------------------------------------------------------------------- ceiling


def raw_statements() -> tuple[str, str]:
    from django.db import connection

    from fiko_billing.models import WebhookEvent

    table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    payload = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    insert = (
        f"INSERT INTO {table} (stripe_event_id, type, api_version, livemode, payload, status, "
        f"attempts, failures, waiting_for, last_error, stripe_created, received_at) "
        f"VALUES (%s, %s, %s, %s, {payload}, 'pending', 0, 0, '', '', %s, %s) RETURNING id"
    )
    update = (
        f"UPDATE {table} SET status = 'processed', attempts = 1, processed_at = %s WHERE id = %s"
    )
    return insert, update


def ceiling_event(catalogue: Catalogue, now: int) -> dict[str, Any]:
    """A renewal ``invoice.paid``: the ceiling stores a payload of the usual size."""
    from fiko_billing.testing import payloads

    invoice = payloads.invoice(
        customer_id="cus_ceiling",
        subscription_id="sub_ceiling",
        price_obj=catalogue.plan_price,
        billing_reason="subscription_cycle",
    )
    return payloads.event("invoice.paid", invoice, created=now)


def raw_operation(body: str, label: str) -> Callable[[], None]:
    """One minimal store-and-process: insert an event row, mark it processed, commit."""
    from django.db import connection, transaction
    from django.utils import timezone

    insert, update = raw_statements()
    serial = itertools.count()

    def operation() -> None:
        now = timezone.now()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                insert,
                [f"evt_raw_{label}_{next(serial)}", "invoice.paid", "", False, body, now, now],
            )
            (pk,) = cursor.fetchone()
            cursor.execute(update, [now, pk])

    return operation


# --------------------------------------------------------------------------- queries


class Statements:
    """The statements a block sends the database: every query, and each transaction's
    BEGIN and COMMIT (or ROLLBACK). Django runs SQLite's BEGIN as a query; PostgreSQL's
    is implicit in the driver, so it is counted with the COMMIT."""

    def __init__(self) -> None:
        from django.db import connections

        self.connection: Any = connections["default"]
        self.count = 0

    def __enter__(self) -> Statements:
        self._commit, self._rollback = self.connection._commit, self.connection._rollback
        ends = 2 if self.connection.vendor == "postgresql" else 1

        def commit() -> None:
            self.count += ends
            self._commit()

        def rollback() -> None:
            self.count += ends
            self._rollback()

        self.connection._commit = commit
        self.connection._rollback = rollback
        self._wrapped = self.connection.execute_wrapper(self._query)
        self._wrapped.__enter__()
        return self

    def _query(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        # The ledger sends its lock and its work as two statements in one round trip.
        self.count += 1 + sql.count(";\n")
        return execute(sql, *args)

    def __exit__(self, *exc: object) -> None:
        self._wrapped.__exit__(None, None, None)
        del self.connection._commit, self.connection._rollback


def deliver_directly(event: dict[str, Any]) -> None:
    """What the endpoint does with a verified, parsed event (processing in the request)."""
    from fiko_billing.services.events import receive

    receive(event)


def statements_per_type(catalogue: Catalogue, now: int) -> dict[str, float]:
    """Statements per delivery of each type, as the endpoint's service call sends them."""
    # Enough deliveries for about QUERY_COUNT_EVENTS of each handled type.
    total = QUERY_COUNT_EVENTS * 5
    world = build_world("q", total, catalogue, now)
    by_type: dict[str, list[int]] = {}

    def measure(event: dict[str, Any], label: str) -> None:
        with Statements() as counted:
            deliver_directly(event)
        by_type.setdefault(label, []).append(counted.count)

    for event in world.events:  # created, updated, invoices, checkouts, refunds, others
        label = event["type"] if event["type"] in MIX else "unhandled type"
        measure(event, label)
    for event in world.events[:QUERY_COUNT_EVENTS]:
        measure(event, "duplicate delivery")
    return {label: sum(found) / len(found) for label, found in by_type.items()}


# --------------------------------------------------------------------------- run


def run(db: str, total: int, senders: list[int], stub: Any) -> dict[str, Any]:
    from django.db import connection

    prepare_schema(db, BENCH_DATABASE)
    now = int(time.time())
    catalogue = create_catalogue()
    rng = random.Random(20310310)  # the same mix on every run
    queries = statements_per_type(catalogue, now)
    body = json.dumps(ceiling_event(catalogue, now))
    connection.close()

    server, thread = start_server()
    port = server.server_address[1]
    rows = []
    try:
        for count in senders:
            world = build_world(f"s{count}", total, catalogue, now)
            queues = deliveries(world, count, rng)
            connection.close()
            before = len(stub.requests)
            sent = send_all(port, queues)
            redeliver(port, sent.failed)
            check_effects(world)
            answered = sum(sent.outcomes.values()) - len(sent.failed)
            ceiling = threaded_ops_per_second(raw_operation(body, f"t{count}"), total, count)
            minimal = send_all(port, minimal_queues(queues), MINIMAL_PATH)
            if minimal.failed:
                raise RuntimeError(f"the minimal view failed {len(minimal.failed)} deliveries")
            rows.append(
                {
                    "database": db,
                    "senders": count,
                    "events": sum(len(queue) for queue in queues),
                    "fiko": answered / sent.elapsed,
                    "errors": len(sent.failed),
                    "raw": ceiling,
                    "minimal": sum(minimal.outcomes.values()) / minimal.elapsed,
                    "stripe_calls": len(stub.requests) - before,
                }
            )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    return {"rows": rows, "queries": {db: queries}}


# --------------------------------------------------------------------------- output


def rate_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| database | senders | deliveries | fiko events/s | answered 5xx "
        "| DB ceiling events/s | fiko/DB | minimal view events/s | fiko/minimal "
        "| Stripe API calls |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['database']} | {row['senders']} | {row['events']:,} | {row['fiko']:,.0f} "
            f"| {row['errors']} | {row['raw']:,.0f} | {row['fiko'] / row['raw']:.2f} "
            f"| {row['minimal']:,.0f} | {row['fiko'] / row['minimal']:.2f} "
            f"| {row['stripe_calls']} |"
        )
    return "\n".join(lines)


def query_table(queries: dict[str, dict[str, float]]) -> str:
    databases = list(queries)
    lines = [
        "| event | " + " | ".join(f"statements ({db})" for db in databases) + " |",
        "|---|" + "---:|" * len(databases),
    ]
    labels = [*MIX, "unhandled type", "duplicate delivery"]
    for label in labels:
        cells = []
        for db in databases:
            value = queries[db].get(label)
            cells.append("-" if value is None else f"{value:.1f}".removesuffix(".0"))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_one(
    db: str, total: int, senders: list[int], *, prepared: bool = False
) -> tuple[dict[str, Any], str]:
    from tests.stripe_stub import StubServer

    with (
        StubServer() as stub,
        django_on(
            db,
            BENCH_DATABASE,
            lambda values: server_settings(values, stub.url, prepared=prepared),
        ),
    ):
        result = run(db, total, senders, stub)
        if stub.requests:
            calls = ", ".join(f"{r.method} {r.path}" for r in stub.requests[:5])
            sys.stderr.write(f"Stripe was called while processing events: {calls}\n")
        return result, describe_server(db, BENCH_DATABASE)


def senders_list(value: str) -> list[int]:
    try:
        counts = sorted({int(part) for part in value.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {value!r}") from None
    if not counts or counts[0] < 1 or counts[-1] > 32:
        raise argparse.ArgumentTypeError("sender counts must be between 1 and 32")
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.webhooks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--events", type=int, default=600, help="deliveries per measurement (default 600)"
    )
    parser.add_argument(
        "--senders",
        type=senders_list,
        default=[1, 8],
        help="concurrent senders, comma-separated (default 1,8)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the results as JSON instead of tables"
    )
    parser.add_argument(
        "--prepared",
        action="store_true",
        help="PostgreSQL with server-side binding and prepared statements (Django OPTIONS)",
    )
    args = parser.parse_args(argv)
    if args.events < 100 or args.events > 100_000:
        parser.error("--events must be between 100 and 100000")

    started = time.perf_counter()
    found, server = measure_each(
        args.db,
        lambda db: run_one(db, args.events, args.senders, prepared=args.prepared),
        module="benchmarks.webhooks",
        options=[
            "--events",
            str(args.events),
            "--senders",
            ",".join(map(str, args.senders)),
            *(["--prepared"] if args.prepared else []),
        ],
        key="result",
    )
    rows = [row for part in found for row in part["rows"]]
    queries = {db: counts for part in found for db, counts in part["queries"].items()}
    if args.json:
        print_json("result", {"rows": rows, "queries": queries}, server)
        return
    mix = ", ".join(f"{share}% {kind}" for kind, share in split(100).items())
    binding = "; PostgreSQL with server-side binding, prepared statements" if args.prepared else ""
    print(
        f"fiko-billing webhooks: signed POSTs to {WEBHOOK_PATH} over HTTP on 127.0.0.1 "
        f"({args.events:,} per measurement: {mix}); {versions()}; {server}{binding}"
    )
    print()
    print(rate_table(rows))
    print()
    print("Statements per delivery (the endpoint's service call; BEGIN and COMMIT included):")
    print()
    print(query_table(queries))
    print()
    print(f"total time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
