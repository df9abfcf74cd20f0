from django.contrib import admin
from django.urls import path

from aiworld import api, views

admin.site.site_header = "aiworld — game master console"
admin.site.site_title = "aiworld"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("api/v1/<str:name>", api.operation, name="api-operation"),
]
