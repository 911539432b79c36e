"""``python -m fiko_billing.emulator``: run the local Stripe emulator until interrupted."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from fiko_billing.api_version import PINNED_API_VERSION
from fiko_billing.emulator.api import DEFAULT_API_KEYS, check_api_keys
from fiko_billing.emulator.billing_settings import (
    AFTER_RETRIES,
    CANCELED,
    RENEWAL_DRAFT_SECONDS,
    SMART_RETRIES,
    BillingSettings,
)
from fiko_billing.emulator.emulator import Emulator


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fiko_billing.emulator",
        description="A stateful local Stripe: API, hosted Checkout and Portal, webhooks.",
    )
    parser.add_argument("--port", type=int, default=12111, help="port to listen on (12111)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--public-url", help="base URL of hosted pages if not http://host:port")
    parser.add_argument("--webhook-url", help="deliver every event to this URL")
    parser.add_argument("--webhook-secret", help="whsec_... secret that signs those deliveries")
    parser.add_argument("--state", help="JSON file: loaded at start, saved on every change")
    parser.add_argument(
        "--retry-delays",
        default="1,5,25",
        help="seconds between webhook attempts, comma separated (1,5,25)",
    )
    parser.add_argument("--max-attempts", type=int, default=4, help="webhook attempts (4)")
    parser.add_argument(
        "--invoice-finalize-delay",
        type=int,
        default=RENEWAL_DRAFT_SECONDS,
        help="seconds a renewal invoice stays a draft before it is charged (3600, as Stripe)",
    )
    parser.add_argument(
        "--payment-retries",
        default=",".join(f"{d:g}" for d in SMART_RETRIES),
        help="days after a first failed payment when it is tried again "
        f"({','.join(f'{d:g}' for d in SMART_RETRIES)}: Smart Retries' 8 attempts in 2 weeks)",
    )
    parser.add_argument(
        "--after-retries",
        choices=AFTER_RETRIES,
        default=CANCELED,
        help="what a subscription becomes when its retries are used up (canceled)",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="a secret key to accept (repeat for several; default sk_test_emulator and "
        "rk_test_emulator); any other key gets a 401",
    )
    parser.add_argument("--seed", type=int, help="seed for object ids (repeatable runs)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret")
    try:
        args.retry_delays = tuple(float(d) for d in args.retry_delays.split(",") if d.strip())
    except ValueError:
        parser.error("--retry-delays takes numbers separated by commas, e.g. 1,5,25")
    try:
        args.payment_retries = tuple(
            float(d) for d in args.payment_retries.split(",") if d.strip()
        )
        BillingSettings(payment_retries=args.payment_retries)
    except ValueError:
        parser.error("--payment-retries takes increasing days separated by commas, e.g. 3,5,7")
    args.api_keys = tuple(args.api_keys or DEFAULT_API_KEYS)
    try:
        check_api_keys(args.api_keys)
    except ValueError as problem:
        parser.error(f"--api-key: {problem}")
    return args


def build(args: argparse.Namespace) -> Emulator:
    return Emulator(
        args.port,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        state_file=args.state,
        host=args.host,
        public_url=args.public_url,
        seed=args.seed,
        retry_delays=args.retry_delays,
        max_attempts=args.max_attempts,
        invoice_finalize_delay=args.invoice_finalize_delay,
        payment_retries=args.payment_retries,
        after_retries=args.after_retries,
        api_keys=args.api_keys,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    try:
        emulator = build(args)
    except ValueError as problem:
        print(f"The Stripe emulator cannot start: {problem}", file=sys.stderr, flush=True)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    url = emulator.start()
    print(f"Stripe emulator (API {PINNED_API_VERSION}) listening on {url}", flush=True)
    if args.webhook_url:
        print(f"Delivering events to {args.webhook_url}", flush=True)
    try:
        stop.wait()
    finally:
        emulator.stop()
        print("Stripe emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
