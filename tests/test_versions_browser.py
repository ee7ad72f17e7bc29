"""The browser road across posthog-js versions (README, 'Supported SDK versions').

For each version in the table, pinned as an npm alias in fixtures/package.json, the unchanged
snippet page (its ``array.js`` served by the harness from that version, as
``analytics_posthog_js`` would) and an npm-bundle page (the package's own ``dist/module.js``,
or ``dist/array.full.js`` by a ``<script>`` where ``module.js`` is CommonJS) each deliver
``$pageview``, a custom event, ``$identify``, the unload beacon and a flag. One browser for all
versions: the versions are a module-scoped parameter, so each switches the harness once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from web_app import WebApp

from pytest_hybrid_analytics import Analytics, assert_no_duplicates, assert_same_person, plugin
from pytest_hybrid_analytics._model.sdk_versions import SUPPORTED

NODE_MODULES = Path(__file__).resolve().parent.parent / "fixtures" / "node_modules"
LOCK = json.loads((NODE_MODULES.parent / "package-lock.json").read_text())


def package_of(version: str) -> str:
    """The npm alias that pins ``version`` (``posthog-js`` itself for the default pin)."""
    for path, entry in LOCK["packages"].items():
        name = path.removeprefix("node_modules/")
        if name.startswith("posthog-js") and "/" not in name and entry["version"] == version:
            return name
    raise AssertionError(f"posthog-js {version} is not pinned in fixtures/package-lock.json")


VERSIONS = list(SUPPORTED["posthog-js"])


def is_es_module(version: str) -> bool:
    text = (NODE_MODULES / package_of(version) / "dist" / "module.js").read_text()
    return "export" in text[-2000:] and "exports.default" not in text[-2000:]


@pytest.fixture(scope="module", params=VERSIONS)
def js_version(request: pytest.FixtureRequest) -> Iterator[str]:
    """Pages get this version's own files (the snippet's array.js, lazy scripts) from the
    harness for the tests of this parameter."""
    harness = request.config.stash[plugin._HARNESS]
    saved = harness.posthog_js
    harness.posthog_js = NODE_MODULES / package_of(request.param) / "dist"
    yield request.param
    harness.posthog_js = saved


def page_url(web_app: WebApp, version: str, style: str) -> str:
    if style == "snippet":
        return f"{web_app.url}/snippet.html"
    how = "" if is_es_module(version) else "&as=script"
    return f"{web_app.url}/versions-bundle.html?pkg={package_of(version)}{how}"


@pytest.mark.parametrize("style", ["snippet", "bundle"])
def test_every_version_delivers_the_journey(
    analytics: Analytics,
    page: Page,
    web_app: WebApp,
    js_version: str,
    style: str,
) -> None:
    """$pageview, a custom event, $identify and a flag."""
    analytics.flags.set("new-checkout", "test")
    page.goto(page_url(web_app, js_version, style))
    [pageview] = analytics.wait_for("$pageview", source="client")
    assert (pageview.lib, pageview.properties["$lib_version"]) == ("web", js_version)
    anon = pageview.distinct_id
    expect(page.locator("#flag")).to_have_text("test")
    page.click("#buy")
    analytics.wait_for("purchase_clicked", plan="pro", price=29.99, distinct_id=anon)
    page.click("#login")
    [identify] = analytics.wait_for("$identify", distinct_id="user-42")
    assert identify.properties["$anon_distinct_id"] == anon
    analytics.wait_for("$feature_flag_called", **{"$feature_flag_response": "test"})
    assert_same_person(analytics)
    assert_no_duplicates(analytics)
    assert {e.properties["$lib_version"] for e in analytics.find(source="client")} == {js_version}
    assert analytics.rejected == []


@pytest.mark.parametrize("style", ["snippet", "bundle"])
def test_every_version_delivers_the_unload_beacon(
    analytics: Analytics,
    page: Page,
    web_app: WebApp,
    js_version: str,
    style: str,
) -> None:
    """Two captures, then the page navigates away at once: they leave with $pageleave in the
    sendBeacon posthog-js sends at pagehide."""
    page.goto(page_url(web_app, js_version, style))
    analytics.wait_for("$pageview", source="client")
    analytics.flush()  # nothing armed to leave mid-gzip with the navigation (test_browser.py)
    page.click("#leave")
    page.wait_for_url("**/next.html")
    for name in ("queued_one", "queued_two", "$pageleave"):
        analytics.wait_for(name, source="client")
    assert {e.properties["$lib_version"] for e in analytics.find(source="client")} == {js_version}
    assert analytics.rejected == []
