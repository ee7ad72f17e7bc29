"""``ClientNote``: what the harness found about one ``posthog`` client (events it still held,
a client never shut down), in one wording wherever it is said."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_hybrid_analytics._model.text import plural

__all__ = ["ClientNote"]


@dataclass(frozen=True)
class ClientNote:
    """What the harness found about one ``posthog`` client during or at the end of a test.

    A flush the harness or the test makes is never counted against the app: a note that
    events were queued is only written where the SDK would not have delivered them itself in
    time (``finding``); a client the test left running is noted, but is not a finding.

    >>> note = ClientNote.queued("shop.py:12", 3, "at teardown", "no consumer is running")
    >>> note.problem
    '3 queued events flushed at teardown: no consumer is running (the app never called flush())'
    """

    #: Where the app created it (``path:line``).
    site: str
    #: What was found: ``"never shut down"``, ``"3 queued events flushed at teardown: ..."``.
    problem: str
    #: How many queued events the flush delivered.
    flushed: int = 0
    #: Whether it is a problem of the app (events that would be lost or late), not just
    #: information (a long-lived client is normal in a web app).
    finding: bool = True

    @classmethod
    def queued(cls, site: str, count: int, by: str, why: str) -> ClientNote:
        """The finding for ``count`` events a client held that the SDK would not have sent
        itself in time (``why``), until the harness flushed them (``by``: ``"at teardown"``,
        ``"by analytics.flush()"``...)."""
        return cls(
            site,
            f"{plural(count, 'queued event')} flushed {by}: {why} (the app never called flush())",
            count,
        )

    def __str__(self) -> str:
        return f"posthog client created at {self.site}: {self.problem}"
