"""The plugin beside the HTTP and SDK mocks a suite already has, each the real library:
``responses``, pytest-httpx's ``httpx_mock``, respx's ``respx_mock`` and ``unittest.mock``.

What is pinned here: inside a user's mock scope, a PostHog request is the mock's business
where that mock sits above the plugin's road (``responses``: it answers what the user
registered and refuses the rest with its ``ConnectionError``; ``httpx_mock``: it answers what
the user registered and fails the test on the rest; ``unittest.mock``: the SDK call never
runs; respx's ``respx_mock``: a PostHog request one of its routes matches is the user's, every
other PostHog request stays the plugin's). Outside the scope, each capture is recorded exactly
once: also when ``responses`` was imported by a conftest before the plugin's configure (the
guard is installed before conftests load), and when the plugin's road was installed late (the
network guard off) under an active ``responses`` mock (each test that uses ``analytics`` mends
the road).

Each inner session runs in a subprocess, as a user's suite runs: the plugin then patches
``requests`` and starts its respx router once, at configure, with no outer session's roads
beneath them (respx keeps its routers in one process-wide list). Nothing here reaches the
network: the app's other requests go to URLs a mock answers or to a loopback server.
"""

from __future__ import annotations

import pytest
from support import INNER_INI

#: What every inner test module imports: a sync ``posthog`` client pointed at PostHog cloud.
COEX = """
    from posthog import Posthog

    HOST = "https://us.i.posthog.com"
    KEY = "phc_coexist"


    def client():
        return Posthog(KEY, host=HOST, sync_mode=True)


    def capture(event):
        sdk = client()
        sdk.capture(event, distinct_id="user-1")
        sdk.shutdown()


    def hand_rolled(event):
        return {"api_key": KEY, "event": event, "distinct_id": "user-1"}


    def names(analytics):
        analytics.flush()
        return [event.event for event in analytics.events]
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(coex=COEX)
    return pytester


def run(inner: pytest.Pytester, source: str) -> pytest.RunResult:
    inner.makepyfile(test_user_suite=source)
    # In file order: some inner tests are about what a later test sees.
    return inner.runpytest_subprocess("-p", "no:randomly")


# --- responses: it patches the same HTTPAdapter.send, on top of the plugin's patch ---------


def test_responses_answers_inside_its_scope_and_the_plugin_records_after_it(
    inner: pytest.Pytester,
) -> None:
    result = run(
        inner,
        """
        import json

        import pytest
        import requests
        import responses
        from requests.adapters import HTTPAdapter

        from coex import HOST, capture, client, hand_rolled, names


        def test_inside_then_after(analytics, httpserver):
            httpserver.expect_request("/ping").respond_with_data("pong")
            before = HTTPAdapter.send
            with responses.RequestsMock() as rsps:
                users = rsps.get("https://api.example.test/users", json={"users": 1})
                batch = rsps.post(f"{HOST}/batch/", json={"status": "mocked"})
                answer = requests.get("https://api.example.test/users", timeout=5)
                assert answer.json() == {"users": 1}
                # A PostHog URL the user registered: the user's response, not the fake API's.
                sdk = client()
                sdk.capture("inside_registered", distinct_id="user-1")
                sdk.shutdown()
                mocked = requests.post(f"{HOST}/batch/", json={"api_key": "k", "batch": []},
                                       timeout=5)
                assert mocked.json() == {"status": "mocked"}
                # One it did not: refused the way responses refuses every unregistered URL.
                with pytest.raises(requests.ConnectionError,
                                   match="Connection refused by Responses"):
                    requests.post(f"{HOST}/i/v0/e/", json=hand_rolled("inside_unregistered"),
                                  timeout=5)
                assert (users.call_count, batch.call_count) == (1, 2)
                sent = json.loads(rsps.calls[1].request.body)
                assert [e["event"] for e in sent["batch"]] == ["inside_registered"]
                assert names(analytics) == []
            # responses put back what it found: the plugin's road, not a mock of its own.
            assert HTTPAdapter.send is before
            assert requests.get(httpserver.url_for("/ping"), timeout=5).text == "pong"
            capture("after_scope")
            assert len(analytics.wait_for("after_scope")) == 1
            assert names(analytics) == ["after_scope"]
            assert analytics.rejected == []
        """,
    )
    result.assert_outcomes(passed=1)


def test_responses_activate_refuses_an_unregistered_posthog_request_then_hands_back(
    inner: pytest.Pytester,
) -> None:
    result = run(
        inner,
        """
        import requests
        import responses
        from requests.adapters import HTTPAdapter

        from coex import HOST, capture, client, names

        ROAD = HTTPAdapter.send  # the module is imported after the plugin's configure


        @responses.activate
        def test_decorated(analytics):
            assert HTTPAdapter.send is not ROAD
            users = responses.get("https://api.example.test/users", json={"users": 1})
            assert requests.get("https://api.example.test/users", timeout=5).json() == {
                "users": 1
            }
            # The SDK sends to /batch/, which the user never registered: responses refuses it
            # with its ConnectionError, which the SDK logs and swallows.
            sdk = client()
            sdk.capture("refused_inside", distinct_id="user-1")
            sdk.shutdown()
            [refused] = [c for c in responses.calls if c.request.url == f"{HOST}/batch/"]
            assert isinstance(refused.response, requests.ConnectionError)
            assert users.call_count == 1
            assert names(analytics) == []


        def test_after_the_decorated_test(analytics):
            assert HTTPAdapter.send is ROAD
            capture("after_decorated")
            assert len(analytics.wait_for("after_decorated")) == 1
            assert names(analytics) == ["after_decorated"]


        def test_after_the_block_in_the_same_test(analytics):
            with responses.RequestsMock(assert_all_requests_are_fired=False):
                capture("refused_in_block")
            capture("after_block")
            assert len(analytics.wait_for("after_block")) == 1
            assert names(analytics) == ["after_block"]
        """,
    )
    result.assert_outcomes(passed=3)


PASSTHRU = """
    import requests
    import responses
    import urllib3.util.connection

    from coex import HOST, hand_rolled, names


    def test_passthru_posthog(analytics, monkeypatch):
        attempts = []

        def no_network(address, *args, **kwargs):
            attempts.append(address)
            raise OSError("this test allows no connection")

        monkeypatch.setattr(urllib3.util.connection, "create_connection", no_network)
        with responses.RequestsMock() as rsps:
            users = rsps.get("https://api.example.test/users", json={"users": 1})
            rsps.add_passthru(HOST)
            requests.get("https://api.example.test/users", timeout=5)
            answer = requests.post(f"{HOST}/i/v0/e/", json=hand_rolled("passed_through"),
                                   timeout=5)
        assert attempts == []
        assert answer.json() == {"status": 1}
        assert users.call_count == 1
        assert len(analytics.wait_for("passed_through")) == 1
        assert names(analytics) == ["passed_through"]
