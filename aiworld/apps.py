from django.apps import AppConfig


class AiworldConfig(AppConfig):
    name = "aiworld"
    label = "aiworld"
    verbose_name = "aiworld"
    default_auto_field = "django.db.models.BigAutoField"
