"""``Finding``: one problem a check found in a test's capture. The PII guard, the tracking plan
and the diagnostics each report findings, so every output lists them alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pytest_hybrid_analytics._model.events import CapturedEvent

__all__ = ["Finding", "FindingKind"]

#: Who found it: the PII guard, the tracking plan, the person model, the baseline, or the
#: diagnostics.
FindingKind = Literal["pii", "plan", "persons", "baseline", "diagnostic"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in a test's capture, named by a stable ``code``.

    ``message`` is whole and test-readable (it names the event and the property) and never
    holds a secret in clear: values are masked before they get there.

    >>> finding = PiiGuard().check(analytics.events)[0]
    >>> finding.kind, finding.code, finding.path
    ('pii', 'card-number', 'payment.card')
    >>> str(finding)
    "[card-number] 'checkout_submitted' (client) property 'payment.card': a card number ..."
    """

    #: ``"pii"``, ``"plan"``, ``"persons"``, ``"baseline"`` or ``"diagnostic"``.
    kind: FindingKind
    #: A short stable name: ``"card-number"``, ``"missing-property"``, ``"bot-dropped"``...
    code: str
    #: What is wrong, naming the event, the property and why, with any value masked.
    message: str
    #: The event it is about, when it is about one.
    event: CapturedEvent | None = field(default=None, compare=False)
    #: The property path it is about (``"payment.card"``, ``"$set.password"``), if any.
    path: str | None = None

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"
