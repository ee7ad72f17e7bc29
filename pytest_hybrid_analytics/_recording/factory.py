"""Realistic test data, so suites do not hand-write ids and emails.

Events come out in the wire shapes the real SDKs use (posthog-js keeps ``distinct_id`` in
``properties``; server SDKs put it at the top level), as recorded in ``tests/payloads/``.
Seeded, so a test gets the same data on every run.
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pytest_hybrid_analytics._model.events import CapturedEvent, Source
from pytest_hybrid_analytics._model.ingest import parse_capture_request
from pytest_hybrid_analytics._model.wire import encode_body

if TYPE_CHECKING:
    from faker import Faker

__all__ = ["AnalyticsFactory", "FakeUser", "WireRequest"]

_SDK = {
    "js": ("web", "1.449.2", "/e/", "gzip-js"),
    "python": ("posthog-python", "7.91.1", "/batch/", "json"),
    "node": ("posthog-node", "5.70.0", "/batch/", "gzip"),
}


@dataclass(frozen=True, slots=True)
class FakeUser:
    """A person: the anonymous id the browser starts with, and the user id after login."""

    anon_id: str
    user_id: str
    email: str
    name: str


@dataclass(frozen=True, slots=True)
class WireRequest:
    """One ingestion request as an SDK would send it."""

    url: str
    headers: dict[str, str]
    body: bytes


class AnalyticsFactory:
    """Faker-backed builder of users, SDK-shaped events and whole ingestion requests.

    >>> user = analytics_factory.user()
    >>> page = analytics_factory.client_event("$pageview", distinct_id=user.anon_id)
    >>> buy = analytics_factory.server_event("purchase_completed", distinct_id=user.user_id,
    ...                                      properties={"amount": 99.99})
    >>> request = analytics_factory.request([buy], sdk="python")
    >>> analytics.api.handle("POST", request.url, request.headers, request.body).status
    200
    """

    def __init__(self, seed: int | str = 0, *, api_key: str = "phc_test_project_key") -> None:
        from faker import Faker  # faker loads slowly; only suites that use the factory pay

        self.faker: Faker = Faker()
        self.faker.seed_instance(seed)
        self.api_key = api_key
        self._clock = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

    def _uuid(self) -> str:
        return str(_uuid.UUID(int=self.faker.random.getrandbits(128), version=4))

    def _tick(self, timestamp: datetime | None) -> datetime:
        if timestamp is not None:
            return timestamp
        self._clock += timedelta(milliseconds=self.faker.random.randint(50, 900))
        return self._clock

    def user(self) -> FakeUser:
        """A new person with an anonymous browser id and a user id."""
        return FakeUser(
            anon_id=self._uuid(),
            user_id=f"user_{self.faker.random.getrandbits(40):010x}",
            email=self.faker.email(),
            name=self.faker.name(),
        )

    def client_event(
        self,
        event: str,
        *,
        distinct_id: str,
        properties: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        set: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An event as posthog-js puts it on the wire."""
        url = f"https://{self.faker.domain_name()}/{self.faker.uri_path()}"
        props: dict[str, Any] = {
            "token": self.api_key,
            "distinct_id": distinct_id,
            "$device_id": distinct_id,
            "$lib": "web",
            "$lib_version": _SDK["js"][1],
            "$current_url": url,
            "$browser": "Chrome",
            "$os": "Linux",
            "$device_type": "Desktop",
            "$insert_id": self.faker.pystr(min_chars=16, max_chars=16).lower(),
            **(properties or {}),
        }
        raw: dict[str, Any] = {
            "uuid": self._uuid(),
            "event": event,
            "properties": props,
            "timestamp": self._tick(timestamp).isoformat(),
        }
        if set:
            raw["$set"] = dict(set)
        return raw

    def server_event(
        self,
        event: str,
        *,
        distinct_id: str,
        properties: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        sdk: str = "python",
    ) -> dict[str, Any]:
        """An event as a server SDK (``sdk`` ``"python"`` or ``"node"``) puts it on the wire."""
        lib, version, _, _ = _SDK[sdk]
        props = {
            "$lib": lib,
            "$lib_version": version,
            "$is_server": True,
            "$geoip_disable": True,
            **(properties or {}),
        }
        return {
            "event": event,
            "distinct_id": distinct_id,
            "properties": props,
            "timestamp": self._tick(timestamp).isoformat(),
            "uuid": self._uuid(),
        }

    def identify(self, user: FakeUser, *, timestamp: datetime | None = None) -> dict[str, Any]:
        """The ``$identify`` posthog-js sends when ``user`` logs in."""
        return self.client_event(
            "$identify",
            distinct_id=user.user_id,
            timestamp=timestamp,
            properties={
                "$anon_distinct_id": user.anon_id,
                "$user_id": user.user_id,
                "$is_identified": True,
            },
            set={"email": user.email, "name": user.name},
        )

    def request(
        self, events: Iterable[Mapping[str, Any]], *, sdk: str = "js", encoding: str | None = None
    ) -> WireRequest:
        """A whole ingestion request carrying ``events``, as ``sdk`` sends it."""
        _, _, path, default = _SDK[sdk]
        payload = {
            "api_key": self.api_key,
            "batch": list(events),
            "sent_at": self._clock.isoformat(),
        }
        body, headers, query = encode_body(payload, encoding or default)
        host = "https://us.i.posthog.com"
        return WireRequest(f"{host}{path}{query}", headers, body)

    def captured(
        self,
        event: str,
        *,
        source: Source = "client",
        distinct_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
    ) -> CapturedEvent:
        """A ``CapturedEvent`` built through the real decoder, for checks that need no road."""
        distinct_id = distinct_id or self.user().anon_id
        if source == "client":
            raw = self.client_event(
                event, distinct_id=distinct_id, properties=properties, timestamp=timestamp
            )
        else:
            raw = self.server_event(
                event, distinct_id=distinct_id, properties=properties, timestamp=timestamp
            )
        request = self.request([raw], sdk="js" if source == "client" else "python")
        return parse_capture_request(request.url, request.headers, request.body)[0]
