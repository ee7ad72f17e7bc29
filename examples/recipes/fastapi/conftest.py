"""Coursely served for real by uvicorn in a thread of the test process (``live_url``): its
``AsyncPosthog`` runs on uvicorn's event loop, and the plugin claims its requests (httpx, to
PostHog cloud) with no setting. Server-only tests use FastAPI's ``TestClient`` instead."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import uvicorn
from app import create_app
from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    """The app under uvicorn in a thread; its URL. Module-scoped: one app (one posthog client)
    per module, never alive beside another module's ``TestClient`` app."""
    # The socket listens before uvicorn starts: the first request waits in its backlog until
    # the app is up, so there is nothing to wait for here.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True  # uvicorn runs the lifespan's end: AsyncPosthog.shutdown()
    thread.join()
    sock.close()


@pytest.fixture
def client() -> Iterator[TestClient]:
    """FastAPI's TestClient, lifespan included (``with``): a fresh app and posthog client."""
    with TestClient(create_app()) as client:
        yield client
