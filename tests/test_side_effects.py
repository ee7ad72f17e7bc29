"""The plugin changes a run only where analytics is used: no socket until a fixture needs the
collector, ``requests`` untouched with the network guard off, pytest-playwright's Chromium
launch untouched in a suite that never asks for ``analytics``.

Each inner run is a subprocess: it checks its own process (listening sockets, the ``requests``
class) from a ``pytest_sessionfinish`` hook, after every test ran.
"""

from __future__ import annotations

import pytest

#: Written into each inner run's conftest: what the run left behind, printed at its end.
PROBE = '''
import os

import pytest


def listening_sockets():
    """Sockets of this process in the LISTEN state (Linux /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:
                    count += 1
    return count


def pytest_sessionfinish(session):
    from requests.adapters import HTTPAdapter

    patched = getattr(HTTPAdapter.send, "__wrapped__", None) is not None
    print(f"\\nPROBE listening={listening_sockets()} requests_patched={patched}")
'''


def _suite(pytester: pytest.Pytester, *, guard: str | None, body: str) -> pytest.RunResult:
    guard_line = f"analytics_network_guard = {guard}" if guard else ""
    pytester.makeini(f"""
        [pytest]
        addopts = -p no:cacheprovider -s
        asyncio_default_fixture_loop_scope = function
        {guard_line}
    """)
    pytester.makeconftest(PROBE)
    pytester.makepyfile(body)
    return pytester.runpytest_subprocess("-p", "hybrid_analytics")


PLAIN = """
    import requests

    def test_plain(httpserver):
        httpserver.expect_request("/ping").respond_with_data("pong")
        assert requests.get(httpserver.url_for("/ping"), timeout=5).text == "pong"
"""


def test_guard_off_and_no_analytics_leaves_requests_alone_and_binds_nothing(
    pytester: pytest.Pytester,
) -> None:
    result = _suite(pytester, guard="off", body=PLAIN)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "hybrid-analytics: network guard: off (only tests that use analytics), collector: "
            "on first use, *",
            "PROBE listening=0 requests_patched=False",
        ]
    )


def test_the_guard_is_on_by_default_and_still_binds_no_socket(pytester: pytest.Pytester) -> None:
    result = _suite(pytester, guard=None, body=PLAIN)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["hybrid-analytics: network guard: on, *", "PROBE listening=0 requests_patched=True"]
    )


def test_guard_off_still_records_the_tests_that_use_analytics(pytester: pytest.Pytester) -> None:
    result = _suite(
        pytester,
        guard="off",
        body="""
        from posthog import Posthog

        def test_records(analytics):
            client = Posthog("phc_key", host="https://us.i.posthog.com", sync_mode=True)
            client.capture("signed_up", distinct_id="u1")
            assert [e.distinct_id for e in analytics.wait_for("signed_up")] == ["u1"]
            assert analytics.host.startswith("http://127.0.0.1:")
        """,
    )
    result.assert_outcomes(passed=1)
    # The first analytics test installed the roads and started the collector; the session's
    # end stopped them (the probe runs after the plugin's own sessionfinish).
    result.stdout.fnmatch_lines(["PROBE listening=* requests_patched=*"])


@pytest.mark.parametrize("guard", ["sometimes", "2"])
def test_a_bad_guard_value_is_a_usage_error(pytester: pytest.Pytester, guard: str) -> None:
    result = _suite(pytester, guard=guard, body=PLAIN)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*analytics_network_guard must be on or off, got '{guard}'*"])


def test_the_command_line_wins_over_the_ini_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("""
        [pytest]
        addopts = -p no:cacheprovider -s
        analytics_network_guard = on
    """)
    pytester.makeconftest(PROBE)
    pytester.makepyfile(PLAIN)
    result = pytester.runpytest_subprocess(
        "-p", "hybrid_analytics", "--analytics-network-guard=off"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["PROBE listening=0 requests_patched=False"])


#: Stands in for "Playwright's own Chromium is installed" (an executable that exists), so that
#: the run can show what the plugin does on a machine that has it; nothing is launched.
INSTALLED = """
import sys
from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def browser_type():
    return SimpleNamespace(name="chromium", executable_path=sys.executable)
"""


@pytest.mark.parametrize(
    ("uses", "changed"),
    [(False, False), (True, True)],
    ids=["no-test-uses-analytics", "a-test-uses-analytics"],
)
def test_chromium_launch_changes_only_where_analytics_is_used(
    pytester: pytest.Pytester, uses: bool, changed: bool
) -> None:
    pytester.makeini("""
        [pytest]
        addopts = -p no:cacheprovider
        analytics_network_guard = off
    """)
    pytester.makeconftest(INSTALLED)
    fixture = "analytics, " if uses else ""
    pytester.makepyfile(f"""
        def test_launch({fixture}browser_type_launch_args):
            args = browser_type_launch_args.get("args") or []
            changed = "--disable-background-networking" in args
            assert changed is {changed}
            assert ("executable_path" in browser_type_launch_args) is False
    """)
    result = pytester.runpytest_subprocess("-p", "hybrid_analytics")
    result.assert_outcomes(passed=1)
    line = (
        "hybrid-analytics: Chromium launch: adds --disable-background-networking *, because "
        "1 collected test uses analytics *"
        if uses
        else "hybrid-analytics: Chromium launch: left as pytest-playwright sets it (no collected "
        "test uses analytics), unless Playwright's own Chromium is missing: *"
    )
    result.stdout.fnmatch_lines([line])


def test_chromium_launch_is_completed_when_playwrights_own_is_missing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("""
        [pytest]
        addopts = -p no:cacheprovider
        analytics_network_guard = off
    """)
    pytester.makeconftest("""
        from types import SimpleNamespace

        import pytest

        @pytest.fixture(scope="session")
        def browser_type():
            return SimpleNamespace(name="chromium", executable_path="/nonexistent/chrome")
    """)
    pytester.makepyfile("""
        from pathlib import Path

        def test_launch(browser_type_launch_args):
            assert Path(browser_type_launch_args["executable_path"]).exists()
            assert "--disable-background-networking" in browser_type_launch_args["args"]
    """)
    result = pytester.runpytest_subprocess("-p", "hybrid_analytics")
    result.assert_outcomes(passed=1)
