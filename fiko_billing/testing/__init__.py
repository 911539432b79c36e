"""Helpers for tests, ours and those of projects that use fiko_billing.

``fiko_billing.testing.payloads`` builds Stripe objects in the shape of the
pinned API version, for stub servers and webhook tests, from the emulator's
own shape builders; ``fiko_billing.testing.conformance`` checks requests and
objects against the installed stripe SDK's types.
"""
