from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=100)
    price_cents = models.PositiveIntegerField()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name
