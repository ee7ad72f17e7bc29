"""The pytest11 entry point: fixtures and hooks. The work is elsewhere: ``_roads.harness``
(``Harness``: the roads), ``_recording.analytics`` (``Analytics``: the fixture's object),
``_checks.teardown`` (teardown checks), ``_pytest.settings`` (options, ini keys, marker),
``_pytest.reporter`` and ``_pytest.terminal`` (output)."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator, Sequence
from typing import Any

import pytest

from pytest_hybrid_analytics._checks.diagnostics import diagnose
from pytest_hybrid_analytics._checks.findings import Finding
from pytest_hybrid_analytics._checks.redaction import mask_secrets
from pytest_hybrid_analytics._checks.teardown import Checks, teardown_failure
from pytest_hybrid_analytics._pytest import settings as _settings
from pytest_hybrid_analytics._pytest import terminal as _terminal
from pytest_hybrid_analytics._pytest.baseline import BaselineRun
from pytest_hybrid_analytics._pytest.reporter import Reporter, junit_properties
from pytest_hybrid_analytics._recording.analytics import Analytics
from pytest_hybrid_analytics._recording.factory import AnalyticsFactory
from pytest_hybrid_analytics._recording.timeline import format_summary
from pytest_hybrid_analytics._reports.records import RecordedTest
from pytest_hybrid_analytics._roads.chromium import launch_options
from pytest_hybrid_analytics._roads.harness import Harness
from pytest_hybrid_analytics._roads.third_party import ThirdPartyBlock

_HARNESS = pytest.StashKey[Harness]()
_RECORDER = pytest.StashKey[Analytics]()
_CALL_FAILED = pytest.StashKey[bool]()
_NOTES = pytest.StashKey[list[str]]()
_SUMMARIES = pytest.StashKey[list[tuple[str, str]]]()
_CHECKS = pytest.StashKey[Checks]()
_REPORTER = pytest.StashKey[Reporter]()
_FINDINGS = pytest.StashKey[list[Finding]]()
_OUTCOME = pytest.StashKey[str]()
_USES_ANALYTICS = pytest.StashKey[int]()
_DIAGNOSED = pytest.StashKey[list[Finding]]()
_TEXT = pytest.StashKey[tuple[str, str]]()  # (failure text, skip or xfail reason)
_BASELINE = pytest.StashKey[BaselineRun]()
_VERSIONS = pytest.StashKey[_terminal.SdkVersions]()


def pytest_addoption(parser: pytest.Parser) -> None:
    _settings.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # The network guard goes on before conftest.py files are imported: a library one imports
    # keeps what it sees then (responses saves HTTPAdapter.send and passes requests through
    # to it), so it must see the road. (Loaded from a conftest's pytest_plugins instead, the
    # plugin misses this hook and pytest_configure installs the guard.)
    if _settings.network_guard(early_config):
        early_config.stash[_HARNESS] = Harness(extra_hosts=_settings.hosts(early_config)).guard()


#: A deprecation pytest 9 raises for pytest-playwright's own ``base_url`` fixture (a session
#: fixture defined on a plugin instance): installing this plugin brings pytest-playwright, so
#: its warning is not the user's to see. Nothing else is silenced.
_DEPENDENCY_WARNINGS = (
    "ignore:Session-scoped fixtures defined as instance methods:pytest.PytestRemovedIn10Warning",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _settings.MARKER)
    if config.pluginmanager.hasplugin("playwright"):
        for line in _DEPENDENCY_WARNINGS:
            config.addinivalue_line("filterwarnings", line)
    harness = config.stash.get(_HARNESS, None) or Harness(extra_hosts=_settings.hosts(config))
    config.stash[_HARNESS] = harness
    try:
        config.stash[_CHECKS] = _settings.checks(config)
        harness.posthog_js = _settings.posthog_js(config)  # fetched only when a page needs it
        harness.third_party = ThirdPartyBlock(
            _settings.block_third_party(config), extra=_settings.hosts(config)
        )
        _settings.chromium(config)  # a Chromium that does not exist stops the run now
        harness.flush_ms = _settings.flush_ms(config)
        if _settings.network_guard(config):
            harness.guard()  # in-process roads only: the collector starts on first use
    except BaseException:
        harness.stop()  # a usage error: leave the process as it was
        del config.stash[_HARNESS]
        raise
    config.stash[_NOTES] = []
    config.stash[_SUMMARIES] = []
    config.stash[_VERSIONS] = _terminal.SdkVersions()
    config.pluginmanager.register(config.stash[_VERSIONS])
    directory, audit = _settings.report(config)
    jsonl, coverage, step_summary = _settings.run_outputs(config)
    plan = config.stash[_CHECKS].plan
    if directory or audit or jsonl or step_summary or plan is not None:
        reporter = Reporter(
            directory=directory,
            audit=audit,
            plan=plan,
            jsonl=jsonl,
            coverage=coverage,
            step_summary=step_summary,
        )
        config.stash[_REPORTER] = reporter
        config.pluginmanager.register(reporter)
    if config.getoption("analytics_summary"):
        config.pluginmanager.register(_terminal.SummaryCollector(config.stash[_SUMMARIES]))
    if harness.third_party.on:
        config.pluginmanager.register(_terminal.BlockedHosts(harness.third_party))
    baseline = _settings.baseline(config)  # a baseline that cannot be read: a usage error
    if baseline is not None:
        config.stash[_BASELINE] = baseline
        config.pluginmanager.register(baseline)


def pytest_sessionfinish(session: pytest.Session) -> None:
    harness = session.config.stash.get(_HARNESS, None)
    if harness is not None:
        notes = harness.settle()
        session.config.stash[_NOTES].extend(
            f"at session end: {note}" for note in notes if note.finding
        )
        reporter = session.config.stash.get(_REPORTER, None)
        if reporter is not None:
            reporter.finish(notes)
            if reporter.coverage_failed and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    harness = config.stash.get(_HARNESS, None)
    if harness is not None:
        harness.stop()
        del config.stash[_HARNESS]


def pytest_report_header(config: pytest.Config) -> list[str]:
    return _terminal.header(config.stash[_HARNESS], config.stash[_CHECKS])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[_USES_ANALYTICS] = _uses_analytics(session.items)


def pytest_report_collectionfinish(
    config: pytest.Config, items: Sequence[pytest.Item]
) -> str | None:
    if not config.pluginmanager.hasplugin("playwright"):
        return None
    return _terminal.chromium_line(_uses_analytics(items), _chromium_setting(config))


def _uses_analytics(items: Sequence[pytest.Item]) -> int:
    return sum("analytics" in getattr(item, "fixturenames", ()) for item in items)


def _chromium_setting(config: pytest.Config) -> str | None:
    return _settings.chromium(config)


@pytest.fixture(scope="session")
def analytics_host(pytestconfig: pytest.Config) -> str:
    """The loopback collector's base URL, for app servers a session-scoped fixture starts
    (their events go to whichever test is running; ``analytics.host`` is the per-test URL)."""
    return pytestconfig.stash[_HARNESS].url


@pytest.fixture
def analytics(request: pytest.FixtureRequest) -> Iterator[Analytics]:
    """This test's PostHog events from every road, its flags and its fake PostHog API.

    At teardown the test fails (an ERROR, not when it already failed) on requests the fake API
    could not decode, on sensitive data in client events (the PII guard), on tracking-plan
    violations, on distinct ids PostHog would refuse and on differences from the analytics
    baseline, each named; ``@pytest.mark.analytics(allow_rejected=..., allow_pii=...,
    allow_plan=..., allow_warnings=..., allow_baseline=...)`` lets them pass.
    """
    options = _settings.options(request.node)
    harness = request.config.stash[_HARNESS]
    recorder = harness.begin()
    request.node.stash[_RECORDER] = recorder
    try:
        yield recorder
    finally:
        harness.flush_pages(recorder)
        notes = harness.end(recorder)
        request.config.stash[_VERSIONS].add(recorder.events)
    request.config.stash[_NOTES].extend(
        f"{request.node.nodeid}: {note}" for note in notes if note.finding
    )
    baseline = request.config.stash.get(_BASELINE, None)
    failing, reported = request.config.stash[_CHECKS].run(
        recorder.events,
        allow_pii=options.allow_pii,
        allow_plan=options.allow_plan,
        allow_warnings=options.allow_warnings,
        baseline=baseline.take(request.node, recorder.events) if baseline else None,
        allow_baseline=options.allow_baseline,
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
        bundled = browser_type.executable_path
        # Only where analytics is used, or where Playwright's own Chromium is missing (the
        # header says which, and why).
        if request.config.stash.get(_USES_ANALYTICS, 1) or not os.path.exists(bundled or ""):
            value.update(
                launch_options(
                    value,
                    browser_name=browser_type.name,
                    bundled=bundled,
                    configured=_chromium_setting(request.config),
                )
            )
    elif fixturedef.argname == "context":
        recorder = request.node.stash.get(_RECORDER, None)
        if recorder is not None:
            recorder.attach(value)
            # Before pytest-playwright closes the context: what posthog-js still holds.
            harness = request.config.stash[_HARNESS]
            request.addfinalizer(lambda: harness.flush_pages(recorder))
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
    _outcome(item, report)
    recorder = item.stash.get(_RECORDER, None)
    if recorder is None:
        if report.when == "teardown" and "analytics" in getattr(item, "fixturenames", ()):
            _unrecorded(item)
        return report
    if report.when == "call":
        # An expected failure failed too: its teardown checks stay quiet, as for any failure.
        item.stash[_CALL_FAILED] = report.failed or hasattr(report, "wasxfail")
    if report.failed and report.when in ("call", "teardown"):
        report.sections.append(("Analytics events", mask_secrets(recorder.timeline())))
        found = _diagnosis(item, recorder)
        if found:
            text = "\n".join(str(finding) for finding in found)
            report.sections.append(("Analytics diagnostics", mask_secrets(text)))
    if report.when == "teardown":
        _finish(item, recorder, report)
        del item.stash[_RECORDER]  # release the finished test's events
    return report


def _outcome(item: pytest.Item, report: pytest.TestReport) -> None:
    """The test's outcome as pytest's summary counts it (the first failure wins), with its
    failure text or its reason, from each phase's report."""
    if item.stash.get(_OUTCOME, "passed") in ("failed", "error"):
        return
    expected = getattr(report, "wasxfail", None)
    message, reason = item.stash.get(_TEXT, ("", ""))
    if report.failed:
        outcome = "failed" if report.when == "call" else "error"
        message = mask_secrets(report.longreprtext)
    elif report.skipped and expected is not None:
        outcome, message, reason = "xfailed", mask_secrets(report.longreprtext), expected
    elif report.skipped:
        outcome, reason = "skipped", _skip_reason(report)
    elif report.when == "call" and expected is not None:
        outcome, reason = "xpassed", expected
    else:
        return
    item.stash[_OUTCOME] = outcome
    item.stash[_TEXT] = (message, mask_secrets(reason))


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = str(longrepr[2]) if isinstance(longrepr, tuple) else report.longreprtext
    return text.removeprefix("Skipped: ")


