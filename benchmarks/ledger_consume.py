"""Throughput of ``tokens.consume`` beside the raw ceiling of the same database.

    python -m benchmarks.ledger_consume [--db sqlite|postgres|both] [--ops N] [--threads 8]

For each database it credits one subscriber enough tokens, then measures
``tokens.consume(subscriber, 1)`` per second in one thread and in ``--threads``
threads spending from the same subscriber. Beside each figure it measures the
ceiling of the same database through the same Django connection: a bare
transaction running ``UPDATE <account table> SET balance = balance - 1 WHERE
id = %s AND balance >= 1`` on another account row. A separate pass counts the
queries of one consume. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
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
QUERY_COUNT_OPS = 50
WARM_UP_OPS = 20


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


def run(db: str, ops: int, threads: int) -> list[dict[str, Any]]:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from fiko_billing import tokens
    from fiko_billing.models import TokenAccount, TokenEntry
    from tests.factories import SubscriberFactory

    prepare_schema(db, BENCH_DATABASE)
    budget = 2 * ops + QUERY_COUNT_OPS + WARM_UP_OPS
    spender = SubscriberFactory()
    tokens.credit(spender, budget, kind="purchase", reference="bench-credit")
    ceiling_account = TokenAccount.objects.create(
        subscriber=SubscriberFactory(), balance=2 * ops + WARM_UP_OPS
    )

    def consume() -> None:
        tokens.consume(spender, 1)

    table = connection.ops.quote_name(TokenAccount._meta.db_table)
    statement = f"UPDATE {table} SET balance = balance - 1 WHERE id = %s AND balance >= 1"

    def raw() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [ceiling_account.pk])
            if cursor.rowcount != 1:
                raise RuntimeError("the ceiling account ran out of balance")

    for _ in range(WARM_UP_OPS):
        consume()
        raw()

    with CaptureQueriesContext(connection) as captured:
        for _ in range(QUERY_COUNT_OPS):
            consume()
    queries = len(captured.captured_queries) / QUERY_COUNT_OPS

    rows = []
    for count in sorted({1, threads}):
        fiko = ops_per_second(consume, ops, count)
        ceiling = ops_per_second(raw, ops, count)
        rows.append(
            {
                "database": db,
                "threads": count,
                "fiko": fiko,
                "raw": ceiling,
                "queries": queries,
            }
        )

    # The figures only count if the ledger stayed exact.
    spent = TokenEntry.objects.filter(kind="consume").count()
    stored = TokenAccount.objects.get(subscriber_id=spender.pk).balance
    if stored != budget - spent or tokens.balance(spender) != stored:
        raise RuntimeError(f"ledger drift: balance {stored}, expected {budget - spent}")
    return rows


# --------------------------------------------------------------------------- output


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| database | threads | fiko consume ops/s | raw ceiling ops/s | ratio (fiko/raw) "
        "| queries per consume |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        queries = row["queries"]
        shown = f"{queries:.0f}" if queries == int(queries) else f"{queries:.1f}"
        lines.append(
            f"| {row['database']} | {row['threads']} | {row['fiko']:,.0f} | {row['raw']:,.0f} "
            f"| {row['fiko'] / row['raw']:.2f} | {shown} |"
        )
    return "\n".join(lines)


def run_one(db: str, ops: int, threads: int) -> tuple[list[dict[str, Any]], str]:
    with django_on(db, BENCH_DATABASE):
        rows = run(db, ops, threads)
        return rows, describe_server(db, BENCH_DATABASE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ledger_consume", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--ops", type=int, default=500, help="operations per measurement (default 500)"
    )
    parser.add_argument("--threads", type=int, default=8, help="parallel threads (default 8)")
    parser.add_argument(
        "--json", action="store_true", help="print the rows as JSON instead of a table"
    )
    args = parser.parse_args(argv)
    if args.ops < args.threads or args.threads < 1:
        parser.error("--ops must be at least --threads, and --threads at least 1")

    started = time.perf_counter()
    found, server = measure_each(
        args.db,
        lambda db: run_one(db, args.ops, args.threads),
        module="benchmarks.ledger_consume",
        options=["--ops", str(args.ops), "--threads", str(args.threads)],
        key="rows",
    )
    rows = [row for part in found for row in part]
    if args.json:
        print_json("rows", rows, server)
        return
    print(
        f"fiko-billing ledger: tokens.consume(subscriber, 1), {args.ops} operations "
        f"per measurement; {versions()}; {server}"
    )
    print()
    print(table(rows))
    print()
    print(f"total time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
