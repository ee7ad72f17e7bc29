"""The Notebook, served for real two ways: in a thread of the test process (``live_url``), where
the plugin claims its PostHog cloud traffic with no setting, or in its own process
(``app_process``), pointed at the test's collector through its one ``POSTHOG_HOST`` setting."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from app import create_app
from flask import Flask
from werkzeug.serving import make_server

from pytest_hybrid_analytics import Analytics


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    """The app as production configures it (PostHog cloud host, its real key)."""
    app = create_app({"TESTING": True})
    yield app
    app.extensions["posthog"].shutdown()  # as the app's process would at exit


@pytest.fixture(scope="session")
def live_url(app: Flask) -> Iterator[str]:
    """The app served in a thread; its server SDK runs in the test process."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def app_process(analytics: Analytics) -> Iterator[str]:
    """The app in its own process, as ``python app.py`` runs in production, with its one
    ``POSTHOG_HOST`` setting (the server SDK's ``host`` and the pages' ``api_host``) set to this
    test's collector URL. Its URL is yielded once it listens."""
    env = {
        **os.environ,
        "POSTHOG_HOST": analytics.host,
        # The test cannot flush a client in another process: have it send every 0.1 s.
        "POSTHOG_FLUSH_INTERVAL": "0.1",
    }
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", "0"],
        cwd=Path(__file__).parent,
        env=env,
        stdout=subprocess.PIPE,  # its first line says where it listens; stderr goes to pytest
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "Notebook running on http://127.0.0.1:PORT"
        if not line:
            pytest.fail(f"app.py exited with {process.wait()} before serving (see its stderr)")
        yield line.split()[-1]
    finally:
        process.terminate()  # SIGTERM: the app shuts its posthog client down and exits
        process.wait(timeout=10)
