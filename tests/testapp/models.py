from django.conf import settings
from django.db import models


class Organisation(models.Model):
    """A subscriber that is not a user: the suite runs once with it as the payer."""

    name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """Which organisation a user acts for: what a session resolver looks up."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation}"
