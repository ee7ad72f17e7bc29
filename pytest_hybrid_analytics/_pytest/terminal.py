"""What the plugin writes to the terminal: the header lines, and what it adds at the end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from pytest_hybrid_analytics._checks.teardown import Checks
from pytest_hybrid_analytics._model.events import CapturedEvent
from pytest_hybrid_analytics._model.sdk_versions import sdk_of, version_warning, versions_line
from pytest_hybrid_analytics._model.text import plural, was
from pytest_hybrid_analytics._roads.chromium import CLOSED_NETWORK_ARGS, find_chromium
from pytest_hybrid_analytics._roads.harness import Harness
from pytest_hybrid_analytics._roads.posthog_js import PostHogJs
from pytest_hybrid_analytics._roads.third_party import ThirdPartyBlock

#: The name under which a test's summary travels in its teardown report's user properties.
SUMMARY = "hybrid_analytics_summary"
#: The name under which a pytest-xdist worker hands over what it blocked (``workeroutput``).
BLOCKED = "hybrid_analytics_blocked"
#: The name under which a pytest-xdist worker hands over the SDK versions its tests saw.
VERSIONS = "hybrid_analytics_sdk_versions"
#: What attached pages' third-party requests get, as the header says it.
_BLOCK = {
    "off": "let through",
    "abort": "aborted (all but the page's own host, the loopback and PostHog's)",
    "empty": "answered empty (all but the page's own host, the loopback and PostHog's)",
}


class SummaryCollector:
    """Reads the per-test summaries off the reports, where the reports are read (the xdist
    controller too), so they travel with them."""

    def __init__(self, into: list[tuple[str, str]]) -> None:
        self.into = into

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        properties = dict(report.user_properties)
        summary = properties.pop(SUMMARY, None)
        if summary is not None:
            extra = "".join(
                f"\n  {name}: {value}"
                for name, value in properties.items()
                if not name.startswith("analytics_")  # ours, for the JUnit XML: said above
            )  # (a test's own record_property values are shown)
            self.into.append((report.nodeid, f"{summary}{extra}"))


class BlockedHosts:
    """Under pytest-xdist, what each worker's pages blocked reaches the controller, which
    lists it at the end of the run (``write``)."""

    def __init__(self, block: ThirdPartyBlock) -> None:
        self.block = block

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        output = getattr(session.config, "workeroutput", None)
        if isinstance(output, dict):
            output[BLOCKED] = dict(self.block.counts)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        counts = getattr(node, "workeroutput", {}).get(BLOCKED)
        if isinstance(counts, dict):
            self.block.merge(counts)


class SdkVersions:
    """The SDK versions the run's events came from (their ``$lib`` and ``$lib_version``: the
    posthog-js the pages loaded, the server SDKs), said at the end of the run with a warning
    for a version outside the proven table (``_model.sdk_versions``). Under pytest-xdist each
    worker hands its own to the controller, which says them."""

    def __init__(self) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()

    def add(self, events: Iterable[CapturedEvent]) -> None:
        for event in events:
            sdk = sdk_of(event.lib)
            version = event.properties.get("$lib_version")
            if sdk is not None and isinstance(version, str) and version:
                self.seen[(sdk, version)] += 1

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        output = getattr(session.config, "workeroutput", None)
        if isinstance(output, dict):
            output[VERSIONS] = [[sdk, version, n] for (sdk, version), n in self.seen.items()]

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        for item in getattr(node, "workeroutput", {}).get(VERSIONS, []):
            sdk, version, count = item
            self.seen[(str(sdk), str(version))] += int(count)

    def lines(self) -> list[str]:
        """``SDK versions the events came from: ...``, then one warning per version outside
        the table; nothing when no event named its SDK's version."""
        if not self.seen:
            return []
        lines = [f"SDK versions the events came from: {versions_line(self.seen)}"]
        for sdk, version in sorted(self.seen):
            warning = version_warning(sdk, version)
            if warning is not None:
                lines.append(f"warning: {warning}")
        return lines


def header(harness: Harness, checks: Checks) -> list[str]:
    """The effective settings, as the pytest header shows them (nothing is started or
    fetched for it): the settings, then what attached pages get."""
    guard = "on" if harness.guarded else "off (only tests that use analytics)"
    extra = ", ".join(sorted(harness.hosts.extra)) or "none"
    files = harness.posthog_js
    if isinstance(files, PostHogJs):
        js: str | Path = files.folder
        pages = f"pages get {files.describe()}"
    else:
        js = files or "none found (set analytics_posthog_js)"
        pages = "pages get posthog-js from " + (str(files) if files else "nowhere")
    pii = "/".join(checks.guard.sides) if checks.guard else "off"
    plan = checks.plan.origin if checks.plan else "none"
    return [
        f"hybrid-analytics: network guard: {guard}, collector: on first use, "
        f"extra PostHog hosts: {extra}, posthog-js files: {js}, PII guard: {pii}, "
        f"tracking plan: {plan}",
        f"hybrid-analytics: {pages}; third-party requests: {_BLOCK[harness.third_party.mode]}",
    ]


def chromium_line(uses: int, configured: str | None) -> str:
    """What the plugin does to pytest-playwright's Chromium launch in this run, and why."""
    system = configured or find_chromium() or "no system Chromium found"
    flags = " ".join(CLOSED_NETWORK_ARGS) + " (and --no-sandbox as root)"
    if uses:
        return (
            f"hybrid-analytics: Chromium launch: adds {flags}, because "
            f"{plural(uses, 'collected test')} {'uses' if uses == 1 else 'use'} analytics (pages "
            f"reach the loopback collector); launches {system} if Playwright's own Chromium "
            "is missing"
        )
    return (
        "hybrid-analytics: Chromium launch: left as pytest-playwright sets it (no collected test "
        f"uses analytics), unless Playwright's own Chromium is missing: then {system} with {flags}"
    )


def write(
    terminalreporter: pytest.TerminalReporter,
    *,
    summaries: list[tuple[str, str]],
    notes: list[str],
    harness: Harness | None,
    versions: SdkVersions | None = None,
) -> None:
    """The per-test summaries, the lifecycle notes, what no test received, and the SDK
    versions the events came from."""
    if summaries:
        terminalreporter.section("analytics captured per test")
        for nodeid, summary in sorted(summaries):
            terminalreporter.line(f"{nodeid}: {summary}")
    idle = len(harness.idle.orphans) if harness is not None else 0
    late = len(harness.late.orphans) if harness is not None else 0
    blocked = harness.third_party.summary() if harness is not None else None
    version_lines = versions.lines() if versions is not None else []
    if not notes and not idle and not late and not blocked and not version_lines:
        return
    terminalreporter.section("hybrid-analytics")
    if idle:
        terminalreporter.line(
            f"{plural(idle, 'PostHog event')} {was(idle)} sent while no test used "
            "the analytics fixture; kept off the network."
        )
    if late:
        names = Counter(e.event for e in harness.late.orphans.events) if harness else Counter()
        which = ", ".join(f"{name} x{count}" for name, count in names.most_common(5))
        terminalreporter.line(
            f"{plural(late, 'PostHog event')} ({which}) arrived at a test's "
            "analytics.host after that test had ended; counted in no test."
        )
    if blocked:
        terminalreporter.line(blocked)
    for note in notes:
        terminalreporter.line(note)
    for line in version_lines:
        terminalreporter.line(line)