def _unrecorded(item: pytest.Item) -> None:
    """A test that asks for ``analytics`` but ended before the fixture was set up (skipped by
    a marker, an error in another fixture): in the run's reports with its outcome, no events."""
    reporter = item.config.stash.get(_REPORTER, None)
    if reporter is not None:
        message, reason = item.stash.get(_TEXT, ("", ""))
        outcome = item.stash.get(_OUTCOME, "passed")
        reporter.add(RecordedTest(item.nodeid, outcome, message=message, reason=reason))


def _finish(item: pytest.Item, recorder: Analytics, report: pytest.TestReport) -> None:
    findings = item.stash.get(_FINDINGS, [])
    if findings and not report.failed:
        text = "\n".join(str(finding) for finding in findings)
        report.sections.append(("Analytics checks", mask_secrets(text)))
    if item.config.getoption("analytics_summary"):
        summary = format_summary(recorder.events, rejected=len(recorder.rejected))
        report.user_properties.append((_terminal.SUMMARY, summary))
    if recorder.client_notes:
        notes = "\n".join(str(note) for note in recorder.client_notes)
        report.sections.append(("Analytics SDK lifecycle", notes))
    everything = [*findings, *_diagnosis(item, recorder)]
    if getattr(item.config.option, "xmlpath", None):  # --junitxml: its <properties>
        report.user_properties.extend(
            junit_properties(recorder.events, len(recorder.rejected), everything)
        )
    reporter = item.config.stash.get(_REPORTER, None)
    if reporter is not None:
        message, reason = item.stash.get(_TEXT, ("", ""))
        reporter.add(
            RecordedTest(
                item.nodeid,
                item.stash.get(_OUTCOME, "passed"),
                events=recorder.events,
                rejected=recorder.rejected,
                notes=recorder.client_notes,
                findings=everything,
                message=message,
                reason=reason,
                faults=[(fault.describe(), fault.hits) for fault in recorder.faults.armed],
            )
        )


def _diagnosis(item: pytest.Item, recorder: Analytics) -> list[Finding]:
    """The troubleshooting diagnostics of a test, worked out once (at its first failure, or
    as it ends) and shared by its report sections and the run's reports."""
    if _DIAGNOSED not in item.stash:
        item.stash[_DIAGNOSED] = diagnose(
            recorder.events,
            notes=recorder.client_notes,
            console=recorder.console,
            sdk_log=recorder.sdk_log,
        )
    return item.stash[_DIAGNOSED]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    _terminal.write(
        terminalreporter,
        summaries=config.stash.get(_SUMMARIES, []),
        notes=config.stash.get(_NOTES, []),
        harness=config.stash.get(_HARNESS, None),
        versions=config.stash.get(_VERSIONS, None),
    )
