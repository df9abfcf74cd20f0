from django.db import models


class DeadLetter(models.Model):
    """A message or request the farm could not process, kept whole for a GM or developer to inspect.

    Written by the task layer for permanent failures (bad payloads); nothing else of the batch or
    queue is lost because of it.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    queue = models.CharField(max_length=40, blank=True)
    task_name = models.CharField(max_length=200, db_index=True)
    task_id = models.CharField(max_length=200, blank=True, db_index=True)
    source = models.CharField(max_length=200, blank=True, help_text="map-server id or API client, when known")
    error_code = models.CharField(max_length=60, db_index=True)
    error_message = models.TextField()
    payload = models.TextField(help_text="the payload as received (truncated at 1 MB)")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["resolved_at", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.task_name} {self.error_code} @ {self.created_at:%Y-%m-%d %H:%M:%S}"
