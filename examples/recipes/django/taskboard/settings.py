"""Taskboard's settings: a small Django site with product analytics on both sides.

PostHog: ``POSTHOG_KEY`` and ``POSTHOG_HOST`` serve the server SDK (``boards/apps.py``) and the
posthog-js snippet of the templates (``boards/context_processors.py``); production leaves the
host at PostHog cloud.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-dev-only")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "boards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After the authentication middleware: every event captured while a request runs gets the
    # logged-in user's id (str(user.pk)) as its distinct id, and the request's URL, method,
    # path and user agent as properties.
    "posthog.integrations.django.PosthogContextMiddleware",
]

ROOT_URLCONF = "taskboard.urls"
WSGI_APPLICATION = "taskboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "boards.context_processors.posthog",
            ],
        },
    },
]

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
LOGIN_URL = "login"
USE_TZ = True
TIME_ZONE = "UTC"

POSTHOG_KEY = os.environ.get("POSTHOG_KEY", "phc_Wq4mR8tY2nK6pB1vX9zL3cH7dG5sJ0fA8eUoTi")
POSTHOG_HOST = os.environ.get("POSTHOG_HOST", "https://us.i.posthog.com")
# The middleware only adds context; errors in views are Django's business here.
POSTHOG_MW_CAPTURE_EXCEPTIONS = False
