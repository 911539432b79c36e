"""Load the demo catalogue and the demo superuser; running it again changes nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from demo.catalogue import load_catalogue
from demo.hints import DEMO_USERNAME


class Command(BaseCommand):
    help = (
        "Create or update the demo plans and token packages with their USD and EUR prices, "
        f"and create the superuser {DEMO_USERNAME!r} if it is missing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        load_catalogue(self.stdout.write)
