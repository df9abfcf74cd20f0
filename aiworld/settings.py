"""Django settings. Every value comes from the environment through aiworld.env (docs/operations.md)."""

from __future__ import annotations

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from aiworld import env
from aiworld.secrets import development_secret

try:
    MODE = env.mode()
    PRODUCTION = MODE == "production"
    BASE_DIR = env.PROJECT_ROOT
    DATA_DIR = env.data_dir()

    SECRET_KEY = env.get_str("SECRET_KEY", required_in_production=True) or development_secret("SECRET_KEY")
    if PRODUCTION and len(SECRET_KEY) < 32:
        raise env.EnvError("SECRET_KEY is too short: use at least 32 random characters in production")
    DEBUG = env.get_bool("DEBUG", default=not PRODUCTION)
    ALLOWED_HOSTS = env.get_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
    if PRODUCTION and not ALLOWED_HOSTS:
        raise env.EnvError("ALLOWED_HOSTS is required when AIWORLD_ENV=production (comma-separated host names)")
    CSRF_TRUSTED_ORIGINS = env.get_list("CSRF_TRUSTED_ORIGINS", [])

    DATABASES = {
        "default": dj_database_url.parse(
            env.database_url(),
            conn_max_age=env.get_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
            conn_health_checks=True,
        )
    }
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.get_int(
        "DATABASE_CONNECT_TIMEOUT", 5, minimum=1
    )
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise env.EnvError("DATABASE_URL must point at PostgreSQL")

    AIWORLD_MODELS_DIR = env.get_str("AIWORLD_MODELS_DIR", str(BASE_DIR / "models"))
    METRICS_TOKEN = env.get_str("METRICS_TOKEN")
    LOG_LEVEL = env.get_str("LOG_LEVEL", "INFO")
except env.EnvError as exc:  # one clear line naming the variable, not a traceback through Django
    raise ImproperlyConfigured(str(exc)) from None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "aiworld.apps.AiworldConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "aiworld.urls"
WSGI_APPLICATION = "aiworld.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names (long cache lifetimes) need collectstatic, which the release step runs; outside
    # production pages must render without it (tests, a shell), so names stay plain there.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage" if PRODUCTION
                    else "whitenoise.storage.CompressedStaticFilesStorage"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if PRODUCTION:
    SESSION_COOKIE_SECURE = env.get_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # one INFO line per LLM HTTP request is noise; every call is in the LLMCall table for GMs
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}
