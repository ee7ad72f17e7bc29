import posthog
from django.apps import AppConfig
from django.conf import settings


class BoardsConfig(AppConfig):
    name = "boards"

    def ready(self) -> None:
        # PostHog's Django setup: the module-level client, used by the views (posthog.capture)
        # and by PosthogContextMiddleware's request context.
        posthog.api_key = settings.POSTHOG_KEY
        posthog.host = settings.POSTHOG_HOST
