"""The plugin's settings: the command-line options and ini keys, and the marker.

A bad value stops the run with a ``pytest.UsageError`` naming the valid ones; an unknown marker
keyword is a ``TypeError`` at once.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from pytest_hybrid_analytics._checks.pii import PiiGuard
from pytest_hybrid_analytics._checks.teardown import Checks
from pytest_hybrid_analytics._model.events import Source
from pytest_hybrid_analytics._roads.posthog_js import (
    DEFAULT_VERSION,
    NPM_REGISTRY,
    PostHogJs,
    find_posthog_js,
    is_version,
    package_version,
    user_cache_dir,
)
from pytest_hybrid_analytics._roads.third_party import MODES as BLOCK_MODES

if TYPE_CHECKING:
    from pytest_hybrid_analytics._pytest.baseline import BaselineRun

MARKER = (
    "analytics(*, allow_rejected=False, allow_pii=False, allow_plan=False, allow_warnings=False, "
    "allow_baseline=False): "
    "what the analytics fixture lets pass at teardown in this test. allow_rejected=True: requests "
    "the fake PostHog API could not decode; allow_pii=True or a list of property names/paths: "
    "sensitive data in client events; allow_plan=True or a list of violation codes: "
    "tracking-plan violations; allow_warnings=True or a list of codes: illegal distinct ids and "
    "the ingestion warnings PostHog would raise for them; allow_baseline=True or a list of "
    "codes: differences from the analytics baseline."
)
PII_SIDES: dict[str, tuple[Source, ...]] = {
    "client": ("client",),
    "server": ("server",),
    "both": ("client", "server"),
    "off": (),
}
#: What planned events no test saw do at the end of a run with a tracking plan.
COVERAGE_MODES = ("report", "fail")


@dataclass(frozen=True, kw_only=True)
class Options:
    allow_rejected: bool = False
    allow_pii: bool | list[str] = False
    allow_plan: bool | list[str] = False
    allow_warnings: bool | list[str] = False
    allow_baseline: bool | list[str] = False


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
        "--analytics-block-third-party",
        choices=BLOCK_MODES,
        default=None,
        help="off (the default): attached pages reach every host. abort: their requests to "
        "hosts other than the page's own, the loopback and PostHog's fail at once; empty: "
        "they are answered 200 with an empty body. For app CSS/JS from public CDNs that a "
        "closed CI network would stall on; the end of the run lists what was blocked. "
        "Ini: analytics_block_third_party; env HYBRID_ANALYTICS_BLOCK_THIRD_PARTY.",
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
        "--analytics-baseline",
        metavar="PATH",
        default=None,
        help="compare each test's analytics (events, property keys and types, persons) with "
        "its entry in this baseline file; a difference fails the test at teardown. "
        "Ini: analytics_baseline.",
    )
    group.addoption(
        "--analytics-baseline-update",
        action="store_true",
        default=False,
        help="write the baseline instead: the tests that run and pass are replaced, the "
        "others kept, entries of tests that no longer exist removed",
    )
    group.addoption(
        "--analytics-summary",
        action="store_true",
        help="print what each test captured (events per side, persons, names) at the end",
    )
    group.addoption(
        "--analytics-jsonl",
        metavar="PATH",
        default=None,
        help="write the run's records (tests, outcomes, events, rejected requests, findings) "
        "to PATH as JSON Lines; merge CI shards with `hybrid-analytics report A.jsonl B.jsonl "
        "--html OUT.html --audit`. Ini: analytics_jsonl.",
    )
    group.addoption(
        "--analytics-plan-coverage",
        choices=COVERAGE_MODES,
        default=None,
        help="with a tracking plan, the end of the run lists the planned events no test saw "
        "(per side) and those seen only from a wrong side; report (the default) or fail (the "
        "run fails on them). Ini: analytics_plan_coverage.",
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
    parser.addini("analytics_baseline", "the analytics baseline file each test is compared with")
    parser.addini("analytics_jsonl", "write the run's records to this JSON Lines file")
    parser.addini(
        "analytics_plan_coverage",
        "report (default) or fail: planned events no test saw, at the end of a run with a plan",
        default="report",
    )
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
        "node_modules/posthog-js found from the rootdir, else the published posthog-js fetched "
        "from the npm registry on first use; env HYBRID_ANALYTICS_POSTHOG_JS)",
    )
    parser.addini(
        "analytics_posthog_js_version",
        f"the published posthog-js version pages get when no analytics_posthog_js is set, "
        f"an exact version (default: {DEFAULT_VERSION}, or node_modules/posthog-js found from "
        "the rootdir); fetched once from the npm registry and cached "
        "(env HYBRID_ANALYTICS_POSTHOG_JS_VERSION)",
    )
    parser.addini(
        "analytics_npm_registry",
        f"the npm registry posthog-js is fetched from (default: {NPM_REGISTRY}; a mirror; "
        "env HYBRID_ANALYTICS_NPM_REGISTRY)",
    )
    parser.addini(
        "analytics_block_third_party",
        "off (default), abort or empty: what attached pages' requests to hosts other than "
        "the page's own, the loopback and PostHog's get (env HYBRID_ANALYTICS_BLOCK_THIRD_PARTY)",
        default="off",
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


def posthog_js(config: pytest.Config) -> PostHogJs:
    """Where pages get posthog-js's own files (README, 'Browser'): a configured folder (a
    folder with no posthog-js in it is a usage error), else the pinned version, else
    ``node_modules/posthog-js`` found from the rootdir, else the default version; a published
    version is fetched from the npm registry only when a page first needs a file."""
    configured = setting(config, "analytics_posthog_js", "HYBRID_ANALYTICS_POSTHOG_JS")
    pin = posthog_js_version(config)
    registry = npm_registry(config)
    if configured:
        found = find_posthog_js(config.rootpath, configured)
        if found is None:
            raise pytest.UsageError(
                f"analytics_posthog_js (or HYBRID_ANALYTICS_POSTHOG_JS) names {configured!r}, "
                "which holds no posthog-js: give the posthog-js package folder (the one with "
                "dist/array.js, e.g. node_modules/posthog-js), or unset it"
            )
        origin = "analytics_posthog_js"
        if pin and pin != package_version(found):
            origin += f", which wins over analytics_posthog_js_version {pin}"
        return PostHogJs.local(found, origin=origin)
    found = find_posthog_js(config.rootpath)
    if found is not None and (pin is None or pin == package_version(found)):
        return PostHogJs.local(found, origin="node_modules found from the rootdir")
    return PostHogJs.published(
        pin or DEFAULT_VERSION,
        cache=cache_dir(config) / "posthog-js",
        registry=registry,
        origin="pinned by analytics_posthog_js_version" if pin else "the default pin",
    )


def posthog_js_version(config: pytest.Config) -> str | None:
    """The pinned posthog-js version (``None``: none); anything but an exact version is a
    usage error."""
    name = "analytics_posthog_js_version"
    pin = setting(config, name, "HYBRID_ANALYTICS_POSTHOG_JS_VERSION")
    if pin is not None and not is_version(pin.strip()):
        raise pytest.UsageError(
            f"{name} (or HYBRID_ANALYTICS_POSTHOG_JS_VERSION) must be an exact posthog-js "
            f"version such as {DEFAULT_VERSION} (no range, no tag: every run gets the same "
            f"posthog-js), got {pin!r}"
        )
    return pin.strip() if pin else None


def npm_registry(config: pytest.Config) -> str:
    """The npm registry posthog-js is fetched from; anything but an http(s) URL is a usage
    error."""
    registry = setting(config, "analytics_npm_registry", "HYBRID_ANALYTICS_NPM_REGISTRY")
    if registry is None:
        return NPM_REGISTRY
    parts = urlsplit(registry.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise pytest.UsageError(
            "analytics_npm_registry (or HYBRID_ANALYTICS_NPM_REGISTRY) must be an http(s) URL "
            f"of an npm registry such as {NPM_REGISTRY}, got {registry!r}"
        )
    return registry.strip().rstrip("/")


def cache_dir(config: pytest.Config) -> Path:
    """Where the plugin caches: pytest's cache (``.pytest_cache/d/hybrid-analytics``), or, when
    the cache plugin is off (``-p no:cacheprovider``) or cannot be written, the user's cache
    folder (``$XDG_CACHE_HOME`` or ``~/.cache``, in ``pytest-hybrid-analytics``)."""
    cache = getattr(config, "cache", None)
    if cache is not None:
        try:
            return Path(cache.mkdir("hybrid-analytics"))
        except OSError:
            pass
    return user_cache_dir()


def block_third_party(config: pytest.Config) -> str:
    """What attached pages' third-party requests get: ``off``, ``abort`` or ``empty``; the flag
    wins over the environment, which wins over the ini file."""
    value = (
        _option(config, "analytics_block_third_party")
        or os.environ.get("HYBRID_ANALYTICS_BLOCK_THIRD_PARTY")
        or config.getini("analytics_block_third_party")
        or "off"
    )
    mode = str(value).strip().lower()
    if mode not in BLOCK_MODES:
        raise pytest.UsageError(
            "analytics_block_third_party (or HYBRID_ANALYTICS_BLOCK_THIRD_PARTY) must be one of "
            f"{', '.join(BLOCK_MODES)}, got {value!r}"
        )
    return mode


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


def run_outputs(config: pytest.Config) -> tuple[str | None, str, str | None]:
    """Where the run's records go as JSON Lines (or ``None``), what uncovered planned events
    do (``"report"`` or ``"fail"``), and GitHub Actions' job summary file (or ``None``)."""
    jsonl = config.getoption("analytics_jsonl") or config.getini("analytics_jsonl") or None
    coverage = (
        str(config.getoption("analytics_plan_coverage") or config.getini("analytics_plan_coverage"))
        .strip()
        .lower()
    )
    if coverage not in COVERAGE_MODES:
        raise pytest.UsageError(
            f"analytics_plan_coverage must be one of {', '.join(COVERAGE_MODES)}, got {coverage!r}"
        )
    summary = os.environ.get("GITHUB_STEP_SUMMARY") or None
    return jsonl, coverage, summary


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


def baseline(config: pytest.Config) -> BaselineRun | None:
    """The analytics baseline the run compares with or updates (README, 'Baselines'), or
    ``None``: ``--analytics-baseline`` (from where pytest runs) or the ``analytics_baseline``
    ini key (from the rootdir). A file that cannot be used is a usage error."""
    from pytest_hybrid_analytics._checks.baseline import BaselineError
    from pytest_hybrid_analytics._pytest.baseline import BaselineRun

    update = bool(config.getoption("analytics_baseline_update"))
    option = config.getoption("analytics_baseline")
    given = option or config.getini("analytics_baseline")
    if not given:
        if update:
            raise pytest.UsageError(
                "--analytics-baseline-update needs the baseline file: --analytics-baseline=PATH "
                "or the analytics_baseline ini key"
            )
        return None
    base = config.invocation_params.dir if option else config.rootpath
    try:
        return BaselineRun(config, Path(base, given), shown=str(given), update=update)
    except BaselineError as error:
        raise pytest.UsageError(str(error)) from None
