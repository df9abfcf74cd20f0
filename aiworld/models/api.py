"""Per-server API keys for the JSON HTTP API used by web tools."""

from django.db import models


class ApiKey(models.Model):
    name = models.CharField(max_length=100)
    server = models.CharField(max_length=64, help_text="the map-server id whose data this key may touch")
    prefix = models.CharField(max_length=12, unique=True, help_text="first characters, to recognise a key")
    key_sha256 = models.CharField(max_length=64, unique=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.server})"
