"""What the benchmarks share: Django on a benchmark's own database, a new schema
per run, threads timed together, and one process per database."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test"

T = TypeVar("T")


# --------------------------------------------------------------------------- Django


@contextmanager
def django_on(
    db: str, name: str, adjust: Callable[[dict[str, Any]], None] | None = None
) -> Iterator[None]:
    """Django configured from tests.settings, pointed at the benchmark's own database:
    a SQLite file in a temporary directory, or the PostgreSQL database ``name``.

    ``adjust`` may change the settings before they are applied.
    """
    import django
    from django.conf import settings
    from django.db import connections

    from tests import settings as test_settings

    with tempfile.TemporaryDirectory(prefix="fiko-bench-") as workdir:
        values = {key: getattr(test_settings, key) for key in dir(test_settings) if key.isupper()}
        values["DATABASES"] = {"default": database_settings(db, Path(workdir), name)}
        values["DEBUG"] = False
        if adjust is not None:
            adjust(values)
        settings.configure(**values)
        django.setup()
        try:
            yield
        finally:
            connections.close_all()


def database_settings(db: str, workdir: Path, name: str) -> dict[str, Any]:
    if db == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(workdir / f"{name}.sqlite3"),
            "OPTIONS": {"timeout": 30},
        }
    import dj_database_url

    url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    ensure_postgres_database(url, name)
    database = dict(dj_database_url.parse(url, conn_max_age=0))
    database["NAME"] = name
    return database


def ensure_postgres_database(url: str, name: str) -> None:
    """Create the database ``name`` on the server of ``url`` if it is missing."""
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
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if found is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def prepare_schema(db: str, name: str) -> None:
    """Migrate a new, empty schema."""
    from django.core.management import call_command
    from django.db import connection

    if db == "postgres":
        # A new schema rather than a flush: a run with another subscriber model
        # than the last one needs foreign keys to that model.
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database()")
            (current,) = cursor.fetchone()
            if current != name:
                raise RuntimeError(f"connected to {current!r}, not the benchmark's {name!r}")
            cursor.execute("DROP SCHEMA public CASCADE")
            cursor.execute("CREATE SCHEMA public")
    call_command("migrate", verbosity=0, interactive=False)


def new_subscribers(count: int, username_prefix: str, name_prefix: str) -> list[Any]:
    """``count`` unsaved subscribers of whichever model FIKO_BILLING_SUBSCRIBER_MODEL names."""
    from django.contrib.auth import get_user_model

    from fiko_billing.subscribers import get_subscriber_model

    model = get_subscriber_model()
    if model is get_user_model():
        return [
            model(username=f"{username_prefix}{n}", email=f"{username_prefix}{n}@example.com")
            for n in range(count)
        ]
    return [model(name=f"{name_prefix}{n}") for n in range(count)]


def describe_server(db: str, name: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if db == "sqlite":
            cursor.execute("SELECT sqlite_version()")
            return f"SQLite {cursor.fetchone()[0]} (file in a temporary directory)"
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0]} (database {name})"


def versions() -> str:
    import django

    return f"Python {platform.python_version()}, Django {django.get_version()}"


# --------------------------------------------------------------------------- timing


def threaded_ops_per_second(operation: Callable[[], object], ops: int, threads: int) -> float:
    """Run ``ops`` operations split over ``threads`` new threads, each with its own
    connection, started together; return operations per second."""
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


# --------------------------------------------------------------------------- processes


def measure_each(
    choice: str,
    here: Callable[[str], tuple[T, str]],
    *,
    module: str,
    options: list[str],
    key: str,
) -> tuple[list[T], str]:
    """The results of each database of ``--db choice``, and their servers described.

    One database is measured in this process; with both, each gets a fresh process
    (Django is configured once per process) running ``module`` with ``options``
    and ``--json``, whose output holds the result under ``key``.
    """
    databases = ["sqlite", "postgres"] if choice == "both" else [choice]
    results: list[T] = []
    servers: list[str] = []
    for db in databases:
        if len(databases) == 1:
            result, server = here(db)
        else:
            result, server = run_in_child(module, db, options, key)
        results.append(result)
        servers.append(server)
    return results, "; ".join(servers)


def run_in_child(module: str, db: str, options: list[str], key: str) -> tuple[Any, str]:
    command = [sys.executable, "-m", module, "--db", db, *options, "--json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {db} benchmark failed (exit status {done.returncode})")
    result = json.loads(done.stdout)
    return result[key], result["server"]


def print_json(key: str, result: object, server: str) -> None:
    """The output ``run_in_child`` reads."""
    print(json.dumps({key: result, "server": server}))
