"""``SdkLogRecord``: an error or warning a PostHog SDK logged during a test, and what it means.

posthog-python logs and swallows its own errors: a ``capture`` called with the signature of
posthog 5 (``capture(distinct_id, event)``) raises a ``TypeError`` inside the SDK, which logs
``Error in capture: ...`` and returns ``None``; a client used after ``shutdown()`` logs
``... received event X after shutdown, dropping it``. Nothing reaches PostHog, and the app
never knows. The harness keeps every such record (``analytics.sdk_log``) so a failure can say
the real cause; this module words them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pytest_hybrid_analytics._model.text import plural

__all__ = ["SdkLogRecord", "sdk_log_lines"]

_AFTER_SHUTDOWN = re.compile(r"received event (?P<event>.+?) after shutdown, dropping it")
_POSITIONAL = re.compile(
    r"Error in (?P<method>\w+): .*takes \d+ positional arguments? but \d+ (?:was|were) given"
)
#: How many distinct records a failure message shows.
_SHOWN = 8


@dataclass(frozen=True, slots=True)
class SdkLogRecord:
    """One error or warning a PostHog SDK logged during a test (``analytics.sdk_log``).

    >>> record = analytics.sdk_log[0]
    >>> record.level, record.logger, record.site
    ('ERROR', 'posthog', 'app/views.py:31')
    >>> record.message
    'Error in capture: Client.capture() takes 2 positional arguments but 3 were given'
    """

    #: ``"ERROR"``, ``"WARNING"`` or ``"CRITICAL"``.
    level: str
    #: What the SDK logged (with the exception, when it logged one that the text leaves out),
    #: without the ``[PostHog]`` prefix posthog-python 7.x adds.
    message: str
    #: The logger: ``"posthog"``, or one of its children.
    logger: str
    #: When it was logged (UTC).
    time: datetime
    #: Where in the app the call that led to it was made (``path:line``), when the traceback or
    #: the stack shows one (not for what a consumer thread logs on its own).
    site: str | None = None
    #: Where the app created the client it is about (``path:line``), when that is known.
    client_site: str | None = None

    @property
    def dropped_after_shutdown(self) -> str | None:
        """The event a shut-down client dropped, when that is what this record says."""
        match = _AFTER_SHUTDOWN.search(self.message)
        return match["event"] if match else None

    def explain(self) -> str:
        """The record in one line, with its cause where it is a known one.

        >>> record.explain()
        "ERROR from posthog at app/views.py:31: Error in capture: ... The app passes capture() ..."
        """
        dropped = self.dropped_after_shutdown
        if dropped is not None:
            created = f" (created at {self.client_site})" if self.client_site else ""
            at = f" at {self.site}" if self.site else ""
            return (
                f"The app captured on a posthog client it had shut down{created}: the SDK "
                f"dropped {dropped!r}{at} (posthog: {self.message!r}). Keep one client for "
                "the process and call shutdown() only at exit, or create a new client after "
                "shutdown()."
            )
        at = f" at {self.site}" if self.site else ""
        text = f"{self.level} from {self.logger}{at}: {self.message}"
        positional = _POSITIONAL.search(self.message)
        if positional is None:
            return text
        method = positional["method"]
        if method == "capture":
            return (
                f"{text}. The app passes capture() more than the event name positionally, "
                "the signature before posthog 6 (capture(distinct_id, event, properties)): "
                "call capture(event, distinct_id=..., properties=...)."
            )
        return (
            f"{text}. Since posthog 6, {method}() takes its arguments by keyword: pass "
            "them by name."
        )


def sdk_log_lines(records: Iterable[SdkLogRecord]) -> list[str]:
    """What a failure says about the SDK's log: a heading, then each distinct record once
    (with how many times it was logged), the last few when there are many.

    >>> sdk_log_lines(analytics.sdk_log)
    ['The posthog SDK logged 1 error during the test (analytics.sdk_log):', '  ERROR ...']
    """
    counts: dict[tuple[str, str, str, str | None, str | None], int] = {}
    first: dict[tuple[str, str, str, str | None, str | None], SdkLogRecord] = {}
    total = 0
    for record in records:
        key = (record.level, record.logger, record.message, record.site, record.client_site)
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, record)
        total += 1
    if not total:
        return []
    errors = sum(n for key, n in counts.items() if key[0] in ("ERROR", "CRITICAL"))
    warnings = total - errors
    what = " and ".join(
        part
        for part in (
            plural(errors, "error") if errors else "",
            plural(warnings, "warning") if warnings else "",
        )
        if part
    )
    lines = [f"The posthog SDK logged {what} during the test (analytics.sdk_log):"]
    shown = list(counts.items())[-_SHOWN:]
    if len(counts) > len(shown):
        lines.append(f"  ({len(counts) - len(shown)} earlier ones not shown)")
    for key, count in shown:
        times = f" (x{count})" if count > 1 else ""
        lines.append(f"  {first[key].explain()}{times}")
    return lines
