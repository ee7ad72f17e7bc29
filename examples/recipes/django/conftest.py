"""Playwright's sync API and Django's ORM in one test process.

The clash: ``SynchronousOnlyOperation: You cannot call this from an async context``, raised by
pytest-django's own database setup and flush around a ``live_server`` test, and by any ORM call
in the test (``User.objects.create_user(...)``), as soon as a test uses ``page``.

Why: Playwright's sync API drives Playwright through an asyncio event loop that it runs on the
main thread, in a greenlet. From ``playwright`` start to stop (the whole session, under
pytest-playwright) that loop is registered as the main thread's running loop, also while the
test's own code runs. Django's ORM refuses to run in a thread with a running loop: there it
assumes it is inside async code (an async view, say) whose loop a blocking query would stall.

Here that assumption is false: the loop only runs while the test calls into Playwright, and the
test thread does one thing at a time, so a query in it stalls nothing. The fix says exactly
that to Django, and only for as long as it is true: ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set while
Playwright runs (the override of pytest-playwright's ``playwright`` fixture below), not for the
whole process from import time. A run without browser tests (``pytest -k "not chromium"``, or
a server-only test before the first browser test) keeps Django's check. The live server's
requests run in their own thread with no loop, as in production, so the app's views are never
the reason for the setting.

What the setting costs: Django reads it from the environment, so while Playwright runs it also
switches the check off for the live server's thread. An ``async def`` view that calls the ORM
without ``sync_to_async`` would not raise there (it does in production under ASGI): test those
with pytest-django's ``async_client`` in a run without browser tests.

Moving the ORM out of the test thread instead is not enough: pytest-django creates, flushes
and tears down the test database in that thread itself, around every ``live_server`` test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Playwright


@pytest.fixture(scope="session")
def playwright(playwright: Playwright) -> Iterator[Playwright]:
    """pytest-playwright's ``playwright``, with Django's ORM allowed in this process while it
    runs (see the module's docstring)."""
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield playwright
    if before is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before
