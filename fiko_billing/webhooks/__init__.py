"""Stripe webhooks: verify, store once, process once, in any order."""
