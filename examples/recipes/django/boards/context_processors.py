from typing import Any

from django.conf import settings
from django.http import HttpRequest


def posthog(request: HttpRequest) -> dict[str, Any]:
    """What the snippet in ``base.html`` needs: the same key and host as the server SDK."""
    return {"posthog_key": settings.POSTHOG_KEY, "posthog_host": settings.POSTHOG_HOST}
