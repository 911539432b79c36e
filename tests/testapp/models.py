from django.db import models


class Organisation(models.Model):
    """A subscriber that is not a user: the suite runs once with it as the payer."""

    name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)

    def __str__(self) -> str:
        return self.name
