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
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "fiko_bench"
QUERY_COUNT_OPS = 50
WARM_UP_OPS = 20


# --------------------------------------------------------------------------- setup


def configure_django(db: str, workdir: Path) -> None:
    """Configure Django from tests.settings, pointed at the benchmark's own database."""
    import dj_database_url
    import django
    from django.conf import settings

    from tests import settings as test_settings

    values = {name: getattr(test_settings, name) for name in dir(test_settings) if name.isupper()}
    if db == "sqlite":
        database = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(workdir / "ledger.sqlite3"),
            "OPTIONS": {"timeout": 30},
        }
    else:
        url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
        ensure_postgres_database(url)
        database = dj_database_url.parse(url, conn_max_age=0)
        database["NAME"] = BENCH_DATABASE
    values["DATABASES"] = {"default": database}
    values["DEBUG"] = False
    settings.configure(**values)
    django.setup()


def ensure_postgres_database(url: str) -> None:
    """Create the benchmark's database on the server of ``url`` if it is missing."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    params = dj_database_url.parse(url)
    with psycopg.connect(
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        dbname=params["NAME"],
        autocommit=True,
    ) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DATABASE]
        ).fetchone()
        if found is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DATABASE)))


def prepare_schema(db: str) -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    if db == "postgres":
        # Each run starts from empty tables in the benchmark's own database.
        call_command("flush", verbosity=0, interactive=False)


# --------------------------------------------------------------------------- timing


def ops_per_second(operation: Callable[[], object], ops: int, threads: int) -> float:
    """Run ``ops`` operations split over ``threads`` threads; return operations per second."""
    from django.db import connection

    per_thread = ops // threads
    barrier = threading.Barrier(threads + 1)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            connection.ensure_connection()
            barrier.wait(timeout=60)
            for _ in range(per_thread):
                operation()
        except BaseException as exc:
            failures.append(exc)
            barrier.abort()
        finally:
            connection.close()

    if threads == 1:
        connection.ensure_connection()
        start = time.perf_counter()
        for _ in range(per_thread):
            operation()
        return per_thread / (time.perf_counter() - start)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    barrier.wait(timeout=60)
    start = time.perf_counter()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} benchmark thread(s) failed") from failures[0]
    return per_thread * threads / elapsed


def run(db: str, ops: int, threads: int) -> list[dict[str, Any]]:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from fiko_billing import tokens
    from fiko_billing.models import TokenAccount, TokenEntry
    from tests.factories import SubscriberFactory

    prepare_schema(db)
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


def describe_server(db: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if db == "sqlite":
            cursor.execute("SELECT sqlite_version()")
            return f"SQLite {cursor.fetchone()[0]} (file in a temporary directory)"
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0]} (database {BENCH_DATABASE})"


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
    with tempfile.TemporaryDirectory(prefix="fiko-bench-") as workdir:
        configure_django(db, Path(workdir))
        rows = run(db, ops, threads)
        server = describe_server(db)
        from django.db import connections

        connections.close_all()
    return rows, server


def run_in_child(db: str, ops: int, threads: int) -> tuple[list[dict[str, Any]], str]:
    """Each database gets a fresh process: Django is configured once per process."""
    command = [sys.executable, "-m", "benchmarks.ledger_consume", "--db", db]
    command += ["--ops", str(ops), "--threads", str(threads), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {db} benchmark failed (exit status {done.returncode})")
    result = json.loads(done.stdout)
    return result["rows"], result["server"]


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
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    rows: list[dict[str, Any]] = []
    servers: list[str] = []
    for db in databases:
        if len(databases) == 1:
            found, server = run_one(db, args.ops, args.threads)
        else:
            found, server = run_in_child(db, args.ops, args.threads)
        rows += found
        servers.append(server)

    if args.json:
        print(json.dumps({"rows": rows, "server": "; ".join(servers)}))
        return
    import django

    print(
        f"fiko-billing ledger: tokens.consume(subscriber, 1), {args.ops} operations "
        f"per measurement; Python {platform.python_version()}, Django {django.get_version()}; "
        + "; ".join(servers)
    )
    print()
    print(table(rows))
    print()
    print(f"total time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
