"""The server SDK's own log: what posthog-python logs at WARNING and above, kept for the test.

posthog-python swallows its errors (its public methods are wrapped in ``no_throw``, which logs
the exception and returns ``None``) and drops events with a warning (a client used after
``shutdown()``). :class:`SdkLogHandler` sits on the ``posthog`` logger (its children
propagate to it) and hands each record, as an
:class:`~pytest_hybrid_analytics._model.sdk_log.SdkLogRecord`, to whoever the harness says is
current, with the app's call site: from the exception's traceback when it runs through the
app's code (a ``before_send`` that raised), else from the stack of the thread that logged (a
``capture`` called with the wrong arguments, or on a shut-down client). A consumer thread's
own records have no call site in the app.

posthog-node and other processes log in their own process: only what reaches the collector is
seen here (README, 'Nothing arrived?').
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import sysconfig
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType, TracebackType
from typing import Any

from pytest_hybrid_analytics._model.sdk_log import SdkLogRecord

__all__ = ["LOGGER", "SdkLogHandler"]

#: The logger family posthog-python logs to.
LOGGER = "posthog"

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_LOGGING = os.path.dirname(os.path.abspath(logging.__file__)) + os.sep
_STDLIB = os.path.abspath(sysconfig.get_paths()["stdlib"])
_POSTHOG = f"{os.sep}posthog{os.sep}"
#: What posthog-python 7.x puts before every message it logs (the logger already says it).
_PREFIX = "[PostHog] "


def _in_app(path: str) -> bool:
    """Whether code at ``path`` is the app's (not posthog's, the harness's, or Python's own)."""
    if path.startswith("<"):
        return False
    full = os.path.abspath(path)
    return not (
        _POSTHOG in full
        or full.startswith((_PACKAGE, _LOGGING))
        or (full.startswith(_STDLIB) and "site-packages" not in full)
    )


def _site(path: str, line: int) -> str:
    return f"{os.path.relpath(path)}:{line}"


def _traceback_site(tb: TracebackType | None) -> str | None:
    """The innermost frame of the app's code the exception went through."""
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if _in_app(code.co_filename):
            found = _site(code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


class SdkLogHandler(logging.Handler):
    """Hands WARNING+ records of the ``posthog`` loggers to ``deliver`` as
    :class:`SdkLogRecord`\\ s; ``client_site`` says where the app created a ``posthog`` client
    (``None`` when unknown).

    >>> handler = SdkLogHandler(analytics.sdk_log.append, lambda client: None).install()
    >>> handler.uninstall()
    """

    def __init__(
        self,
        deliver: Callable[[SdkLogRecord], None],
        client_site: Callable[[Any], str | None],
    ) -> None:
        super().__init__(logging.WARNING)
        self._deliver = deliver
        self._client_site = client_site
        self._installed = False

    def install(self) -> SdkLogHandler:
        """Add the handler to the ``posthog`` logger (idempotent)."""
        if not self._installed:
            logging.getLogger(LOGGER).addHandler(self)
            self._installed = True
        return self

    def uninstall(self) -> None:
        """Remove it."""
        if self._installed:
            logging.getLogger(LOGGER).removeHandler(self)
            self._installed = False

    def emit(self, record: logging.LogRecord) -> None:
        # The app's logging must never fail because of the harness.
        with contextlib.suppress(Exception):
            self._deliver(self.convert(record))

    def convert(self, record: logging.LogRecord) -> SdkLogRecord:
        """The record as kept, with the app's call site and the client's creation site."""
        message = record.getMessage().removeprefix(_PREFIX)
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and str(exc) not in message:
            message = f"{message}: {type(exc).__name__}: {exc}"
        site = _traceback_site(exc.__traceback__) if exc is not None else None
        client = None
        if record.thread == threading.get_ident():  # handlers run in the thread that logged
            stack_site, client = self._stack(sys._getframe(1))
            site = site or stack_site
        return SdkLogRecord(
            level=record.levelname,
            message=message,
            logger=record.name,
            time=datetime.fromtimestamp(record.created, UTC),
            site=site,
            client_site=self._client_site(client) if client is not None else None,
        )

    @staticmethod
    def _stack(frame: FrameType | None) -> tuple[str | None, Any]:
        """The app's frame nearest the log call, and the ``posthog`` client whose method
        logged (the ``self`` of the outermost frame in posthog's code)."""
        client = None
        module = sys.modules.get("posthog.client")
        client_type = getattr(module, "Client", None)
        while frame is not None:
            path = frame.f_code.co_filename
            if _in_app(path):
                return _site(path, frame.f_lineno), client
            if _POSTHOG in path and client_type is not None:
                candidate = frame.f_locals.get("self")
                if isinstance(candidate, client_type):
                    client = candidate
            frame = frame.f_back
        return None, client
