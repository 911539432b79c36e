"""Speed and memory of ``check_subscription_status`` beside the raw ceiling.

    python -m benchmarks.check_subscription_status [--db sqlite|postgres|both]
        [--count 50000] [--sample 1000]

For each database it bulk-creates ``--count`` subscriptions, every other one
overdue (its period ended ten days ago), and runs the command's service,
``check_subscriptions(gateway=None, ...)``, which decides on local dates:

* Deactivating: over the first ``--sample`` subscriptions (the rest are left
  canceled; every overdue subscriber there holds a 1,000-token grant expiring
  at its period end, so each deactivation also writes an expiry), per batch
  size (500 and 5000): wall time and subscriptions deactivated per second.
  Beside them the raw ceiling of the same database through the same
  connection: one ``UPDATE ... SET status = 'canceled' WHERE status IN (...)
  AND current_period_end < %s`` over the same rows (the median of three).
  Queries per deactivation come from a separate small pass.
* Memory: the peak Python memory (tracemalloc) of a dry run over all
  ``--count`` subscriptions and over the first tenth of them, per batch size:
  about the same at both sizes when memory is bounded by the batch (up to two
  batches are held at once, so a run of a single batch peaks lower).

Every measured run starts from the same state. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from datetime import datetime, timedelta
from typing import Any

from benchmarks._reconcile_before import before_equivalent
from benchmarks._setup import (
    describe_server,
    django_on,
    measure_each,
    new_subscribers,
    prepare_schema,
    print_json,
    versions,
)

BENCH_DATABASE = "fiko_bench_reconcile"
BATCH_SIZES = (500, 5000)
GRACE_DAYS = 3
GRANT = 1_000
QUERY_COUNT_SUBSCRIPTIONS = 200
INSERT_BATCH = 5000


def populate(count: int, granted: int, now: datetime) -> None:
    """``count`` active subscriptions, the even ones overdue; the overdue among the
    first ``granted`` subscribers hold a grant expiring at their period end."""
    from django.db import transaction

    from fiko_billing.models import (
        Customer,
        Plan,
        Price,
        Subscription,
    )
    from fiko_billing.subscribers import get_subscriber_model

    plan = Plan.objects.create(name="Bench", tokens=GRANT)
    price = Price.objects.create(
        product=plan, currency="usd", unit_amount=500, stripe_price_id="price_bench"
    )
    ended, current = now - timedelta(days=10), now + timedelta(days=20)
    model = get_subscriber_model()
    with transaction.atomic():
        model._default_manager.bulk_create(
            new_subscribers(count, "bench", "Organisation "), batch_size=INSERT_BATCH
        )
        pks = list(model._default_manager.order_by("pk").values_list("pk", flat=True))
        customers = Customer.objects.bulk_create(
            [Customer(subscriber_id=pk, stripe_customer_id=f"cus_b{pk}") for pk in pks],
            batch_size=INSERT_BATCH,
        )
        Subscription.objects.bulk_create(
            [
                Subscription(
                    subscriber_id=pk,
                    customer_id=customer.pk,
                    stripe_subscription_id=f"sub_b{pk}",
                    product=plan,
                    price=price,
                    status="active",
                    current_period_start=(ended if n % 2 == 0 else current) - timedelta(days=30),
                    current_period_end=ended if n % 2 == 0 else current,
                )
                for n, (pk, customer) in enumerate(zip(pks, customers, strict=True))
            ],
            batch_size=INSERT_BATCH,
        )
        grant_tokens(pks[:granted:2], ended)


def grant_tokens(subscriber_pks: list[Any], expires_at: datetime) -> None:
    """An account for each subscriber holding one grant of ``GRANT`` tokens."""
    from fiko_billing.models import EntryKind, TokenAccount, TokenEntry

    accounts = TokenAccount.objects.bulk_create(
        [TokenAccount(subscriber_id=pk, balance=GRANT) for pk in subscriber_pks],
        batch_size=INSERT_BATCH,
    )
    TokenEntry.objects.bulk_create(
        [
            TokenEntry(
                account_id=account.pk,
                kind=EntryKind.GRANT,
                amount=GRANT,
                balance_after=GRANT,
                remaining=GRANT,
                reference=f"invoice:in_b{account.subscriber_id}",
                expires_at=expires_at,
            )
            for account in accounts
        ],
        batch_size=INSERT_BATCH,
    )


def reset(now: datetime, up_to: int | None) -> int:
    """Undo earlier runs: the first ``up_to`` subscriptions (all with ``None``) active
    again with their grants unspent, the others canceled. Returns how many are overdue."""
    from django.db import transaction
    from django.db.models import F

    from fiko_billing.models import EntryKind, Subscription, TokenAccount, TokenEntry

    with transaction.atomic():
        TokenEntry.objects.filter(kind=EntryKind.EXPIRY).delete()
        TokenEntry.objects.filter(kind=EntryKind.GRANT).update(remaining=F("amount"))
        TokenAccount.objects.exclude(balance=GRANT).update(balance=GRANT)
        active, canceled = Subscription.objects.all(), Subscription.objects.none()
        if up_to is not None:
            last = Subscription.objects.order_by("pk").values_list("pk", flat=True)[up_to - 1]
            active = Subscription.objects.filter(pk__lte=last)
            canceled = Subscription.objects.filter(pk__gt=last)
        active.exclude(status="active").update(
            status="active", ended_at=None, stripe_state_at=None
        )
        canceled.exclude(status="canceled").update(status="canceled")
    cutoff = now - timedelta(days=GRACE_DAYS)
    return Subscription.objects.filter(status="active", current_period_end__lt=cutoff).count()


def timezone_now() -> datetime:
    from django.utils import timezone

    return timezone.now()


# --------------------------------------------------------------------------- measuring


def reconcile(now: datetime, batch_size: int, expected: int, *, dry_run: bool = False) -> float:
    """Run the service once; return its wall time after checking it handled ``expected`` rows."""
    from fiko_billing.services.reconcile import check_subscriptions

    started = time.perf_counter()
    report = check_subscriptions(
        gateway=None, grace_days=GRACE_DAYS, now=now, batch_size=batch_size, dry_run=dry_run
    )
    elapsed = time.perf_counter() - started
    action = "would_deactivate" if dry_run else "deactivated"
    if report.counts != {action: expected}:
        raise RuntimeError(f"expected {expected} {action}, got {report.counts}")
    return elapsed


def peak_memory(now: datetime, batch_size: int, overdue: int) -> int:
    """Peak traced bytes of one dry run (which reads every overdue row, batch by batch)."""
    gc.collect()  # so garbage of earlier runs is not collected, or counted, in this one
    tracemalloc.start()
    try:
        reconcile(now, batch_size, overdue, dry_run=True)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def raw_ceiling(now: datetime, expected: int) -> float:
    """Seconds for the one statement that cancels the same rows, in one transaction."""
    from django.db import connection, transaction

    from fiko_billing.models import Subscription

    table = connection.ops.quote_name(Subscription._meta.db_table)
    statement = (
        f"UPDATE {table} SET status = 'canceled' "
        "WHERE status IN ('active', 'trialing', 'past_due') AND current_period_end < %s"
    )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [now - timedelta(days=GRACE_DAYS)])
        changed = cursor.rowcount
    elapsed = time.perf_counter() - started
    if changed != expected:
        raise RuntimeError(f"the raw UPDATE changed {changed} rows, expected {expected}")
    return elapsed


def queries_per_deactivation(now: datetime, *, before: bool = False) -> float:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    overdue = reset(now, QUERY_COUNT_SUBSCRIPTIONS)
    with CaptureQueriesContext(connection) as captured:
        if before:
            before_equivalent(now, overdue, grace_days=GRACE_DAYS)
        else:
            reconcile(now, BATCH_SIZES[0], overdue)
    return len(captured.captured_queries) / overdue


def speed_row(
    db: str, way: str, batch_size: int, now: datetime, sample: int, queries: float
) -> dict[str, Any]:
    """One timed run over the sample, ``way`` being ``"before"`` or ``"new"``, beside the
    raw ceiling on the same rows."""
    from fiko_billing.models import EntryKind, TokenAccount, TokenEntry

    overdue = reset(now, sample)
    if way == "before":
        wall = before_equivalent(now, overdue, grace_days=GRACE_DAYS)
    else:
        wall = reconcile(now, batch_size, overdue)
    # The figure only counts if every ended period's tokens expired.
    expired = TokenEntry.objects.filter(kind=EntryKind.EXPIRY).count()
    if expired != overdue or TokenAccount.objects.filter(balance__gt=0).exists():
        raise RuntimeError(f"{expired} expiries for {overdue} deactivations")
    # One statement is over in milliseconds, so a single commit's latency
    # would swing it; take the median of three.
    raw = statistics.median(raw_ceiling(now, reset(now, sample)) for _ in range(3))
    return {
        "database": db,
        "way": way,
        "batch": batch_size,
        "deactivated": overdue,
        "wall": wall,
        "fiko": overdue / wall,
        "raw": overdue / raw,
        "queries": queries,
    }


def run(db: str, count: int, sample: int) -> dict[str, list[dict[str, Any]]]:
    prepare_schema(db, BENCH_DATABASE)
    now = timezone_now()
    populate(count, sample, now)
    # First, as it also loads every module and cache the runs use, outside tracemalloc.
    queries = queries_per_deactivation(now)
    before_queries = queries_per_deactivation(now, before=True)

    memory: dict[int, dict[str, Any]] = {size: {"database": db} for size in BATCH_SIZES}
    for label, up_to in (("all", None), ("tenth", count // 10)):
        overdue = reset(now, up_to)
        for batch_size in BATCH_SIZES:
            started = time.perf_counter()
            memory[batch_size].update(
                {
                    "batch": batch_size,
                    f"peak_{label}": peak_memory(now, batch_size, overdue),
                    f"overdue_{label}": overdue,
                }
            )
            if up_to is None:
                memory[batch_size]["read"] = overdue / (time.perf_counter() - started)

    speed = [speed_row(db, "before", BATCH_SIZES[0], now, sample, before_queries)]
    speed += [speed_row(db, "new", size, now, sample, queries) for size in BATCH_SIZES]
    return {"speed": speed, "memory": list(memory.values())}


# --------------------------------------------------------------------------- output


def mib(size: int) -> str:
    return f"{size / 2**20:.1f}"


def speed_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| database | way | batch | deactivated | wall s | fiko deactivated/s "
        "| speed-up | raw ceiling rows/s | ratio (fiko/raw) | queries per deactivation |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    before = {row["database"]: row["fiko"] for row in rows if row["way"] == "before"}
    for row in rows:
        lines.append(
            f"| {row['database']} | {row['way']} | {row['batch']} | {row['deactivated']:,} "
            f"| {row['wall']:.2f} | {row['fiko']:,.0f} "
            f"| {row['fiko'] / before[row['database']]:.1f}x "
            f"| {row['raw']:,.0f} | {row['fiko'] / row['raw']:.4f} | {row['queries']:.1f} |"
        )
    return "\n".join(lines)


def memory_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| database | batch | overdue (N) | peak MiB (N) | overdue (N/10) | peak MiB (N/10) "
        "| dry-run rows/s (N) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['database']} | {row['batch']} | {row['overdue_all']:,} "
            f"| {mib(row['peak_all'])} | {row['overdue_tenth']:,} | {mib(row['peak_tenth'])} "
            f"| {row['read']:,.0f} |"
        )
    return "\n".join(lines)


def run_one(db: str, count: int, sample: int) -> tuple[dict[str, list[dict[str, Any]]], str]:
    with django_on(db, BENCH_DATABASE):
        rows = run(db, count, sample)
        return rows, describe_server(db, BENCH_DATABASE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.check_subscription_status",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--count",
        type=int,
        default=50_000,
        help="subscriptions created, half of them overdue (default 50000)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=1_000,
        help="subscriptions the timed runs deactivate half of (default 1000)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the rows as JSON instead of a table"
    )
    args = parser.parse_args(argv)
    if not QUERY_COUNT_SUBSCRIPTIONS <= args.sample <= args.count:
        parser.error(f"--sample must be between {QUERY_COUNT_SUBSCRIPTIONS} and --count")
    if args.count < 10 * QUERY_COUNT_SUBSCRIPTIONS:
        parser.error(f"--count must be at least {10 * QUERY_COUNT_SUBSCRIPTIONS}")

    started = time.perf_counter()
    found, server = measure_each(
        args.db,
        lambda db: run_one(db, args.count, args.sample),
        module="benchmarks.check_subscription_status",
        options=["--count", str(args.count), "--sample", str(args.sample)],
        key="rows",
    )
    speed = [row for part in found for row in part["speed"]]
    memory = [row for part in found for row in part["memory"]]
    if args.json:
        print_json("rows", {"speed": speed, "memory": memory}, server)
        return
    print(
        f"fiko-billing check_subscription_status: check_subscriptions(gateway=None), "
        f"{args.count:,} subscriptions ({args.count // 2:,} overdue); {versions()}; {server}"
    )
    print()
    print(f"Deactivating the overdue half of the first {args.sample:,} subscriptions:")
    print()
    print(speed_table(speed))
    print()
    print(f"Peak Python memory of a dry run over N = {args.count:,} and N/10 subscriptions:")
    print()
    print(memory_table(memory))
    print()
    print(f"total time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
