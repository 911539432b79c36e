"""Throughput of the ledger's writes beside the raw ceiling of the same database.

    python -m benchmarks.ledger_consume [--db sqlite|postgres|both] [--ops N]
                                        [--threads 8] [--repeats 3]

For each database it measures ``tokens.consume``, ``credit``, ``reserve`` and
``settle`` per second in one thread and in ``--threads`` threads working for
the same subscriber, and ``consume`` in ``--threads`` threads each spending
from a subscriber of its own. Beside them, in the same run, it measures the
ceiling of the same database through the same Django connection: a bare
transaction running ``UPDATE <account table> SET balance = balance - 1 WHERE
id = %s AND balance >= 1`` (one row, or one row per thread for the row of
different subscribers). The measurements are interleaved and repeated
``--repeats`` times; the table shows medians. A separate pass counts the
statements of each operation. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks._setup import (
    describe_server,
    django_on,
    measure_each,
    prepare_schema,
    print_json,
    threaded_ops_per_second,
    versions,
)

BENCH_DATABASE = "fiko_bench"
QUERY_COUNT_OPS = 20
WARM_UP_OPS = 20
OPERATIONS = ("consume", "credit", "reserve", "settle")


def ops_per_second(operation: Callable[[], object], ops: int, threads: int) -> float:
    """Run ``ops`` operations split over ``threads`` threads; return operations per second.

    A single thread is this one, on the connection the setup opened."""
    if threads > 1:
        return threaded_ops_per_second(operation, ops, threads)
    from django.db import connection

    connection.ensure_connection()
    start = time.perf_counter()
    for _ in range(ops):
        operation()
    return ops / (time.perf_counter() - start)


def per_thread(
    choices: list[Any], make: Callable[[Any], Callable[[], object]]
) -> Callable[[], object]:
    """An operation that runs ``make(choice)`` with a choice of its own in each thread."""
    local = threading.local()
    handed = itertools.count()

    def operation() -> object:
        if not hasattr(local, "run"):
            local.run = make(choices[next(handed) % len(choices)])
        return local.run()

    return operation


class Workload:
    """The subscribers, account rows and operations one database is measured with."""

    def __init__(self, threads: int, budget: int) -> None:
        from django.db import connection, transaction

        from fiko_billing import tokens
        from fiko_billing.models import TokenAccount
        from tests.factories import SubscriberFactory

        self.tokens = tokens
        self.spender = SubscriberFactory()
        self.spenders = [SubscriberFactory() for _ in range(threads)]
        for subscriber in [self.spender, *self.spenders]:
            tokens.credit(subscriber, budget, kind="purchase", reference="bench-credit")
        self.budget = budget
        self.ceiling_rows = [
            TokenAccount.objects.create(subscriber=SubscriberFactory(), balance=budget).pk
            for _ in range(threads)
        ]
        self.references = itertools.count()
        self.holds: list[Any] = []
        self.lock = threading.Lock()
        table = connection.ops.quote_name(TokenAccount._meta.db_table)
        self.statement = f"UPDATE {table} SET balance = balance - 1 WHERE id = %s AND balance >= 1"
        self._transaction = transaction
        self._connection = connection

    def raw(self, row: int) -> Callable[[], None]:
        def run() -> None:
            with self._transaction.atomic(), self._connection.cursor() as cursor:
                cursor.execute(self.statement, [row])
                if cursor.rowcount != 1:
                    raise RuntimeError("the ceiling account ran out of balance")

        return run

    def consume(self, subscriber: Any) -> Callable[[], object]:
        return lambda: self.tokens.consume(subscriber, 1)

    def credit(self, subscriber: Any) -> Callable[[], object]:
        def run() -> object:
            reference = f"bench-credit-{next(self.references)}"
            return self.tokens.credit(subscriber, 1, kind="purchase", reference=reference)

        return run

    def reserve(self, subscriber: Any) -> Callable[[], object]:
        def run() -> object:
            held = self.tokens.reserve(subscriber, 2)
            with self.lock:
                self.holds.append(held)
            return held

        return run

    def settle(self, _subscriber: Any) -> Callable[[], object]:
        def run() -> object:
            with self.lock:
                held = self.holds.pop()
            return held.settle(1)  # one token used, one given back

        return run

    def operation(self, name: str, subscriber: Any) -> Callable[[], object]:
        make: Callable[[Any], Callable[[], object]] = getattr(self, name)
        return make(subscriber)


def count_statements(work: Workload) -> dict[str, float]:
    """Statements of one operation of each kind, ``BEGIN`` and ``COMMIT`` included."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for name in OPERATIONS:
        operation = work.operation(name, work.spender)
        with CaptureQueriesContext(connection) as captured:
            for _ in range(QUERY_COUNT_OPS):
                operation()
        # The lock and the work travel as two statements in one round trip on PostgreSQL.
        sent = sum(1 + query["sql"].count(";\n") for query in captured.captured_queries)
        counts[name] = sent / QUERY_COUNT_OPS
    return counts


