from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FikoBillingConfig(AppConfig):
    name = "fiko_billing"
    label = "fiko_billing"
    verbose_name = _("Billing")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from fiko_billing import checks  # noqa: F401 - registers the system checks
        from fiko_billing.services import events
        from fiko_billing.webhooks.handlers import HANDLERS

        events.registry.handlers.install(HANDLERS)
