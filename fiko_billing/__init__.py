"""Stripe billing for Django: plans, token packages, Checkout, Portal, webhooks, a token ledger."""

__version__ = "0.1.0.dev0"