def one_round(work: Workload, ops: int, threads: int) -> list[dict[str, Any]]:
    """One measurement of every row, each right after its ceiling."""
    rows = []
    for count in sorted({1, threads}):
        raw = ops_per_second(work.raw(work.ceiling_rows[0]), ops, count)
        for name in OPERATIONS:
            fiko = ops_per_second(work.operation(name, work.spender), ops, count)
            rows.append({"operation": name, "threads": count, "subscribers": 1, "fiko": fiko})
            rows[-1]["raw"] = raw
    raw = ops_per_second(per_thread(work.ceiling_rows, work.raw), ops, threads)
    fiko = ops_per_second(per_thread(work.spenders, work.consume), ops, threads)
    rows.append({"operation": "consume", "threads": threads, "subscribers": threads, "fiko": fiko})
    rows[-1]["raw"] = raw
    return rows


def medians(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for cells in zip(*rounds, strict=True):
        row = dict(cells[0])
        row["fiko"] = statistics.median(cell["fiko"] for cell in cells)
        row["raw"] = statistics.median(cell["raw"] for cell in cells)
        row["ratio"] = statistics.median(cell["fiko"] / cell["raw"] for cell in cells)
        rows.append(row)
    return rows


def check_ledger(work: Workload) -> None:
    """The figures only count if every ledger stayed exact."""
    from django.db.models import Sum

    from fiko_billing.models import TokenAccount, TokenEntry

    for subscriber in [work.spender, *work.spenders]:
        account = TokenAccount.objects.get(subscriber_id=subscriber.pk)
        total = TokenEntry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"]
        live = TokenEntry.objects.filter(account=account, remaining__gt=0).aggregate(
            total=Sum("remaining")
        )["total"]
        if not account.balance == total == live == work.tokens.balance(subscriber):
            raise RuntimeError(f"ledger drift: balance {account.balance}, entries {total}")


def run(db: str, ops: int, threads: int, repeats: int) -> list[dict[str, Any]]:
    prepare_schema(db, BENCH_DATABASE)
    work = Workload(threads, budget=10 * (repeats + 1) * ops)
    for name in OPERATIONS:
        ops_per_second(work.operation(name, work.spender), WARM_UP_OPS, 1)
    counts = count_statements(work)
    rounds = [one_round(work, ops, threads) for _ in range(repeats)]
    check_ledger(work)
    rows = medians(rounds)
    for row in rows:
        row["database"] = db
        row["statements"] = counts[row["operation"]]
    return rows


# --------------------------------------------------------------------------- output


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| database | operation | threads | subscribers | fiko ops/s | raw ceiling ops/s "
        "| ratio (fiko/raw) | statements |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        count = row["statements"]
        shown = f"{count:.0f}" if count == int(count) else f"{count:.1f}"
        lines.append(
            f"| {row['database']} | {row['operation']} | {row['threads']} "
            f"| {row['subscribers']} | {row['fiko']:,.0f} | {row['raw']:,.0f} "
            f"| {row['ratio']:.2f} | {shown} |"
        )
    return "\n".join(lines)


def run_one(db: str, ops: int, threads: int, repeats: int) -> tuple[list[dict[str, Any]], str]:
    with django_on(db, BENCH_DATABASE):
        rows = run(db, ops, threads, repeats)
        return rows, describe_server(db, BENCH_DATABASE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ledger_consume", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--ops", type=int, default=200, help="operations per measurement (default 200)"
    )
    parser.add_argument("--threads", type=int, default=8, help="parallel threads (default 8)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved rounds, medians shown (default 3)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the rows as JSON instead of a table"
    )
    args = parser.parse_args(argv)
    if args.ops < args.threads or args.threads < 2 or args.repeats < 1:
        parser.error("--ops must be at least --threads, --threads at least 2, --repeats 1")

    started = time.perf_counter()
    found, server = measure_each(
        args.db,
        lambda db: run_one(db, args.ops, args.threads, args.repeats),
        module="benchmarks.ledger_consume",
        options=[
            *("--ops", str(args.ops), "--threads", str(args.threads)),
            *("--repeats", str(args.repeats)),
        ],
        key="rows",
    )
    rows = [row for part in found for row in part]
    if args.json:
        print_json("rows", rows, server)
        return
    print(
        f"fiko-billing ledger: one token per operation, {args.ops} operations per "
        f"measurement, medians of {args.repeats} interleaved rounds; {versions()}; {server}"
    )
    print()
    print(table(rows))
    print()
    print(f"total time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
