"""Where a webhook delivery's time goes: the benchmark's mix, profiled in process.

    python -m benchmarks.profile_webhooks [--db sqlite|postgres] [--events N] [--top N]

It builds the same world and mix as ``benchmarks.webhooks`` and posts every
delivery through Django's request handling (the test client: the middleware,
the view, the service, the commit; no socket) twice: once timed, once under
``cProfile``, beside the minimal webhook view of the second ceiling. The
profile's time is split into shares by where it was spent (the database
driver waiting for the server, the ORM compiling queries and building rows,
the package's own code, the rest of Django and Python), then the functions
with the most time of their own are listed. Profiling slows Python down, so
the shares lean towards Python; the timed pass gives the real cost per
delivery. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks._setup import django_on, prepare_schema, versions
from benchmarks.webhooks import (
    BENCH_DATABASE,
    MINIMAL_PATH,
    WEBHOOK_PATH,
    Delivery,
    build_world,
    create_catalogue,
    deliveries,
    minimal_queues,
    server_settings,
)

# Where a function's own time is counted, by the file it is in (first match wins).
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("database driver (round trips, server time)", ("/psycopg/", "sqlite3", "_sqlite3")),
    ("ORM: compiling queries", ("/django/db/models/sql/", "/django/db/models/expressions")),
    ("ORM: models, querysets, fields", ("/django/db/",)),
    ("fiko-billing's own code", ("/fiko_billing/",)),
    ("Django request handling and the rest of Django", ("/django/",)),
    ("JSON, hashing, copying and other Python", ("",)),
]


def category(filename: str) -> str:
    for name, parts in CATEGORIES:
        if any(part in filename for part in parts):
            return name
    return CATEGORIES[-1][0]  # pragma: no cover - the last category matches everything


def post_all(client: Any, queue: list[Delivery], path: str) -> None:
    for item in queue:
        response = client.post(
            path,
            data=item.body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=item.signature,
        )
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.content!r}")


def timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def shares(stats: pstats.Stats) -> list[tuple[str, float]]:
    totals: dict[str, float] = {}
    for (filename, _line, _name), row in stats.stats.items():  # type: ignore[attr-defined]
        own = row[2]
        totals[category(filename)] = totals.get(category(filename), 0.0) + own
    whole = sum(totals.values()) or 1.0
    return [(name, totals.get(name, 0.0) / whole) for name, _ in CATEGORIES]


def profile(db: str, total: int, top: int) -> None:
    from django.test import Client

    from tests.stripe_stub import StubServer

    with (
        StubServer() as stub,
        django_on(db, BENCH_DATABASE, lambda values: server_settings(values, stub.url)),
    ):
        prepare_schema(db, BENCH_DATABASE)
        now = int(time.time())
        catalogue = create_catalogue()
        rng = random.Random(20310310)
        client = Client(HTTP_HOST="127.0.0.1")

        def world_queue(tag: str) -> list[Delivery]:
            return deliveries(build_world(tag, total, catalogue, now), 1, rng)[0]

        queue = world_queue("timed")
        minimal = minimal_queues([queue])[0]
        fiko_s = timed(lambda: post_all(client, queue, WEBHOOK_PATH))
        minimal_s = timed(lambda: post_all(client, minimal, MINIMAL_PATH))

        profiled = world_queue("profiled")
        profiler = cProfile.Profile()
        profiler.enable()
        post_all(client, profiled, WEBHOOK_PATH)
        profiler.disable()
        if stub.requests:
            raise RuntimeError("Stripe was called while processing events")

    count = len(queue)
    print(f"fiko-billing webhook profile: {count} deliveries of the benchmark's mix; {versions()}")
    print()
    print("| measured | per delivery (ms) | deliveries/s |")
    print("|---|---:|---:|")
    print(f"| fiko-billing's endpoint | {fiko_s / count * 1000:.2f} | {count / fiko_s:,.0f} |")
    print(f"| minimal view | {minimal_s / count * 1000:.2f} | {count / minimal_s:,.0f} |")
    print()
    stats = pstats.Stats(profiler)
    print("| where the profiled time went (own time) | share |")
    print("|---|---:|")
    for name, share in shares(stats):
        print(f"| {name} | {share:.0%} |")
    print()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    print(f"Functions with the most time of their own (top {top}):")
    print("\n".join(lines[start:]).rstrip())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.profile_webhooks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument(
        "--events", type=int, default=600, help="deliveries per pass (default 600)"
    )
    parser.add_argument("--top", type=int, default=25, help="functions listed (default 25)")
    args = parser.parse_args(argv)
    if not 100 <= args.events <= 100_000:
        parser.error("--events must be between 100 and 100000")
    if not 1 <= args.top <= 500:
        parser.error("--top must be between 1 and 500")
    profile(args.db, args.events, args.top)


if __name__ == "__main__":
    main(sys.argv[1:])
