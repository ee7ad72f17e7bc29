"""The pytest11 entry point: fixtures, the marker and report hooks. The work is elsewhere."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass

import pytest

from pytest_hybrid_analytics.factory import AnalyticsFactory
from pytest_hybrid_analytics.harness import Analytics
from pytest_hybrid_analytics.report import format_rejected

_RECORDER = pytest.StashKey[Analytics]()
_CALL_FAILED = pytest.StashKey[bool]()

_MARKER = (
    "analytics(*, allow_rejected=False): settings for the analytics fixture in this test. "
    "allow_rejected=True lets requests the fake PostHog API could not decode pass teardown."
)


@dataclass(frozen=True, kw_only=True)
class _Options:
    allow_rejected: bool = False


def _options(item: pytest.Item) -> _Options:
    marker = item.get_closest_marker("analytics")
    if marker is None:
        return _Options()
    if marker.args:
        raise TypeError(
            f"@pytest.mark.analytics takes keyword arguments only, got positional {marker.args!r}"
        )
    return _Options(**marker.kwargs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER)


@pytest.fixture
def analytics(request: pytest.FixtureRequest) -> Iterator[Analytics]:
    """This test's PostHog events from every road, its flags and its fake PostHog API.

    A test that recorded requests the fake API could not decode fails at teardown, naming each
    request and its reason, unless marked ``@pytest.mark.analytics(allow_rejected=True)``.
    """
    options = _options(request.node)
    recorder = Analytics()
    request.node.stash[_RECORDER] = recorder
    yield recorder
    rejected = recorder.rejected
    if rejected and not options.allow_rejected and not request.node.stash.get(_CALL_FAILED, False):
        __tracebackhide__ = True
        one = len(rejected) == 1
        raise AssertionError(
            f"{len(rejected)} PostHog request{' was' if one else 's were'} rejected during the "
            f"test; the events in {'it' if one else 'them'} are not on the timeline.\n"
            f"{format_rejected(rejected)}\n"
            "Next step: fix what each reason names, or mark the test "
            "@pytest.mark.analytics(allow_rejected=True) if bad input is what it tests "
            "(README, 'Rejected requests')."
        )


@pytest.fixture
def analytics_factory(request: pytest.FixtureRequest) -> AnalyticsFactory:
    """Faker-backed users, SDK-shaped events and ingestion requests, seeded per test."""
    return AnalyticsFactory(seed=request.node.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    recorder = item.stash.get(_RECORDER, None)
    if recorder is None:
        return report
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    if report.failed and report.when in ("call", "teardown"):
        report.sections.append(("Analytics events", recorder.timeline()))
    if report.when == "teardown":
        del item.stash[_RECORDER]  # release the finished test's events
    return report
