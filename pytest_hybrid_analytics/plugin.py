"""The pytest11 entry point: options, fixtures, the marker and report hooks. The work is
elsewhere (``session.Harness``, ``harness.Analytics``)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_hybrid_analytics.browser import find_posthog_js, launch_options
from pytest_hybrid_analytics.factory import AnalyticsFactory
from pytest_hybrid_analytics.harness import Analytics
from pytest_hybrid_analytics.report import format_rejected, format_summary
from pytest_hybrid_analytics.session import Harness

_HARNESS = pytest.StashKey[Harness]()
_RECORDER = pytest.StashKey[Analytics]()
_CALL_FAILED = pytest.StashKey[bool]()
_NOTES = pytest.StashKey[list[str]]()
_SUMMARIES = pytest.StashKey[list[tuple[str, str]]]()
_SUMMARY = "hybrid_analytics_summary"

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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hybrid-analytics", "PostHog analytics recording")
    group.addoption(
        "--analytics-hosts",
        default=None,
        help="comma-separated extra hosts whose requests are PostHog's (a self-hosted "
        "instance sent to by a hand-rolled client); PostHog cloud and the SDKs' own "
        "requests are always claimed. Ini: analytics_hosts.",
    )
    group.addoption(
        "--analytics-summary",
        action="store_true",
        help="print what each test captured (events per side, persons, names) at the end",
    )
    parser.addini("analytics_hosts", "extra hosts whose requests are PostHog's", type="linelist")
    parser.addini(
        "analytics_posthog_js",
        "the posthog-js package folder whose dist/ serves pages the SDK's own files (default: "
        "node_modules/posthog-js found from the rootdir; env HYBRID_ANALYTICS_POSTHOG_JS)",
    )
    parser.addini(
        "analytics_chromium",
        "the Chromium executable to launch instead of Playwright's own "
        "(default: Playwright's if installed, else the system's; env HYBRID_ANALYTICS_CHROMIUM)",
    )
    parser.addini(
        "analytics_flush_ms",
        "posthog-js's batch interval in test pages, 250..5000 ms; 0 sends every event at once",
        default="250",
    )


def _setting(config: pytest.Config, ini: str, env: str) -> str | None:
    return os.environ.get(env) or config.getini(ini) or None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER)
    option = config.getoption("analytics_hosts")
    hosts = option.split(",") if option else config.getini("analytics_hosts")
    flush = str(config.getini("analytics_flush_ms"))
    if not flush.isdigit() or (int(flush) and not 250 <= int(flush) <= 5000):
        raise pytest.UsageError(
            f"analytics_flush_ms must be 0 or 250..5000 (posthog-js clamps it), got {flush!r}"
        )
    posthog_js = find_posthog_js(
        config.rootpath, _setting(config, "analytics_posthog_js", "HYBRID_ANALYTICS_POSTHOG_JS")
    )
    config.stash[_HARNESS] = Harness(
        extra_hosts=hosts, posthog_js=posthog_js, flush_ms=int(flush)
    ).start()
    config.stash[_NOTES] = []
    config.stash[_SUMMARIES] = []
    if config.getoption("analytics_summary"):
        config.pluginmanager.register(_SummaryCollector(config.stash[_SUMMARIES]))


def pytest_sessionfinish(session: pytest.Session) -> None:
    harness = session.config.stash.get(_HARNESS, None)
    if harness is not None:
        notes = harness.settle()
        session.config.stash[_NOTES].extend(f"at session end: {note}" for note in notes)


def pytest_unconfigure(config: pytest.Config) -> None:
    harness = config.stash.get(_HARNESS, None)
    if harness is not None:
        harness.stop()
        del config.stash[_HARNESS]


def pytest_report_header(config: pytest.Config) -> str:
    harness = config.stash[_HARNESS]
    extra = ", ".join(sorted(harness.hosts.extra)) or "none"
    js = harness.posthog_js or "none found (set analytics_posthog_js)"
    return (
        f"hybrid-analytics: collector {harness.url}, extra PostHog hosts: {extra}, "
        f"posthog-js files: {js}"
    )


@pytest.fixture(scope="session")
def analytics_host(pytestconfig: pytest.Config) -> str:
    """The loopback collector's base URL, for app servers a session-scoped fixture starts
    (their events go to whichever test is running; ``analytics.host`` is the per-test URL)."""
    return pytestconfig.stash[_HARNESS].url


@pytest.fixture
def analytics(request: pytest.FixtureRequest) -> Iterator[Analytics]:
    """This test's PostHog events from every road, its flags and its fake PostHog API.

    A test that recorded requests the fake API could not decode fails at teardown, naming each
    request and its reason, unless marked ``@pytest.mark.analytics(allow_rejected=True)``.
    """
    options = _options(request.node)
    harness = request.config.stash[_HARNESS]
    recorder = harness.begin(Analytics())
    request.node.stash[_RECORDER] = recorder
    try:
        yield recorder
    finally:
        notes = harness.end(recorder)
    request.config.stash[_NOTES].extend(f"{request.node.nodeid}: {note}" for note in notes)
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


@pytest.fixture(autouse=True)
def _analytics_before_the_browser(request: pytest.FixtureRequest) -> None:
    """Set ``analytics`` up before pytest-playwright's ``context``, so the context closes
    first and the beacons its pages send at ``pagehide`` still land in this test."""
    if "analytics" in request.fixturenames:
        request.getfixturevalue("analytics")


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Any:
    value = yield
    if fixturedef.argname == "browser_type_launch_args" and isinstance(value, dict):
        browser_type = request.getfixturevalue("browser_type")
        value.update(
            launch_options(
                value,
                browser_name=browser_type.name,
                bundled=browser_type.executable_path,
                configured=_setting(
                    request.config, "analytics_chromium", "HYBRID_ANALYTICS_CHROMIUM"
                ),
            )
        )
    elif fixturedef.argname == "context":
        recorder = request.node.stash.get(_RECORDER, None)
        if recorder is not None:
            recorder.attach(value)
    return value


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
        if item.config.getoption("analytics_summary"):
            summary = format_summary(recorder.events, rejected=len(recorder.rejected))
            report.user_properties.append((_SUMMARY, summary))
        if recorder.client_notes:
            notes = "\n".join(str(note) for note in recorder.client_notes)
            report.sections.append(("Analytics SDK lifecycle", notes))
        del item.stash[_RECORDER]  # release the finished test's events
    return report


class _SummaryCollector:
    """Reads the per-test summaries off the reports, where the reports are read (the xdist
    controller too), so they travel with them."""

    def __init__(self, into: list[tuple[str, str]]) -> None:
        self.into = into

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        properties = dict(report.user_properties)
        summary = properties.pop(_SUMMARY, None)
        if summary is not None:
            extra = "".join(f"\n  {name}: {value}" for name, value in properties.items())
            self.into.append((report.nodeid, f"{summary}{extra}"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    summaries: list[tuple[str, str]] = config.stash.get(_SUMMARIES, [])
    if summaries:
        terminalreporter.section("analytics captured per test")
        for nodeid, summary in sorted(summaries):
            terminalreporter.line(f"{nodeid}: {summary}")
    notes: list[str] = config.stash.get(_NOTES, [])
    harness = config.stash.get(_HARNESS, None)
    idle = len(harness.idle.orphans) if harness is not None else 0
    late = len(harness.late.orphans) if harness is not None else 0
    if not notes and not idle and not late:
        return
    terminalreporter.section("hybrid-analytics")
    if idle:
        terminalreporter.line(
            f"{idle} PostHog event{'s were' if idle != 1 else ' was'} sent while no test used "
            "the analytics fixture; kept off the network."
        )
    if late:
        names = Counter(e.event for e in harness.late.orphans.events) if harness else Counter()
        which = ", ".join(f"{name} x{count}" for name, count in names.most_common(5))
        terminalreporter.line(
            f"{late} PostHog event{'s' if late != 1 else ''} ({which}) arrived at a test's "
            "analytics.host after that test had ended; counted in no test."
        )
    for note in notes:
        terminalreporter.line(note)
