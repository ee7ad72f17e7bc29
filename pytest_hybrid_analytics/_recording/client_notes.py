"""``ClientNote``: what the harness found about one ``posthog`` client (events it still held,
a client never shut down), in one wording wherever it is said."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_hybrid_analytics._model.text import plural

__all__ = ["ClientNote"]


@dataclass(frozen=True)
class ClientNote:
    """What the harness found about one ``posthog`` client at the end of a test.

    >>> ClientNote.queued("shop.py:12", 3, "at teardown").problem
    '3 queued events flushed at teardown (the app never called flush() or shutdown())'
    """

    #: Where the app created it (``path:line``).
    site: str
    #: ``"never shut down"`` or ``"3 queued events flushed at teardown"``.
    problem: str
    #: How many queued events the flush delivered.
    flushed: int = 0

    @classmethod
    def queued(cls, site: str, count: int, by: str) -> ClientNote:
        """The note for ``count`` events a client still held until the harness flushed them
        (``by``: ``"at teardown"``, ``"by analytics.flush()"``...)."""
        return cls(
            site,
            f"{plural(count, 'queued event')} flushed {by} (the app never called flush() or "
            "shutdown())",
            count,
        )

    def __str__(self) -> str:
        return f"posthog client created at {self.site}: {self.problem}"
