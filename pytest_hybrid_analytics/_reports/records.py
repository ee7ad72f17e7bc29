"""What a whole run hands the reports: one :class:`RecordedTest` per test.

Free of pytest: the plugin fills one per test from its ``analytics`` fixture and its report, and
the audit and the HTML report read a list of them. Under pytest-xdist each worker hands its
records to the controller as one JSON text (:func:`dump_run`, :func:`load_run`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_hybrid_analytics._checks.findings import Finding
from pytest_hybrid_analytics._model.events import CapturedEvent, RejectedRequest
from pytest_hybrid_analytics._recording.client_notes import ClientNote
from pytest_hybrid_analytics._reports.jsonl import (
    event_from_json,
    event_to_json,
    rejected_from_json,
    rejected_to_json,
)

__all__ = ["OUTCOMES", "RecordedTest", "dump_run", "dump_run_lines", "load_run", "load_run_lines"]

#: A test's outcomes, in the words pytest's summary uses.
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


@dataclass(slots=True)
class RecordedTest:
    """One test of the run, as the reports see it.

    >>> RecordedTest(
    ...     "tests/test_shop.py::test_buy", "failed", events=analytics.events,
    ...     rejected=analytics.rejected, notes=analytics.client_notes,
    ...     findings=PiiGuard().check(analytics.events), message=report.longreprtext,
    ... )
    """

    #: The pytest node id.
    nodeid: str
    #: One of :data:`OUTCOMES`: ``"passed"``, ``"failed"``, ``"error"`` (setup/teardown),
    #: ``"skipped"``, ``"xfailed"``, ``"xpassed"``.
    outcome: str = "passed"
    #: Every event the test captured.
    events: Sequence[CapturedEvent] = ()
    #: Requests the fake PostHog API could not decode.
    rejected: Sequence[RejectedRequest] = ()
    #: What the end-of-test flush found about ``posthog`` clients.
    notes: Sequence[ClientNote] = ()
    #: PII findings, plan violations and diagnostics for this test.
    findings: Sequence[Finding] = ()
    #: The failure text, when the test failed, errored or failed as expected (xfailed).
    message: str = ""
    #: Why it was skipped, or expected to fail (a skipped, xfailed or xpassed test).
    reason: str = ""
    #: How long the test took, in seconds.
    duration: float = 0.0
    #: The faults it armed (``analytics.faults``): each one's description (``"fail 503"``,
    #: ``"drop"``) and how many requests it hit.
    faults: Sequence[tuple[str, int]] = ()

    @property
    def failed(self) -> bool:
        """Whether the test failed or errored.

        >>> RecordedTest("t::a", "error").failed
        True
        """
        return self.outcome in ("failed", "error")


def dump_run(tests: Iterable[RecordedTest], session_notes: Iterable[ClientNote] = ()) -> str:
    """A run's records, and the notes made as it ended, as one JSON text (what a pytest-xdist
    worker sends its controller).

    >>> tests, notes = load_run(dump_run(reporter.records, notes))
    """
    return json.dumps(
        {
            "tests": [_test_to_json(test) for test in tests],
            "session_notes": [dataclasses.asdict(note) for note in session_notes],
        },
        separators=(",", ":"),
    )


def load_run(text: str) -> tuple[list[RecordedTest], list[ClientNote]]:
    """The records and session notes :func:`dump_run` wrote, each finding pointing at its
    event again."""
    data = json.loads(text)
    return (
        [_test_from_json(test) for test in data["tests"]],
        [_note(note) for note in data["session_notes"]],
    )


#: The first line of a run's JSON Lines records: what the file is, and its format's version.
RUN_HEADER = {"hybrid_analytics_run": 1}


def dump_run_lines(tests: Iterable[RecordedTest], session_notes: Iterable[ClientNote] = ()) -> str:
    """A run's records as JSON Lines (``--analytics-jsonl``): a header line, one line per test
    (``{"test": ...}``), one per note made as the run ended (``{"session_note": ...}``). Runs
    of several CI machines are merged by concatenating their records
    (``hybrid-analytics report a.jsonl b.jsonl``).

    >>> Path("run.jsonl").write_text(dump_run_lines(reporter.records))
    """
    lines = [json.dumps(RUN_HEADER)]
    lines += [json.dumps({"test": _test_to_json(test)}, separators=(",", ":")) for test in tests]
    lines += [
        json.dumps({"session_note": dataclasses.asdict(note)}, separators=(",", ":"))
        for note in session_notes
    ]
    return "\n".join(lines) + "\n"


def load_run_lines(
    text: str, *, source: str = "records"
) -> tuple[list[RecordedTest], list[ClientNote]]:
    """The records and session notes :func:`dump_run_lines` wrote. A line that is not one of
    them raises ``ValueError`` naming ``source`` and the line number."""
    tests: list[RecordedTest] = []
    notes: list[ClientNote] = []
    header = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as error:
            raise ValueError(f"{source}:{number}: not JSON ({error})") from None
        if not isinstance(item, dict):
            raise ValueError(f"{source}:{number}: expected a JSON object")
        if not header:
            if item != RUN_HEADER:
                raise ValueError(
                    f"{source}:{number}: not a run's records (written by --analytics-jsonl): "
                    f"the first line is {line[:80]!r}"
                )
            header = True
            continue
        try:
            if "test" in item:
                tests.append(_test_from_json(item["test"]))
            elif "session_note" in item:
                notes.append(_note(item["session_note"]))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
            kind = "test record" if "test" in item else "session note"
            raise ValueError(
                f"{source}:{number}: a {kind} that cannot be read: {error!r}"
            ) from None
    if not header:
        raise ValueError(f"{source}: empty, not a run's records (written by --analytics-jsonl)")
    return tests, notes


def _test_to_json(test: RecordedTest) -> dict[str, Any]:
    position = {id(event): n for n, event in enumerate(test.events)}
    return {
        "nodeid": test.nodeid,
        "outcome": test.outcome,
        "events": [event_to_json(event) for event in test.events],
        "rejected": [rejected_to_json(request) for request in test.rejected],
        "notes": [dataclasses.asdict(note) for note in test.notes],
        "findings": [
            {
                "kind": finding.kind,
                "code": finding.code,
                "message": finding.message,
                "path": finding.path,
                "event": None if finding.event is None else position.get(id(finding.event)),
            }
            for finding in test.findings
        ],
        "message": test.message,
        "reason": test.reason,
        "duration": test.duration,
        "faults": [list(fault) for fault in test.faults],
    }


def _test_from_json(data: dict[str, Any]) -> RecordedTest:
    events = [event_from_json(event) for event in data["events"]]
    findings = [
        Finding(
            item["kind"],
            item["code"],
            item["message"],
            event=None if item["event"] is None else events[item["event"]],
            path=item["path"],
        )
        for item in data["findings"]
    ]
    return RecordedTest(
        data["nodeid"],
        data["outcome"],
        events=events,
        rejected=[rejected_from_json(request) for request in data["rejected"]],
        notes=[_note(note) for note in data["notes"]],
        findings=findings,
        message=data["message"],
        reason=data["reason"],
        duration=data["duration"],
        faults=[(str(desc), int(hits)) for desc, hits in data.get("faults", [])],
    )


def _note(data: dict[str, Any]) -> ClientNote:
    known = {field.name for field in dataclasses.fields(ClientNote)}
    return ClientNote(**{key: value for key, value in data.items() if key in known})
