"""Which requests the in-process roads claim as PostHog's: the claim rule, edge by edge."""

from __future__ import annotations

import pytest

from pytest_hybrid_analytics._roads.hosts import PostHogHosts


@pytest.mark.parametrize(
    "url",
    [
        "https://us.i.posthog.com/batch/",
        "https://eu.i.posthog.com/e/?ip=1",
        "https://app.posthog.com/decide/",
        "https://us-assets.i.posthog.com/static/array.js",
        "https://posthog.com/capture/",
        "HTTPS://US.I.PostHog.COM/batch/",
    ],
)
def test_posthog_cloud_hosts_are_claimed_whatever_the_headers(url: str) -> None:
    assert PostHogHosts().claims(url, {"User-Agent": "python-requests/2.31"})
    assert PostHogHosts().claims(url, None)


@pytest.mark.parametrize(
    "url",
    [
        "https://notposthog.com/batch/",
        "https://posthog.com.evil.example/batch/",
        "https://api.stripe.com/v1/charges",
        "https://example.com/posthog.com/batch/",
        "/relative/batch/",
    ],
)
def test_look_alike_and_foreign_hosts_are_left_alone(url: str) -> None:
    assert not PostHogHosts().claims(url, {"User-Agent": "python-requests/2.31"})
    assert not PostHogHosts().claims(url, {})
    assert not PostHogHosts().claims(url, None)


def test_the_suites_own_hosts_are_claimed_in_any_case_and_spacing() -> None:
    hosts = PostHogHosts(extra=["  Analytics.Example.COM ", "", "   "])
    assert hosts.claims("https://analytics.example.com/batch/", {})
    assert hosts.claims("https://ANALYTICS.example.com/batch/", {})
    assert not hosts.claims("https://other.example.com/batch/", {})
    # Blank entries declare nothing: a URL with no host is not claimed because of them.
    assert not hosts.claims("/batch/", {})


def test_excluded_netlocs_are_never_claimed_even_by_an_sdk_or_a_cloud_host() -> None:
    hosts = PostHogHosts(exclude=["127.0.0.1:8123", "Collector.Local:80"])
    sdk = {"User-Agent": "posthog-python/7.0.0"}
    assert not hosts.claims("http://127.0.0.1:8123/batch/", sdk)
    assert not hosts.claims("http://collector.local:80/batch/", sdk)
    assert not hosts.claims("http://COLLECTOR.LOCAL:80/batch/", sdk)
    # Only that netloc: the same host on another port is an SDK's request like any other.
    assert hosts.claims("http://127.0.0.1:9999/batch/", sdk)
    assert not PostHogHosts(exclude=["us.i.posthog.com"]).claims("https://us.i.posthog.com/e/", {})


@pytest.mark.parametrize(
    "headers",
    [
        {"User-Agent": "posthog-python/7.0.0"},
        {"user-agent": "PostHog-Node/4.0"},
        {"PostHog-Sdk-Info": "posthog-js/1.200.0"},
        {"posthog-sdk-info": "posthog-js/1.200.0", "User-Agent": "Mozilla/5.0"},
    ],
)
def test_a_self_hosted_instance_is_claimed_when_an_sdk_sent_the_request(
    headers: dict[str, str],
) -> None:
    assert PostHogHosts().claims("https://analytics.internal:8000/batch/", headers)


@pytest.mark.parametrize(
    "headers",
    [
        {"User-Agent": "python-requests/2.31 posthog-python"},
        {"User-Agent": "Mozilla/5.0"},
        {"X-Agent": "posthog-python/7.0.0"},
        {"PostHog-Sdk-Info": "my-posthog-wrapper"},
    ],
)
def test_a_request_that_only_mentions_posthog_is_not_an_sdks(headers: dict[str, str]) -> None:
    assert not PostHogHosts().claims("https://analytics.internal:8000/batch/", headers)


def test_the_sdk_info_header_wins_over_the_user_agent() -> None:
    browser_agent = {"PostHog-Sdk-Info": "web", "User-Agent": "posthog-python/7.0.0"}
    assert not PostHogHosts().claims("https://analytics.internal/batch/", browser_agent)
