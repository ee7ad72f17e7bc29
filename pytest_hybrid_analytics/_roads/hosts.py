"""Which outgoing requests are PostHog's: the rule every in-process road uses to claim one.

A request is PostHog's when it goes to a PostHog cloud host (``us.i.posthog.com``,
``eu.i.posthog.com``, ``app.posthog.com``, their asset hosts...), when a PostHog SDK sent it
(its ``User-Agent`` or ``PostHog-Sdk-Info`` names ``posthog-…``: a self-hosted ``host=``), or
when it goes to a host the suite declared (``analytics_hosts``). Everything else passes
untouched. Requests to the harness's own loopback collector are never claimed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from pytest_hybrid_analytics._model.wire import header

__all__ = ["PostHogHosts"]

_CLOUD = ("posthog.com",)


class PostHogHosts:
    """The claim rule, with the suite's extra hosts and the addresses it must leave alone.

    >>> hosts = PostHogHosts(extra=["analytics.example.com"])
    >>> hosts.claims("https://eu.i.posthog.com/batch/", {})
    True
    >>> hosts.claims("https://api.stripe.com/v1/charges", {"User-Agent": "python-requests"})
    False
    """

    def __init__(self, extra: Iterable[str] = (), exclude: Iterable[str] = ()) -> None:
        self.extra = {host.lower().strip() for host in extra if host.strip()}
        #: ``host:port`` netlocs never claimed (the collector's own address).
        self.exclude = {netloc.lower() for netloc in exclude}

    def claims(self, url: str, headers: Mapping[str, str] | None) -> bool:
        """Whether a request to ``url`` with ``headers`` is PostHog's."""
        parts = urlsplit(url)
        if parts.netloc.lower() in self.exclude:
            return False
        host = (parts.hostname or "").lower()
        if host in self.extra or any(host == c or host.endswith("." + c) for c in _CLOUD):
            return True
        agent = header(headers, "PostHog-Sdk-Info") or header(headers, "User-Agent")
        return agent.lower().startswith("posthog-")
