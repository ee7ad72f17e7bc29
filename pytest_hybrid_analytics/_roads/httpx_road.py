"""The ``httpx`` road: ``AsyncPosthog`` and hand-rolled ``httpx`` senders, through respx.

The only module that touches respx. One session-wide respx router claims PostHog's requests
(the same rule as the ``requests`` road) for the fake API, sync and async clients alike. It
cooperates with a test's own ``respx_mock``: a request it does not claim, or one a route of a
router started after it matches (the user's mock wins in its scope), is left to those routers,
and passes through to the network only when there are none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_hybrid_analytics._recording.fake_api import FakePostHog
from pytest_hybrid_analytics._roads.hosts import PostHogHosts

__all__ = ["HttpxRoad"]


class HttpxRoad:
    """Claims PostHog's ``httpx`` traffic for the fake API while installed."""

    def __init__(self, hosts: PostHogHosts, target: Callable[[], FakePostHog]) -> None:
        self._hosts = hosts
        self._target = target
        self._router: Any = None

    def install(self) -> None:
        """Start the respx router (idempotent)."""
        if self._router is not None:
            return
        import httpx
        import respx

        router = respx.MockRouter(assert_all_called=False, assert_all_mocked=True)

        def later_routers() -> list[Any]:
            mocker = router.Mocker
            routers = list(mocker.routers) if mocker is not None else []
            return routers[routers.index(router) + 1 :] if router in routers else []

        def routed_by_a_later_router(request: httpx.Request) -> bool:
            # A test's own respx_mock (started after this router) that routes this very
            # request wins inside its scope: its route is the user's mock.
            return any(
                route.pattern is None or route.pattern.match(request)
                for later in later_routers()
                for route in later.routes
            )

        def route(request: httpx.Request) -> httpx.Response | httpx.Request | None:
            if self._hosts.claims(str(request.url), request.headers) and not (
                routed_by_a_later_router(request)
            ):
                read = (request.extensions.get("timeout") or {}).get("read")
                answer = self._target().handle(
                    request.method,
                    str(request.url),
                    dict(request.headers),
                    request.read(),
                    transport="httpx",
                    timeout=float(read) if isinstance(read, int | float) else None,
                )
                if answer.failure == "closed":
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response.", request=request
                    )
                if answer.failure == "timeout":
                    raise httpx.ReadTimeout("timed out", request=request)
                return httpx.Response(
                    answer.status, headers=answer.headers, content=answer.body, request=request
                )
            # Not PostHog's, or a later router's: a router a test started after this one
            # decides (None means "no match here"); with none, it passes through to the network.
            return None if later_routers() else request

        # One route: respx merges routes with equal patterns, so a second catch-all would
        # replace the first.
        router.route(name="posthog").mock(side_effect=route)
        router.start()
        self._router = router

    def forget_calls(self) -> None:
        """Drop respx's call log (it would otherwise keep every request of the session)."""
        if self._router is not None:
            self._router.calls.clear()
            for route in self._router.routes:
                route.calls.clear()

    def uninstall(self) -> None:
        """Stop the router."""
        if self._router is not None:
            self._router.stop(quiet=True)
            self._router = None
