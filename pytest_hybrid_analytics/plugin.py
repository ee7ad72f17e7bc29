"""The pytest11 entry point: options, fixtures, the marker and report hooks. The work is
elsewhere (``session.Harness``, ``harness.Analytics``)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_hybrid_analytics._reporting import Reporter
from pytest_hybrid_analytics.browser import find_posthog_js, launch_options
from pytest_hybrid_analytics.checks import Checks, teardown_failure
from pytest_hybrid_analytics.diagnostics import diagnose
from pytest_hybrid_analytics.events import Source
from pytest_hybrid_analytics.factory import AnalyticsFactory
from pytest_hybrid_analytics.harness import Analytics
from pytest_hybrid_analytics.pii import PiiGuard, mask_secrets
from pytest_hybrid_analytics.report import format_summary
from pytest_hybrid_analytics.run import Finding, RecordedTest
from pytest_hybrid_analytics.session import Harness

_HARNESS = pytest.StashKey[Harness]()
_RECORDER = pytest.StashKey[Analytics]()
_CALL_FAILED = pytest.StashKey[bool]()
_NOTES = pytest.StashKey[list[str]]()
_SUMMARIES = pytest.StashKey[list[tuple[str, str]]]()
_SUMMARY = "hybrid_analytics_summary"
_CHECKS = pytest.StashKey[Checks]()
_REPORTER = pytest.StashKey[Reporter]()
_FINDINGS = pytest.StashKey[list[Finding]]()
_OUTCOME = pytest.StashKey[str]()

_MARKER = (
    "analytics(*, allow_rejected=False, allow_pii=False, allow_plan=False): what the analytics "
    "fixture lets pass at teardown in this test. allow_rejected=True: requests the fake PostHog "
    "API could not decode; allow_pii=True or a list of property names/paths: sensitive data in "
    "client events; allow_plan=True or a list of violation codes: tracking-plan violations."
)
_PII_SIDES: dict[str, tuple[Source, ...]] = {
    "client": ("client",),
    "server": ("server",),
    "both": ("client", "server"),
    "off": (),
}


@dataclass(frozen=True, kw_only=True)
class _Options:
    allow_rejected: bool = False
    allow_pii: bool | list[str] = False
    allow_plan: bool | list[str] = False


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
        "--analytics-report",
        metavar="DIR",
        default=None,
        help="write one self-contained HTML timeline of the run to DIR. Ini: analytics_report.",
    )
    group.addoption(
        "--analytics-audit",
        action="store_true",
        default=None,
        help="end the run with the guide's Validation Checklist judged from what was captured. "
        "Ini: analytics_audit.",
    )
    group.addoption(
        "--analytics-tracking-plan",
        metavar="PATH",
        default=None,
        help="a YAML tracking plan every test's events are checked against. "
        "Ini: analytics_tracking_plan.",
    )
    group.addoption(
        "--analytics-summary",
        action="store_true",
        help="print what each test captured (events per side, persons, names) at the end",
    )
    parser.addini("analytics_hosts", "extra hosts whose requests are PostHog's", type="linelist")
    parser.addini("analytics_report", "write the run's HTML timeline to this folder")
    parser.addini(
        "analytics_audit", "print the guide's checklist audit", type="bool", default=False
    )
    parser.addini("analytics_tracking_plan", "a YAML tracking plan to check every test against")
    parser.addini(
        "analytics_pii",
        "which sides the PII guard checks: client (default), server, both or off",
        default="client",
    )
    parser.addini(
        "analytics_pii_allow",
        "property names or paths the PII guard never reports",
        type="linelist",
    )
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
    config.stash[_CHECKS] = _checks(config)
    directory = config.getoption("analytics_report") or config.getini("analytics_report") or None
    wants_audit = config.getoption("analytics_audit") or config.getini("analytics_audit")
    if directory or wants_audit:
        worker = getattr(config, "workerinput", {}).get("workerid")
        reporter = Reporter(
            directory=directory,
            audit=bool(wants_audit),
            plan=config.stash[_CHECKS].plan,
            worker=worker,
        )
        config.stash[_REPORTER] = reporter
        config.pluginmanager.register(reporter)
    if config.getoption("analytics_summary"):
        config.pluginmanager.register(_SummaryCollector(config.stash[_SUMMARIES]))


def _checks(config: pytest.Config) -> Checks:
    sides = str(config.getini("analytics_pii")).strip().lower()
    if sides not in _PII_SIDES:
        raise pytest.UsageError(
            f"analytics_pii must be one of {', '.join(_PII_SIDES)}, got {sides!r}"
        )
    guard = PiiGuard(sides=_PII_SIDES[sides], allow=config.getini("analytics_pii_allow"))
    path = config.getoption("analytics_tracking_plan") or config.getini("analytics_tracking_plan")
    plan = None
    if path:
        from pytest_hybrid_analytics.plan import PlanError, TrackingPlan

        try:
            plan = TrackingPlan.load(config.rootpath / path)
        except PlanError as error:
            raise pytest.UsageError(str(error)) from None
    return Checks(guard if sides != "off" else None, plan)


def pytest_sessionfinish(session: pytest.Session) -> None:
    harness = session.config.stash.get(_HARNESS, None)
    if harness is not None:
        notes = harness.settle()
        session.config.stash[_NOTES].extend(f"at session end: {note}" for note in notes)
        reporter = session.config.stash.get(_REPORTER, None)
        if reporter is not None:
            reporter.finish(RecordedTest("<session end>", notes=notes))


def pytest_unconfigure(config: pytest.Config) -> None:
    harness = config.stash.get(_HARNESS, None)
    if harness is not None:
        harness.stop()
        del config.stash[_HARNESS]


def pytest_report_header(config: pytest.Config) -> str:
    harness = config.stash[_HARNESS]
    extra = ", ".join(sorted(harness.hosts.extra)) or "none"
    js = harness.posthog_js or "none found (set analytics_posthog_js)"
    checks = config.stash[_CHECKS]
    pii = "/".join(checks.guard.sides) if checks.guard else "off"
    plan = checks.plan.origin if checks.plan else "none"
    return (
        f"hybrid-analytics: collector {harness.url}, extra PostHog hosts: {extra}, "
        f"posthog-js files: {js}, PII guard: {pii}, tracking plan: {plan}"
    )


@pytest.fixture(scope="session")
def analytics_host(pytestconfig: pytest.Config) -> str:
    """The loopback collector's base URL, for app servers a session-scoped fixture starts
    (their events go to whichever test is running; ``analytics.host`` is the per-test URL)."""
    return pytestconfig.stash[_HARNESS].url


@pytest.fixture
def analytics(request: pytest.FixtureRequest) -> Iterator[Analytics]:
    """This test's PostHog events from every road, its flags and its fake PostHog API.

    At teardown the test fails (an ERROR, not when it already failed) on requests the fake API
    could not decode, on sensitive data in client events (the PII guard), and on tracking-plan
    violations, each named; ``@pytest.mark.analytics(allow_rejected=..., allow_pii=...,
    allow_plan=...)`` lets them pass.
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
    failing, reported = request.config.stash[_CHECKS].run(
        recorder.events, allow_pii=options.allow_pii, allow_plan=options.allow_plan
    )
    request.node.stash[_FINDINGS] = reported
    rejected = [] if options.allow_rejected else recorder.rejected
    problem = teardown_failure(rejected, failing)
    if problem and not request.node.stash.get(_CALL_FAILED, False):
        __tracebackhide__ = True
        raise AssertionError(mask_secrets(problem))


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
    if report.failed:
        item.stash[_OUTCOME] = "failed" if report.when == "call" else "error"
    if report.failed and report.when in ("call", "teardown"):
        report.sections.append(("Analytics events", mask_secrets(recorder.timeline())))
        found = diagnose(recorder.events, notes=recorder.client_notes, console=recorder.console)
        if found:
            text = "\n".join(str(finding) for finding in found)
            report.sections.append(("Analytics diagnostics", mask_secrets(text)))
    if report.when == "teardown":
        _finish(item, recorder, report)
        del item.stash[_RECORDER]  # release the finished test's events
    return report


def _finish(item: pytest.Item, recorder: Analytics, report: pytest.TestReport) -> None:
    findings = item.stash.get(_FINDINGS, [])
    if findings and not report.failed:
        text = "\n".join(str(finding) for finding in findings)
        report.sections.append(("Analytics checks", mask_secrets(text)))
    if item.config.getoption("analytics_summary"):
        summary = format_summary(recorder.events, rejected=len(recorder.rejected))
        report.user_properties.append((_SUMMARY, summary))
    if recorder.client_notes:
        notes = "\n".join(str(note) for note in recorder.client_notes)
        report.sections.append(("Analytics SDK lifecycle", notes))
    reporter = item.config.stash.get(_REPORTER, None)
    if reporter is not None:
        reporter.add(
            RecordedTest(
                item.nodeid,
                item.stash.get(_OUTCOME, "passed"),
                events=recorder.events,
                rejected=recorder.rejected,
                notes=recorder.client_notes,
                findings=[
                    *findings,
                    *diagnose(
                        recorder.events, notes=recorder.client_notes, console=recorder.console
                    ),
                ],
                message=mask_secrets(str(report.longrepr or "")) if report.failed else "",
            )
        )


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