"""


def test_a_posthog_url_passed_through_by_responses_reaches_the_plugin(
    inner: pytest.Pytester,
) -> None:
    # responses passes a request through to the HTTPAdapter.send it found when it was imported;
    # a test module is imported after the plugin's configure, so that is the plugin's road.
    run(inner, PASSTHRU).assert_outcomes(passed=1)


def test_a_posthog_url_passed_through_by_responses_imported_in_a_conftest(
    inner: pytest.Pytester,
) -> None:
    inner.makeconftest("import responses  # noqa: F401  (the pattern of responses' README)\n")
    run(inner, PASSTHRU).assert_outcomes(passed=1)


#: A module-scoped ``responses`` mock, then a later module whose capture must be recorded.
MOCKED_THEN_LATER = {
    "test_a_mocked_module": """
        import pytest
        import requests
        import responses


        @pytest.fixture(scope="module")
        def mocked_api():
            with responses.RequestsMock() as rsps:
                rsps.get("https://api.example.test/users", json={"users": 1})
                yield rsps


        def test_first_analytics_test(mocked_api, analytics):
            assert requests.get("https://api.example.test/users", timeout=5).json() == {
                "users": 1
            }
    """,
    "test_b_later_module": """
        import urllib3.util.connection

        from coex import capture, names


        def test_later_capture(analytics, monkeypatch):
            attempts = []

            def no_network(address, *args, **kwargs):
                attempts.append(address)
                raise OSError("this test allows no connection")

            monkeypatch.setattr(urllib3.util.connection, "create_connection", no_network)
            capture("after_the_mocked_module")
            assert attempts == []
            assert len(analytics.wait_for("after_the_mocked_module", timeout=1)) == 1
            assert names(analytics) == ["after_the_mocked_module"]
    """,
}


def test_the_road_is_back_after_a_module_scoped_responses_mock(inner: pytest.Pytester) -> None:
    # The plugin patches at configure, responses over it; its stop puts the plugin's road back.
    inner.makepyfile(**MOCKED_THEN_LATER)
    inner.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=2)


def test_the_road_survives_a_responses_mock_active_when_it_was_installed(
    inner: pytest.Pytester,
) -> None:
    # The reverse nesting: responses patches first, the plugin second (the guard off defers the
    # plugin's patch from configure to the first test that uses analytics).
    inner.makepyfile(**MOCKED_THEN_LATER)
    result = inner.runpytest_subprocess("-p", "no:randomly", "--analytics-network-guard=off")
    if result.ret == pytest.ExitCode.USAGE_ERROR:  # not the bug: the setting is gone
        raise RuntimeError("\n".join(result.errlines))
    result.assert_outcomes(passed=2)


# --- pytest-httpx's httpx_mock: it patches httpx's transports, above the plugin's router ----


def test_httpx_mock_answers_a_registered_posthog_request_then_the_plugin_records(
    inner: pytest.Pytester,
) -> None:
    result = run(
        inner,
        """
        import httpx
        import pytest

        from coex import HOST, hand_rolled, names


        def test_with_httpx_mock(analytics, httpx_mock):
            httpx_mock.add_response(url="https://api.example.test/users", json={"users": 1})
            httpx_mock.add_response(url=f"{HOST}/i/v0/e/", json={"status": "mocked"})
            assert httpx.get("https://api.example.test/users").json() == {"users": 1}
            answer = httpx.post(f"{HOST}/i/v0/e/", json=hand_rolled("mocked_by_user"))
            assert answer.json() == {"status": "mocked"}
            [sent] = httpx_mock.get_requests(url=f"{HOST}/i/v0/e/")
            assert b"mocked_by_user" in sent.content
            assert names(analytics) == []


        @pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "us.i.posthog.com")
        def test_with_httpx_mock_leaving_posthog_alone(analytics, httpx_mock):
            httpx_mock.add_response(url="https://api.example.test/users", json={"users": 2})
            assert httpx.get("https://api.example.test/users").json() == {"users": 2}
            answer = httpx.post(f"{HOST}/i/v0/e/", json=hand_rolled("left_to_the_plugin"))
            assert answer.json() == {"status": 1}
            assert len(analytics.wait_for("left_to_the_plugin")) == 1
            assert names(analytics) == ["left_to_the_plugin"]
            assert httpx_mock.get_requests(url=f"{HOST}/i/v0/e/") == []


        def test_later_without_httpx_mock(analytics):
            answer = httpx.post(f"{HOST}/i/v0/e/", json=hand_rolled("after_httpx_mock"))
            assert answer.json() == {"status": 1}
            assert len(analytics.wait_for("after_httpx_mock")) == 1
            assert names(analytics) == ["after_httpx_mock"]
        """,
    )
    result.assert_outcomes(passed=3)


def test_httpx_mock_fails_the_test_on_an_unregistered_posthog_request(
    inner: pytest.Pytester,
) -> None:
    result = run(
        inner,
        """
        import httpx
        import pytest

        from coex import HOST, hand_rolled, names


        def test_unregistered(analytics, httpx_mock):
            httpx_mock.add_response(url="https://api.example.test/users", json={"users": 1})
            assert httpx.get("https://api.example.test/users").json() == {"users": 1}
            with pytest.raises(httpx.TimeoutException, match="No response can be found for "
                               "POST request on https://us.i.posthog.com/i/v0/e/"):
                httpx.post(f"{HOST}/i/v0/e/", json=hand_rolled("unregistered"))
            assert names(analytics) == []
        """,
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_unregistered*",
            "E*AssertionError: The following requests were not expected:",
            "E*- POST request on https://us.i.posthog.com/i/v0/e/",
        ]
    )


# --- respx's respx_mock: a router beside the plugin's, after it ----------------------------


def test_respx_mock_answers_the_users_routes_and_the_plugin_keeps_posthogs(
    inner: pytest.Pytester,
) -> None:
    result = run(
        inner,
        """
        import httpx
        import pytest
        import respx

        from coex import HOST, hand_rolled, names


        def test_with_respx_mock(analytics, respx_mock):
            users = respx_mock.get("https://api.example.test/users").respond(json={"users": 1})
            assert httpx.get("https://api.example.test/users").json() == {"users": 1}
            answer = httpx.post(f"{HOST}/i/v0/e/", json=hand_rolled("beside_respx"))
            assert answer.json() == {"status": 1}
            # A request neither router takes: the user's router's rule (assert_all_mocked).
            with pytest.raises(respx.models.AllMockedAssertionError, match="not mocked"):
                httpx.get("https://api.example.test/unrouted")
            assert users.call_count == 1
            assert len(analytics.wait_for("beside_respx")) == 1
            assert names(analytics) == ["beside_respx"]


        def test_a_posthog_route_of_the_user_wins_inside_its_scope(analytics, respx_mock):
            # The user routed PostHog's endpoint (to test an outage, say): their mock answers,
            # and nothing is recorded; other PostHog requests are still the plugin's.
            mine = respx_mock.post(f"{HOST}/i/v0/e/").respond(503, json={"status": "down"})
            answer = httpx.post(f"{HOST}/i/v0/e/", json=hand_rolled("routed_by_user"))
            assert (answer.status_code, answer.json()) == (503, {"status": "down"})
            assert mine.call_count == 1
            httpx.post(f"{HOST}/batch/", json={"api_key": "k", "batch": [hand_rolled("kept")]})
            assert len(analytics.wait_for("kept")) == 1
            assert names(analytics) == ["kept"]


        def test_later_without_respx_mock(analytics):
            httpx.post(f"{HOST}/i/v0/e/", json=hand_rolled("after_respx_mock"))
            assert len(analytics.wait_for("after_respx_mock")) == 1
            assert names(analytics) == ["after_respx_mock"]
        """,
    )
    result.assert_outcomes(passed=3)


# --- unittest.mock over the SDK itself ------------------------------------------------------


def test_mock_patch_of_the_module_level_posthog_capture(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
        from unittest import mock

        import posthog

        from coex import HOST, KEY, names


        def test_module_level(analytics, monkeypatch):
            monkeypatch.setattr(posthog, "default_client", None)
            monkeypatch.setattr(posthog, "project_api_key", KEY)
            monkeypatch.setattr(posthog, "host", HOST)
            monkeypatch.setattr(posthog, "sync_mode", True)
            with mock.patch("posthog.capture") as fake:
                posthog.capture("mocked_module_level", distinct_id="user-1")
            fake.assert_called_once_with("mocked_module_level", distinct_id="user-1")
            assert names(analytics) == []
            posthog.capture("real_module_level", distinct_id="user-1")
            assert len(analytics.wait_for("real_module_level")) == 1
            assert names(analytics) == ["real_module_level"]
            posthog.shutdown()
        """,
    )
    result.assert_outcomes(passed=1)


def test_mock_patch_object_of_posthog_capture(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
        from unittest import mock

        import posthog

        from coex import client, names


        def test_client_method(analytics):
            sdk = client()
            with mock.patch.object(posthog.Posthog, "capture") as fake:
                sdk.capture("mocked_method", distinct_id="user-1")
            fake.assert_called_once_with("mocked_method", distinct_id="user-1")
            assert names(analytics) == []
            sdk.capture("real_method", distinct_id="user-1")
            sdk.shutdown()
            assert len(analytics.wait_for("real_method")) == 1
            assert names(analytics) == ["real_method"]
        """,
    )
    result.assert_outcomes(passed=1)
