"""The plugin's settings: the command-line options and ini keys, and the marker.

A bad value stops the run with a ``pytest.UsageError`` naming the valid ones; an unknown marker
keyword is a ``TypeError`` at once.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from pytest_hybrid_analytics._checks.pii import PiiGuard
from pytest_hybrid_analytics._checks.teardown import Checks
from pytest_hybrid_analytics._model.events import Source
from pytest_hybrid_analytics._roads.browser import find_posthog_js

MARKER = (
    "analytics(*, allow_rejected=False, allow_pii=False, allow_plan=False, allow_warnings=False): "
    "what the analytics fixture lets pass at teardown in this test. allow_rejected=True: requests "
    "the fake PostHog API could not decode; allow_pii=True or a list of property names/paths: "
    "sensitive data in client events; allow_plan=True or a list of violation codes: "
    "tracking-plan violations; allow_warnings=True or a list of codes: illegal distinct ids and "
    "the ingestion warnings PostHog would raise for them."
)
PII_SIDES: dict[str, tuple[Source, ...]] = {
    "client": ("client",),
    "server": ("server",),
    "both": ("client", "server"),
    "off": (),
}


@dataclass(frozen=True, kw_only=True)
class Options:
    allow_rejected: bool = False
    allow_pii: bool | list[str] = False
    allow_plan: bool | list[str] = False
    allow_warnings: bool | list[str] = False


def options(item: pytest.Item) -> Options:
    marker = item.get_closest_marker("analytics")
    if marker is None:
        return Options()
    if marker.args:
        raise TypeError(
            f"@pytest.mark.analytics takes keyword arguments only, got positional {marker.args!r}"
        )
    known = {field.name for field in fields(Options)}
    unknown = sorted(set(marker.kwargs) - known)
    if unknown:
        raise TypeError(
            f"@pytest.mark.analytics got unknown {'keywords' if len(unknown) > 1 else 'keyword'} "
            f"{', '.join(unknown)}; it takes {', '.join(sorted(known))}"
        )
    return Options(**marker.kwargs)


def add_options(parser: pytest.Parser) -> None:
    """Register the options and ini keys (README, 'Settings')."""
    group = parser.getgroup("hybrid-analytics", "PostHog analytics recording")
    group.addoption(
        "--analytics-network-guard",
        choices=("on", "off"),
        default=None,
        help="on (the default): from the start of the run, PostHog requests made in this "
        "process (requests, httpx, the posthog SDK) are answered by the fake PostHog API and "
        "never reach a real PostHog host, in every test. off: only tests that use the analytics "
        "fixture (and the rest of the run after the first one) are covered. "
        "Ini: analytics_network_guard.",
    )
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
    parser.addini(
        "analytics_network_guard",
        "on (default): no PostHog request of this process leaves it, in any test; off: only "
        "from the first test that uses the analytics fixture",
        default="on",
    )
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


def setting(config: pytest.Config, ini: str, env: str) -> str | None:
    """An ini key, which its environment variable overrides."""
    return os.environ.get(env) or config.getini(ini) or None


_SWITCH = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}


def _option(config: pytest.Config, name: str) -> str | None:
    """A command-line option's value, also before the command line is fully parsed (in
    ``pytest_load_initial_conftests``)."""
    value = getattr(config.option, name, None)
    if value is None:
        value = getattr(getattr(config, "known_args_namespace", None), name, None)
    return value if value is None else str(value)


def network_guard(config: pytest.Config) -> bool:
    """Whether the in-process roads are installed for the whole run (README, 'Settings')."""
    value = _option(config, "analytics_network_guard") or config.getini("analytics_network_guard")
    switch = _SWITCH.get(str(value).strip().lower())
    if switch is None:
        raise pytest.UsageError(f"analytics_network_guard must be on or off, got {value!r}")
    return switch


def hosts(config: pytest.Config) -> list[str]:
    """The extra hosts whose requests are PostHog's."""
    option = _option(config, "analytics_hosts")
    return list(option.split(",") if option else config.getini("analytics_hosts"))


def flush_ms(config: pytest.Config) -> int:
    """posthog-js's batch interval in attached pages."""
    flush = str(config.getini("analytics_flush_ms"))
    if not flush.isdigit() or (int(flush) and not 250 <= int(flush) <= 5000):
        raise pytest.UsageError(
            f"analytics_flush_ms must be 0 or 250..5000 (posthog-js clamps it), got {flush!r}"
        )
    return int(flush)


def posthog_js(config: pytest.Config) -> Path | None:
    """Where posthog-js's own files are served from; a configured folder with no posthog-js
    in it is a usage error."""
    configured = setting(config, "analytics_posthog_js", "HYBRID_ANALYTICS_POSTHOG_JS")
    found = find_posthog_js(config.rootpath, configured)
    if configured and found is None:
        raise pytest.UsageError(
            f"analytics_posthog_js (or HYBRID_ANALYTICS_POSTHOG_JS) names {configured!r}, which "
            "holds no posthog-js: give the posthog-js package folder (the one with dist/array.js,"
            " e.g. node_modules/posthog-js), or unset it"
        )
    return found


def chromium(config: pytest.Config) -> str | None:
    """The Chromium configured to launch (``None``: Playwright's, else the system's); one
    that does not exist is a usage error."""
    configured = setting(config, "analytics_chromium", "HYBRID_ANALYTICS_CHROMIUM")
    if configured and not (Path(configured).expanduser().is_file() or shutil.which(configured)):
        raise pytest.UsageError(
            f"analytics_chromium (or HYBRID_ANALYTICS_CHROMIUM) names {configured!r}, which is "
            "not an executable: give the path of a Chromium, or unset it to use Playwright's "
            "own or the system's"
        )
    return configured


def report(config: pytest.Config) -> tuple[str | None, bool]:
    """The HTML report's folder (or ``None``) and whether to print the audit."""
    directory = config.getoption("analytics_report") or config.getini("analytics_report") or None
    return directory, bool(config.getoption("analytics_audit") or config.getini("analytics_audit"))


def checks(config: pytest.Config) -> Checks:
    """The PII guard and the tracking plan every test is held to."""
    sides = str(config.getini("analytics_pii")).strip().lower()
    if sides not in PII_SIDES:
        raise pytest.UsageError(
            f"analytics_pii must be one of {', '.join(PII_SIDES)}, got {sides!r}"
        )
    guard = PiiGuard(sides=PII_SIDES[sides], allow=config.getini("analytics_pii_allow"))
    path = config.getoption("analytics_tracking_plan") or config.getini("analytics_tracking_plan")
    plan = None
    if path:
        from pytest_hybrid_analytics._checks.plan import PlanError, TrackingPlan

        try:
            plan = TrackingPlan.load(config.rootpath / path)
        except PlanError as error:
            raise pytest.UsageError(str(error)) from None
    return Checks(guard if sides != "off" else None, plan)
