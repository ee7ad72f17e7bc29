"""The fake PostHog API: ingestion, flags, remote config, and refusals that lose nothing."""

from __future__ import annotations

import json

import pytest

from pytest_hybrid_analytics import Analytics, FakePostHog, FlagBook, assert_no_duplicates
from pytest_hybrid_analytics._model.wire import encode_body

BATCH = {
    "api_key": "phc_k",
    "batch": [
        {"event": "paid", "distinct_id": "u", "uuid": "e1", "properties": {"$lib": "posthog-node"}}
    ],
}


@pytest.fixture
def analytics() -> Analytics:
    return Analytics()


def test_ingestion_records_and_answers_exactly_200(analytics: Analytics) -> None:
    body, headers, _ = encode_body(BATCH, "gzip")
    answer = analytics.api.handle(
        "POST", "https://us.i.posthog.com/batch/", headers, body, transport="requests"
    )
    assert (answer.status, answer.data) == (200, {"status": 1})
    [event] = analytics.events
    assert (event.event, event.source, event.transport) == ("paid", "server", "requests")


def test_capture_v1_gets_per_event_results(analytics: Analytics) -> None:
    answer = analytics.api.handle("POST", "/i/v1/analytics/events", {}, json.dumps(BATCH))
    assert answer.data == {"results": {"e1": {"result": "ok"}}}


def test_the_browser_road_says_client(analytics: Analytics) -> None:
    body = json.dumps({"event": "x", "properties": {"distinct_id": "a"}})
    analytics.api.handle("POST", "/i/v0/e/", {}, body, source="client")
    assert analytics.events[0].source == "client"


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "reason"),
    [
        ("POST", "/e/", b"\x1f\x8b\x08junk", 400, "the body is not valid gzip"),
        ("POST", "/batch/", b'{"batch": []}', 400, "the batch has no events"),
        ("GET", "/batch/", b"", 405, "GET /batch/: ingestion takes POST"),
        ("POST", "/flags/?v=2", b"{nope", 400, "flags request: the body is not valid JSON"),
        ("POST", "/api/unknown", b"{}", 404, "POST /api/unknown is not a PostHog API path"),
    ],
)
def test_bad_requests_are_answered_and_kept_with_their_reason(
    analytics: Analytics, method: str, url: str, body: bytes, status: int, reason: str
) -> None:
    answer = analytics.api.handle(method, url, {"X-Test": "1"}, body, transport="collector")
    assert answer.status == status
    assert reason in json.dumps(answer.data)
    [rejected] = analytics.rejected
    assert rejected.reason.startswith(reason)
    assert (rejected.method, rejected.url, rejected.body, rejected.status) == (
        method,
        url,
        body,
        status,
    )
    assert (rejected.headers, rejected.transport) == ({"X-Test": "1"}, "collector")
    assert analytics.events == []


def test_after_a_bad_request_the_next_good_one_is_recorded(analytics: Analytics) -> None:
    analytics.api.handle("POST", "/batch/", {}, b"garbage")
    analytics.api.handle("POST", "/batch/", {}, json.dumps(BATCH))
    assert (len(analytics.rejected), len(analytics.events)) == (1, 1)


def test_events_without_a_recorder_land_in_orphans() -> None:
    api = FakePostHog()
    assert api.handle("POST", "/batch/", {}, json.dumps(BATCH)).status == 200
    assert [e.event for e in api.orphans.events] == ["paid"]


def flags_answer(api: FakePostHog, url: str, request: object) -> dict[str, object]:
    body, headers, query = encode_body(request, "gzip-js")
    answer = api.handle("POST", url + query, headers, body)
    assert answer.status == 200
    data = answer.data
    assert isinstance(data, dict)
    return data


def test_flags_v2_records_for_posthog_js_and_node(analytics: Analytics) -> None:
    analytics.flags.set("new-checkout", "test", payload={"color": "blue"})
    analytics.flags.set("beta")
    analytics.flags.set("killed", False)
    flags = flags_answer(analytics.api, "/flags/?v=2", {"token": "phc", "distinct_id": "u"})
    assert flags["flags"] == {
        "new-checkout": {
            "key": "new-checkout",
            "enabled": True,
            "variant": "test",
            "reason": {
                "code": "condition_match",
                "condition_index": 0,
                "description": "Set by the test (analytics.flags)",
            },
            "metadata": {
                "id": 1,
                "version": 1,
                "payload": '{"color": "blue"}',
                "description": None,
            },
        },
        "beta": {
            "key": "beta",
            "enabled": True,
            "variant": None,
            "reason": {
                "code": "condition_match",
                "condition_index": 0,
                "description": "Set by the test (analytics.flags)",
            },
            "metadata": {"id": 2, "version": 1, "payload": None, "description": None},
        },
        "killed": {
            "key": "killed",
            "enabled": False,
            "variant": None,
            "reason": {
                "code": "condition_match",
                "condition_index": 0,
                "description": "Set by the test (analytics.flags)",
            },
            "metadata": {"id": 3, "version": 1, "payload": None, "description": None},
        },
    }


def test_flags_v4_typed_values_and_unset_keys_answer_off(analytics: Analytics) -> None:
    analytics.flags.set("new-checkout", "test")
    flags = flags_answer(
        analytics.api, "/flags/?v=4", {"distinct_id": "u", "flag_keys_to_evaluate": ["never-set"]}
    )
    records = flags["flags"]
    assert isinstance(records, dict)
    assert {k: v["value"] for k, v in records.items()} == {
        "new-checkout": "test",
        "never-set": False,
    }


