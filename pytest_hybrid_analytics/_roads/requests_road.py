"""The ``requests`` road: the sync ``posthog`` client and any hand-rolled ``requests`` sender.

The only module that touches ``requests``' internals. It patches
``requests.adapters.HTTPAdapter.send`` on the class, as ``responses`` does: every session and
every thread is covered, the ``posthog`` SDK's module-level sessions and consumer threads
included, whatever they are rebuilt into (mounting an adapter on the SDK's private sessions
breaks on ``enable_keep_alive()``, see docs/posthog-python-sdk.md §1.4). Requests the claim
rule does not take go on to the real ``send`` untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_hybrid_analytics._recording.fake_api import FakePostHog
from pytest_hybrid_analytics._roads.hosts import PostHogHosts

__all__ = ["RequestsRoad"]


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        data = body.read()
        return data if isinstance(data, bytes) else str(data).encode("utf-8")
    return b"".join(part if isinstance(part, bytes) else str(part).encode() for part in body)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _read_timeout(timeout: Any) -> float | None:
    """The read timeout of ``send(timeout=)``: a number, a ``(connect, read)`` pair, or None."""
    if isinstance(timeout, tuple):
        timeout = timeout[1] if len(timeout) > 1 else None
    return float(timeout) if isinstance(timeout, int | float) else None


class RequestsRoad:
    """Claims PostHog's ``requests`` traffic for the fake API while installed."""

    def __init__(self, hosts: PostHogHosts, target: Callable[[], FakePostHog]) -> None:
        self._hosts = hosts
        self._target = target
        self._original: Any = None
        self._patched: Any = None

    def install(self) -> None:
        """Patch ``HTTPAdapter.send``. Idempotent, and it mends: when another patcher put
        back the ``send`` it saw before ours (``responses`` stopping after it started on top of
        a later install), the road is installed again over what is there now."""
        from requests.adapters import HTTPAdapter

        if self._original is not None and HTTPAdapter.send is self._patched:
            return
        original = HTTPAdapter.send
        road = self

        def send(adapter: HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
            if not road._hosts.claims(request.url, request.headers):
                return original(adapter, request, *args, **kwargs)
            return road._answer(adapter, request, kwargs.get("timeout"))

        send.__wrapped__ = original  # type: ignore[attr-defined]
        HTTPAdapter.send = send  # type: ignore[method-assign,assignment]
        self._original = original
        self._patched = send

    def uninstall(self) -> None:
        """Put the real ``send`` back."""
        if self._original is None:
            return
        from requests.adapters import HTTPAdapter

        if HTTPAdapter.send is self._patched:  # else another patch is on top: leave it
            HTTPAdapter.send = self._original  # type: ignore[method-assign]
        self._original = self._patched = None

    def _answer(self, adapter: Any, request: Any, timeout: Any) -> Any:
        from requests.exceptions import ConnectionError, ReadTimeout
        from requests.models import Response
        from requests.structures import CaseInsensitiveDict

        answer = self._target().handle(
            request.method or "GET",
            request.url,
            dict(request.headers),
            _body_bytes(request.body),
            transport="requests",
            timeout=_read_timeout(timeout),
        )
        if answer.failure == "closed":
            raise ConnectionError(
                "('Connection aborted.', RemoteDisconnected('Remote end closed connection "
                "without response'))",
                request=request,
            )
        if answer.failure == "timeout":
            raise ReadTimeout(
                f"HTTPConnectionPool: Read timed out. (read timeout={_read_timeout(timeout)})",
                request=request,
            )
        response = Response()
        response.status_code = answer.status
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.body
        response.encoding = "utf-8"
        response.url = request.url
        response.request = request
        response.reason = _reason(answer.status)
        response.connection = adapter
        return response
