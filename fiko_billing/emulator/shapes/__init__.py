"""Builders of Stripe objects in the shapes of the pinned API version (endive)."""