def test_legacy_decide_and_local_evaluation_definitions(analytics: Analytics) -> None:
    analytics.flags.set("v", "blue", payload=[1])
    analytics.flags.set("b")
    decide = flags_answer(analytics.api, "/decide/?v=3", {"token": "phc"})
    assert decide["featureFlags"] == {"v": "blue", "b": True}
    assert decide["featureFlagPayloads"] == {"v": "[1]"}
    definitions = analytics.api.handle(
        "GET", "/flags/definitions?token=phc&send_cohorts", {"Authorization": "Bearer phx"}, None
    ).data
    assert [
        (f["key"], f["active"], f["filters"].get("multivariate"), f["filters"]["payloads"])
        for f in definitions["flags"]
    ] == [
        ("v", True, {"variants": [{"key": "blue", "rollout_percentage": 100}]}, {"blue": "[1]"}),
        ("b", True, None, {}),
    ]
    assert set(definitions) == {"flags", "group_type_mapping", "cohorts"}


def test_flag_book_rules() -> None:
    book = FlagBook()
    book.set("a", "x", payload={"k": 1})
    assert (book.value("a"), book.payload("a"), book.value("nope"), book.payload("nope")) == (
        "x",
        {"k": 1},
        False,
        None,
    )
    book.set("a", False, payload={"k": 1})
    assert book.payload("a") is None
    book.unset("a")
    assert book.as_dict() == {}
    book.set("z")
    book.clear()
    assert book.as_dict() == {}
    for bad_key, bad_value in (("", True), ("k", 3), ("k", "")):
        with pytest.raises(TypeError, match=r"a flag (key|value) is"):
            book.set(bad_key, bad_value)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not JSON serializable"):
        book.set("k", payload=object())


def test_remote_config_script_and_json(analytics: Analytics) -> None:
    script = analytics.api.handle("GET", "/array/phc_abc/config.js", {}, None)
    assert script.headers["Content-Type"] == "application/javascript"
    assert script.body.startswith(
        b"window._POSTHOG_REMOTE_CONFIG=window._POSTHOG_REMOTE_CONFIG"
        b'||{};window._POSTHOG_REMOTE_CONFIG["phc_abc"]='
    )
    config = analytics.api.handle("GET", "/array/phc_abc/config", {}, None).data
    assert (config["token"], config["supportedCompression"][0], config["autocapture_opt_out"]) == (
        "phc_abc",
        "gzip-js",
        False,
    )


def test_lazy_scripts_and_product_apis_answer_quietly(analytics: Analytics) -> None:
    assert analytics.api.handle("GET", "/static/1.0/surveys.js", {}, None).status == 404
    assert analytics.api.handle("GET", "/api/surveys/?token=x", {}, None).data == {"surveys": []}
    assert analytics.rejected == []


def test_cors_preflight_and_origin_echo(analytics: Analytics) -> None:
    answer = analytics.api.handle(
        "OPTIONS",
        "/e/",
        {"Origin": "http://shop.test", "Access-Control-Request-Headers": "x"},
        None,
    )
    assert answer.status == 204
    assert answer.headers["Access-Control-Allow-Origin"] == "http://shop.test"
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/e/?retry_count=1", {}),
        ("/i/v1/analytics/events", {"PostHog-Attempt": "2"}),
        ("/i/v0/e/", {"Sec-Fetch-Mode": "no-cors"}),
    ],
    ids=["retry_count", "posthog-attempt", "unload-beacon"],
)
def test_a_re_delivery_of_recorded_uuids_is_kept_apart(
    analytics: Analytics, url: str, headers: dict[str, str]
) -> None:
    analytics.api.handle("POST", "/batch/", {}, json.dumps(BATCH))
    analytics.api.handle("POST", url, headers, json.dumps(BATCH))
    assert [e.uuid for e in analytics.events] == ["e1"]
    assert [e.uuid for e in analytics.retried] == ["e1"]


def test_the_late_original_of_a_beacon_that_overtook_it_is_kept_apart(
    analytics: Analytics,
) -> None:
    # posthog-js re-sends at unload, by sendBeacon, a batch whose fetch the navigation caught
    # in its asynchronous gzip; the beacon can land first, the fetch after it.
    analytics.api.handle("POST", "/i/v0/e/", {"Sec-Fetch-Mode": "no-cors"}, json.dumps(BATCH))
    analytics.api.handle("POST", "/e/", {"Sec-Fetch-Mode": "cors"}, json.dumps(BATCH))
    assert [e.uuid for e in analytics.events] == ["e1"]
    assert [e.uuid for e in analytics.retried] == ["e1"]
    assert_no_duplicates(analytics)


def test_the_same_uuid_sent_again_without_any_mark_is_a_re_delivery(
    analytics: Analytics,
) -> None:
    # An SDK whose answer never reached it (a dropped connection after PostHog took the batch)
    # sends the same uuids again, marked or not: PostHog keeps one event per uuid.
    analytics.api.handle("POST", "/batch/", {}, json.dumps(BATCH))
    analytics.api.handle("POST", "/batch/", {}, json.dumps(BATCH))
    assert [e.uuid for e in analytics.events] == ["e1"]
    assert [e.uuid for e in analytics.retried] == ["e1"]
    assert_no_duplicates(analytics)


def test_a_duplicate_check_that_fails_names_the_retries_it_did_not_count(
    analytics: Analytics,
) -> None:
    twice = [{**BATCH["batch"][0], "uuid": uuid} for uuid in ("e1", "e2")]
    analytics.api.handle("POST", "/batch/", {}, json.dumps({**BATCH, "batch": twice}))
    analytics.api.handle("POST", "/batch/", {}, json.dumps(BATCH))
    with pytest.raises(AssertionError) as info:
        assert_no_duplicates(analytics)
    message = str(info.value)
    assert "found 1:" in message
    assert "Not counted: 1 re-delivery of events already recorded" in message
    assert "'paid' (uuid e1)" in message
