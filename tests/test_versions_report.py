"""An SDK version outside the proven table says so (README, 'Supported SDK versions'): the
pure table and its wording, and the end of a pytest run naming the SDK versions the events came
from, with a warning naming the nearest supported version."""

from __future__ import annotations

import pytest
from support import INNER_INI

from pytest_hybrid_analytics._model.sdk_versions import (
    SUPPORTED,
    is_covered,
    nearest_supported,
    version_warning,
    versions_line,
)


@pytest.mark.parametrize(
    ("sdk", "version", "nearest"),
    [
        ("posthog-js", "1.20.0", "1.57.2"),
        ("posthog-js", "1.300.1", "1.312.0"),
        ("posthog-js", "1.460.0", "1.449.2"),
        ("posthog-js", "2.0.0", "1.449.2"),
        ("posthog-python", "2.5.0", "3.25.0"),
        ("posthog-python", "6.0.0", "6.9.3"),
        ("posthog-python", "8.1.0", "7.91.1"),
        ("posthog-node", "3.6.3", "4.18.0"),
    ],
)
def test_the_nearest_supported_version(sdk: str, version: str, nearest: str) -> None:
    assert nearest_supported(sdk, version) == nearest


def test_what_is_covered() -> None:
    for sdk, versions in SUPPORTED.items():
        assert all(is_covered(sdk, v) for v in versions), sdk
    assert is_covered("posthog-js", "1.300.0")  # between two proven versions of its line
    assert not is_covered("posthog-js", "1.56.0")
    assert not is_covered("posthog-python", "7.80.0")  # older than the one 7.x proven
    assert not is_covered("posthog-ruby", "1.0.0")
    assert nearest_supported("posthog-js", "latest") is None


def test_the_warning_names_the_nearest_supported_version() -> None:
    assert version_warning("posthog-js", "1.449.2") is None
    assert version_warning("posthog-python", "2.5.0") == (
        "posthog-python 2.5.0 is older than every version the harness is proven on: its "
        "verdicts may differ; nearest supported: 3.25.0 (README, 'Supported SDK versions')"
    )
    assert version_warning("posthog-js", "1.460.0") == (
        "posthog-js 1.460.0 is newer than every version the harness is proven on: its verdicts "
        "may differ; nearest supported: 1.449.2 (README, 'Supported SDK versions')"
    )
    assert version_warning("posthog-python", "7.80.0") == (
        "posthog-python 7.80.0 is outside the versions the harness is proven on: its verdicts "
        "may differ; nearest supported: 7.91.1 (README, 'Supported SDK versions')"
    )
    assert versions_line(
        [("posthog-python", "7.91.1"), ("posthog-js", "1.449.2"), ("posthog-python", "3.25.0")]
    ) == ("posthog-js 1.449.2, posthog-python 3.25.0 and 7.91.1")


SUITE = """
    import json

    def send(analytics, lib, version, distinct_id="u1"):
        body = {"api_key": "phc_k", "batch": [{"event": "e", "distinct_id": distinct_id,
                "properties": {"$lib": lib, "$lib_version": version}}]}
        analytics.api.handle("POST", "https://us.i.posthog.com/batch/", {}, json.dumps(body))

    def test_current(analytics):
        send(analytics, "web", "1.449.2")
        send(analytics, "posthog-python", "7.91.1")

    def test_old(analytics):
        send(analytics, "posthog-python", "2.5.0")
        send(analytics, "posthog-node", "5.70.0")
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(SUITE)
    return pytester


def test_the_run_names_the_sdk_versions_and_warns_outside_the_table(
    inner: pytest.Pytester,
) -> None:
    result = inner.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*= hybrid-analytics =*",
            "SDK versions the events came from: posthog-js 1.449.2, posthog-node 5.70.0, "
            "posthog-python 2.5.0 and 7.91.1",
            "warning: posthog-python 2.5.0 is older than every version the harness is proven on: "
            "its verdicts may differ; nearest supported: 3.25.0 (README, 'Supported SDK "
            "versions')",
        ],
        consecutive=True,
    )
    assert result.stdout.str().count("warning:") == 1


def test_the_same_under_xdist(inner: pytest.Pytester) -> None:
    result = inner.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "SDK versions the events came from: posthog-js 1.449.2, posthog-node 5.70.0, "
            "posthog-python 2.5.0 and 7.91.1",
            "warning: posthog-python 2.5.0 is older than every version *: 3.25.0 *",
        ],
        consecutive=True,
    )


def test_a_run_with_current_sdks_only_names_them(inner: pytest.Pytester) -> None:
    result = inner.runpytest("-k", "not test_old")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(
        ["SDK versions the events came from: posthog-js 1.449.2, posthog-python 7.91.1"]
    )
    assert "warning:" not in result.stdout.str()
