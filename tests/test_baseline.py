"""Analytics baselines: the snapshot of a test's events (names, sides, counts, property keys and
types, persons; never a value), the differences worded, the file format, and the plugin's
wiring through pytester (compare, update, -k, removed tests, pytest-xdist)."""

from __future__ import annotations

from pathlib import Path

import faker  # noqa: F401  (imported once here: pytester forgets modules an inner run imports)
import hypothesis  # noqa: F401
import pytest
from support import INNER_INI, MakeEvent

from pytest_hybrid_analytics import CapturedEvent
from pytest_hybrid_analytics._checks.baseline import (
    Baseline,
    BaselineError,
    EventShape,
    Snapshot,
    compare,
    describe_update,
    kept_properties,
    rule,
    snapshot_from_data,
    snapshot_to_data,
    stale_entries,
    take_snapshot,
)
from pytest_hybrid_analytics._checks.teardown import Checks, teardown_failure

# -- what a snapshot keeps ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        ("purchase_completed", "server", "count"),
        ("checkout_started", "client", "count"),
        ("$pageview", "client", "count"),
        ("$identify", "client", "count"),
        ("$create_alias", "server", "count"),
        ("$merge_dangerously", "server", "count"),
        ("$screen", "client", "count"),
        ("$set", "server", "presence"),
        ("$feature_flag_called", "client", "presence"),
        ("$exception", "client", "presence"),
        ("$groupidentify", "client", "presence"),
        ("$feature_flag_called", "server", "untimed"),
        ("$pageleave", "client", "untimed"),
        ("$web_vitals", "client", "untimed"),
        ("$autocapture", "client", "untimed"),
        ("$rageclick", "client", "untimed"),
        ("$dead_click", "client", "untimed"),
        ("$snapshot", "client", "untimed"),
    ],
)
def test_each_event_is_counted_compared_by_presence_or_left_out(
    name: str, source: str, expected: str
) -> None:
    assert rule(name, source) == expected


def test_the_app_s_properties_are_kept_with_their_types_never_their_values(ev: MakeEvent) -> None:
    event = ev(
        "checkout_started",
        "anon-1",
        cart_total=59,  # JavaScript sends 59.0 as 59: a number either way
        price=59.5,
        coupon=None,
        items=[{"sku": "h-1"}],
        shipping={"country": "FR"},
        gift=False,
        token="phc_abc",  # posthog-js's own, on every event
        **{
            "$current_url": "http://127.0.0.1:8000/cart",
            "$session_id": "0192f3",
            "$referrer": "$direct",
            "$sdk_debug_retry_queue_size": 0,
            "$lib_custom_api_host": "https://eu.i.posthog.com",
            "$feature/new-checkout": "test",  # in the browser: only once /flags answered
            "$groups": {"company": "acme"},
        },
    )
    assert kept_properties(event) == {
        "$groups": "object",
        "cart_total": "number",
        "coupon": "null",
        "gift": "boolean",
        "items": "array",
        "price": "number",
        "shipping": "object",
    }


def test_server_events_keep_what_the_app_s_code_put_there(ev: MakeEvent) -> None:
    event = ev(
        "purchase_completed",
        "user-1",
        source="server",
        amount=59.0,
        **{
            "$session_id": "0192f3",
            "$current_url": "https://shop.example.com/checkout",
            "$process_person_profile": False,
            "$feature/new-checkout": "test",
            "$lib_version": "7.9.1",
            "$geoip_disable": True,
        },
    )
    assert kept_properties(event) == {
        "$current_url": "string",
        "$feature/new-checkout": "string",
        "$process_person_profile": "boolean",
        "$session_id": "string",
        "amount": "number",
    }


def test_person_properties_are_kept_by_key_less_posthog_js_s_own(ev: MakeEvent) -> None:
    identify = ev(
        "$identify",
        "user-1",
        **{
            "$anon_distinct_id": "anon-1",
            "$set": {"email": "jane@example.com", "plan": "pro", "$browser": "Chrome"},
            "$set_once": {"first_order": 3, "utm_source": None, "gclid": None, "$initial_os": "X"},
        },
    )
    pageview = ev("$pageview", "anon-1", title="Cart", **{"$current_url": "http://x/"})
    assert kept_properties(identify) == {
        "$set.email": "string",
        "$set.plan": "string",
        "$set_once.first_order": "number",
    }
    assert kept_properties(pageview) == {}  # title and $current_url: posthog-js's own


def _journey(
    ev: MakeEvent, *, anon: str, user: str, order: str, at: float = 0.0
) -> list[CapturedEvent]:
    """One shopper's events; ids, times and values differ from one call to the next."""
    return [
        ev("$pageview", anon, at=at, uuid=f"{order}-1", title="Shop"),
        ev("$autocapture", anon, at=at + 0.1),
        ev("add_to_cart", anon, at=at + 0.2, price=59.0 + at, product_id=f"p-{order}"),
        ev("$pageleave", anon, at=at + 0.3),
        ev("$pageview", anon, at=at + 0.4),
        ev("$identify", user, at=at + 0.5, **{"$anon_distinct_id": anon}),
        ev("$feature_flag_called", user, at=at + 0.6, **{"$feature_flag": "new-checkout"}),
        ev("$feature_flag_called", user, at=at + 0.7, **{"$feature_flag": "new-checkout"}),
        ev("purchase_completed", user, source="server", at=at + 0.8, amount=59.0, order_id=order),
        ev("$feature_flag_called", user, source="server", at=at + 0.9),
    ]


def test_a_snapshot_counts_events_and_persons(ev: MakeEvent) -> None:
    snapshot = take_snapshot(_journey(ev, anon="anon-1", user="user-1", order="o-1"))
    assert snapshot == Snapshot(
        events={
            ("$feature_flag_called", "client"): EventShape(None, {}),
            ("$identify", "client"): EventShape(1, {}),
            ("$pageview", "client"): EventShape(2, {}),
            ("add_to_cart", "client"): EventShape(1, {"price": "number", "product_id": "string"}),
            ("purchase_completed", "server"): EventShape(
                1, {"amount": "number", "order_id": "string"}
            ),
        },
        persons=1,
        merges={"$identify (client)": 1},
        refused={},
    )


def test_two_runs_with_other_ids_times_and_values_give_one_snapshot(ev: MakeEvent) -> None:
    first = _journey(ev, anon="0192f3a1-anon", user="user-1", order="o-1")
    second = _journey(ev, anon="0192f3ff-other", user="user-9", order="o-77", at=3600.5)
    second = [e for e in second if e.event != "$pageleave"]  # landed after the test this time
    second.insert(1, ev("$autocapture", "0192f3ff-other"))  # and one more autocapture
    second.append(ev("$feature_flag_called", "user-9", source="server"))
    assert take_snapshot(first) == take_snapshot(second)


def test_the_properties_of_one_event_are_the_union_over_the_test(ev: MakeEvent) -> None:
    snapshot = take_snapshot(
        [
            ev("search", "u", query="hoodie", results=3),
            ev("search", "u", query="", results=0, coupon=None),
            ev("search", "u", query="hat", results=1, coupon="SAVE10"),
        ]
    )
    assert snapshot.events["search", "client"] == EventShape(
        3, {"coupon": "null or string", "query": "string", "results": "number"}
    )


def test_refused_merges_and_split_persons_are_counted(ev: MakeEvent) -> None:
    events = [
        ev("$identify", "user-1", **{"$anon_distinct_id": "anon-1"}),
        ev("$identify", "user-2", at=1, **{"$anon_distinct_id": "anon-2"}),
        ev("$create_alias", "anon-2", source="server", at=2, alias="user-1"),
    ]
    snapshot = take_snapshot(events)
    assert (snapshot.persons, dict(snapshot.merges), dict(snapshot.refused)) == (
        2,
        {"$identify (client)": 2},
        {"$create_alias (server): cannot_merge_already_identified": 1},
    )


# -- the differences, each worded ------------------------------------------------------------------


def _diff(before: list[CapturedEvent], after: list[CapturedEvent]) -> list[str]:
    return [str(finding) for finding in compare(take_snapshot(before), take_snapshot(after))]


def test_a_property_gone_new_or_of_another_type(ev: MakeEvent) -> None:
    before = [ev("purchase_completed", "u", source="server", amount=59.0, currency="EUR")]
    after = [ev("purchase_completed", "u", source="server", amount="59.00", coupon="SAVE10")]
    assert _diff(before, after) == [
        "[property-type] purchase_completed (server): property `amount` is now string (was number)",
        "[new-property] purchase_completed (server): new property `coupon` (string)",
        "[property-gone] purchase_completed (server): property `currency` gone (was string)",
    ]
    assert [f.path for f in compare(take_snapshot(before), take_snapshot(after))] == [
        "purchase_completed.amount",
        "purchase_completed.coupon",
        "purchase_completed.currency",
    ]


def test_counts(ev: MakeEvent) -> None:
    three = [ev("$pageview", "a"), ev("$pageview", "a"), ev("$pageview", "a")]
    assert _diff(three, three[:2]) == [
        "[count] $pageview (client): 3 → 2; if the app did not change, posthog-js lost one to a "
        "navigation right after it was captured: wait_for it before navigating"
    ]
    assert _diff(three[:2], three) == ["[count] $pageview (client): 2 → 3"]
    once = [ev("order_paid", "u", source="server")]
    assert _diff(once, once * 2) == ["[count] order_paid (server): 1 → 2"]
    assert _diff(once * 2, once) == ["[count] order_paid (server): 2 → 1"]


def test_presence_only_events_are_never_counted(ev: MakeEvent) -> None:
    flag = ev("$feature_flag_called", "u", **{"$feature_flag": "f"})
    person = ev("$set", "u", source="server", **{"$set": {"plan": "pro"}})
    assert _diff([flag, person], [flag, flag, flag, person, person]) == []
    assert _diff([flag, person], []) == [
        "[event-gone] event `$feature_flag_called` (client) gone",
        "[event-gone] event `$set` (server) gone",
        "[persons] persons: 1 → 0",
    ]
    assert _diff([], [flag]) == [
        "[new-event] new event `$feature_flag_called` (client)",
        "[persons] persons: 0 → 1",
    ]


def test_new_and_gone_events(ev: MakeEvent) -> None:
    paid = ev("order_paid", None, source="server")  # no distinct id: no person
    click = ev("buy_clicked", None)
    assert _diff([], [paid]) == ["[new-event] new event `order_paid` (server)"]
    assert _diff([], [click, click]) == [
        "[new-event] new event `buy_clicked` (client), sent 2 times"
    ]
    assert _diff([paid, paid], []) == [
        "[event-gone] event `order_paid` (server) gone (was sent 2 times)"
    ]
    assert _diff([click], []) == [
        "[event-gone] event `buy_clicked` (client) gone (was sent once); if the app did not "
        "change, posthog-js lost one to a navigation right after it was captured: wait_for it "
        "before navigating"
    ]


def test_an_event_that_changed_sides(ev: MakeEvent) -> None:
    client = ev("checkout_started", "u", cart_total=59.0, currency="EUR")
    server = ev("checkout_started", "u", source="server", cart_total=59.0)
    assert _diff([client], [server]) == [
        "[moved] `checkout_started` now sent by the server (was client)",
        "[property-gone] checkout_started (server): property `currency` gone (was string)",
    ]
    assert _diff([server], [client, server]) == [
        "[moved] `checkout_started` now sent by both sides (was server)"
    ]
    assert _diff([client, server], [client]) == [
        "[moved] `checkout_started` now sent by the client (was both)"
    ]


def test_persons_and_merges(ev: MakeEvent) -> None:
    one = [ev("$identify", "user-1", **{"$anon_distinct_id": "anon-1"}), ev("x", "anon-1")]
    two = [ev("$identify", "user-1"), ev("x", "anon-1")]  # the merge lost its anonymous id
    assert _diff(one, two) == [
        "[persons] persons: 1 → 2",
        "[persons] persons: merges by $identify (client): 1 → 0",
    ]
    refused = [
        *one,
        ev("$identify", "user-2", at=1, **{"$anon_distinct_id": "anon-2"}),
        ev("$create_alias", "anon-2", source="server", at=2, alias="user-1"),
    ]
    allowed = [*one, ev("$identify", "user-1", at=1, **{"$anon_distinct_id": "anon-2"})]
    assert _diff(allowed, refused) == [
        "[new-event] new event `$create_alias` (server)",
        "[persons] persons: 1 → 2",
        "[persons] persons: merges refused, $create_alias (server): "
        "cannot_merge_already_identified: 0 → 1",
    ]


def test_the_teardown_check_fails_on_a_difference_unless_allowed(ev: MakeEvent) -> None:
    stored = take_snapshot([ev("purchase_completed", "u", source="server", currency="EUR")])
    events = [ev("purchase_completed", "u", source="server")]
    failing, reported = Checks().run(events, baseline=stored)
    assert [f.code for f in failing] == [f.code for f in reported] == ["property-gone"]
    assert teardown_failure([], failing) == (
        "The analytics changed from the baseline (1):\n"
        "  [property-gone] purchase_completed (server): property `currency` gone (was string)\n"
        "Next step: if the change is meant, record it with --analytics-baseline-update (only the "
        "tests that run are replaced), or let this test through with "
        "@pytest.mark.analytics(allow_baseline=['property-gone']) (README, 'Baselines')."
    )
    assert Checks().run(events, baseline=stored, allow_baseline=True)[0] == []
    assert Checks().run(events, baseline=stored, allow_baseline=["property-gone"])[0] == []
    assert Checks().run(events)[1] == []  # no baseline, no comparison


# -- the file ------------------------------------------------------------------------------------

FILE = """\
# Analytics baseline (pytest-hybrid-analytics): per test, the events it sent (name, side,
# count), their properties' keys and JSON types, and the persons PostHog would count. Never a
# value. Rewritten by --analytics-baseline-update (README, "Baselines"); review it like code.
version: 1
tests:
  - test: tests/test_shop.py::test_checkout[chromium]
    events:
      $feature_flag_called:
        client:
          count: present
      $identify:
        client:
          count: 1
          properties:
            $set.email: string
      purchase_completed:
        server:
          count: 2
          properties:
            $session_id: string
            amount: number
            coupon: null or string
    persons: 1
    merges:
      $identify (client): 1
  - test: tests/test_shop.py::test_empty
    events: {}
    persons: 0
"""


def _shop_snapshot(ev: MakeEvent) -> Snapshot:
    return take_snapshot(
        [
            ev("$identify", "user-1", **{"$anon_distinct_id": "a", "$set": {"email": "j@x"}}),
            ev("$feature_flag_called", "user-1"),
            ev("purchase_completed", "user-1", source="server", amount=2.5, coupon=None),
            ev("purchase_completed", "user-1", source="server", coupon="X", **{"$session_id": "s"}),
        ]
    )


def test_the_file_is_sorted_yaml_one_property_per_line(ev: MakeEvent, tmp_path: Path) -> None:
    baseline = Baseline(
        {
            "tests/test_shop.py::test_empty": Snapshot(),
            "tests/test_shop.py::test_checkout[chromium]": _shop_snapshot(ev),
        }
    )
    assert baseline.dumps() == FILE
    assert Baseline.loads(FILE).tests == baseline.tests
    path = tmp_path / "sub" / "baseline.yaml"
    assert baseline.save(path) is True
    assert path.read_text() == FILE
    assert baseline.save(path) is False  # the same: not written again
    assert Baseline.load(path).exists
    assert Baseline.load(tmp_path / "missing.yaml") == Baseline()


def test_a_long_test_id_stays_on_one_line() -> None:
    test = "tests/test_shop.py::test_checkout[" + "x" * 300 + "]"
    text = Baseline({test: Snapshot()}).dumps()
    assert f"  - test: {test}\n" in text
    assert Baseline.loads(text).tests == {test: Snapshot()}


def test_property_names_yaml_would_misread_are_quoted() -> None:
    snapshot = Snapshot(
        {("on", "client"): EventShape(1, {"null": "null", "yes": "boolean", "1": "number"})}
    )
    text = Baseline({"t.py::t": snapshot}).dumps()
    assert "'null': 'null'" in text
    assert Baseline.loads(text).tests["t.py::t"] == snapshot


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "version: 1\ntests: [\n",
            "not valid YAML (line 3, column 1): expected the node content, but found "
            "'<stream end>'",
        ),
        ("version: 2\ntests: []\n", "version 2 is not one this plugin reads (expected 1)"),
        ("version: 1\ntests: []\nextra: 1\n", "unknown key 'extra' at the top level"),
        ("version: 1\ntests: {}\n", "tests: expected a list of entries"),
        ("version: 1\ntests:\n  - persons: 1\n", "tests[0]: expected a 'test' (the test's id)"),
        (
            "version: 1\ntests:\n  - test: a.py::t\n  - test: a.py::t\n",
            "tests[1]: a.py::t is given twice",
        ),
        (
            "version: 1\ntests:\n  - test: a.py::t\n    persons: 1\n    persons: 2\n",
            "not valid YAML (line 5, column 5): the key 'persons' is given twice",
        ),
        (
            "version: 1\ntests:\n  - test: a.py::t\n    events:\n      x:\n        browser:\n"
            "          count: 1\n",
            "tests[0] (a.py::t): events.x.browser: the side must be client or server",
        ),
        (
            "version: 1\ntests:\n  - test: a.py::t\n    events:\n      x:\n        client:\n"
            "          count: many\n",
            "tests[0] (a.py::t): events.x.client.count: expected a count (0 or more), got 'many'",
        ),
        (
            "version: 1\ntests:\n  - test: a.py::t\n    events:\n      x:\n        client:\n"
            "          count: 1\n          properties:\n            amount: float\n",
            "tests[0] (a.py::t): events.x.client.properties.amount: expected JSON types (array, "
            "boolean, null, number, object, string, joined by ' or '), got 'float'",
        ),
        (
            "version: 1\ntests:\n  - test: a.py::t\n    owner: me\n",
            "tests[0] (a.py::t): unknown key 'owner'",
        ),
    ],
)
def test_a_file_that_cannot_be_used_says_why(text: str, problem: str, tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(text)
    with pytest.raises(BaselineError) as raised:
        Baseline.load(path)
    assert str(raised.value) == f"baseline {path}: {problem}"


def test_an_empty_file_is_an_empty_baseline() -> None:
    assert Baseline.loads("") == Baseline(exists=True)


def test_merging_replaces_the_tests_that_ran_and_removes_the_stale_ones(ev: MakeEvent) -> None:
    old, new = Snapshot(persons=1), _shop_snapshot(ev)
    baseline = Baseline({"a.py::t1": old, "a.py::t2": old, "b.py::gone": old}, exists=True)
    merged = baseline.merged({"a.py::t1": new, "a.py::t3": new}, ["b.py::gone"])
    assert merged.tests == {"a.py::t1": new, "a.py::t2": old, "a.py::t3": new}
    assert describe_update(baseline, {"a.py::t1": new, "a.py::t3": new}, ["b.py::gone"]) == (
        "2 tests recorded (1 new, 1 changed), 1 entry removed"
    )
    assert describe_update(baseline, {"a.py::t2": old}, []) == "1 test recorded (0 new, 0 changed)"
    assert snapshot_from_data(snapshot_to_data(new)) == new


def test_stale_entries_are_those_of_fully_collected_files_or_of_files_gone() -> None:
    entries = ["a.py::kept", "a.py::removed", "b.py::not_run", "gone.py::t", "c.py::t[1]"]
    assert stale_entries(
        entries,
        tests=["a.py::kept", "c.py::t[2]"],
        files=["a.py", "c.py"],
        exists=lambda file: file != "gone.py",
    ) == ["a.py::removed", "c.py::t[1]", "gone.py::t"]


# -- the plugin, through pytester ------------------------------------------------------------------

SUITE = """
import json
import uuid

import pytest

CURRENCY = {currency!r}


def send(analytics, event, lib="posthog-python", **properties):
    # A new distinct id and order id each run: the baseline never sees a value.
    body = {{"api_key": "phc_k", "batch": [{{"event": event, "distinct_id": str(uuid.uuid4()),
             "properties": {{"$lib": lib, **properties}}}}]}}
    assert analytics.api.handle("POST", "/batch/", {{}}, json.dumps(body)).status == 200


def test_purchase(analytics):
    properties = {{"amount": 59.0, "order_id": uuid.uuid4().hex}}
    if CURRENCY:
        properties["currency"] = CURRENCY
    send(analytics, "purchase_completed", **properties)


def test_pageviews(analytics):
    for n in range(3):
        send(analytics, "$pageview", lib="web", **{{"$current_url": f"/p{{n}}"}})


@pytest.mark.analytics(allow_baseline=True)
def test_allowed(analytics):
    send(analytics, "purchase_completed", amount=1 if CURRENCY else "1")


def test_without_analytics():
    pass
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INNER_INI)
    return pytester


def _write(suite: pytest.Pytester, currency: str | None = "EUR", name: str = "test_shop") -> None:
    suite.makepyfile(**{name: SUITE.format(currency=currency)})


def _entries(path: Path) -> dict[str, Snapshot]:
    return dict(Baseline.load(path).tests)


def test_record_compare_change_and_update(suite: pytest.Pytester) -> None:
    _write(suite)
    result = suite.runpytest("--analytics-baseline=b.yaml")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "hybrid-analytics: baseline b.yaml (no such file yet), comparing",
            "hybrid-analytics: 3 tests have no baseline yet in b.yaml: run with "
            "--analytics-baseline-update to record them.",
        ]
    )
    assert not (suite.path / "b.yaml").exists()

    result = suite.runpytest("--analytics-baseline=b.yaml", "--analytics-baseline-update")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "hybrid-analytics: baseline b.yaml (no such file yet), updating it "
            "(--analytics-baseline-update)",
            "hybrid-analytics: baseline b.yaml written: 3 tests recorded (3 new, 0 changed).",
        ]
    )
    text = (suite.path / "b.yaml").read_text()
    assert "  - test: test_shop.py::test_purchase\n" in text
    assert "            currency: string\n" in text
    assert "test_without_analytics" not in text

    result = suite.runpytest("--analytics-baseline=b.yaml")  # new ids and values: no diff
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["hybrid-analytics: baseline b.yaml (3 tests), comparing"])
    assert "no baseline yet" not in result.stdout.str()

    _write(suite, currency=None)  # the app stops sending the currency
    result = suite.runpytest("--analytics-baseline=b.yaml")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_purchase*",
            "E   AssertionError: The analytics changed from the baseline (1):",
            "      [[]property-gone[]] purchase_completed (server): property `currency` gone "
            "(was string)",
            "    Next step: if the change is meant, record it with --analytics-baseline-update "
            "(only the tests that run are replaced), or let this test through with "
            "@pytest.mark.analytics(allow_baseline=[[]'property-gone'[]]) (README, 'Baselines').",
        ]
    )
    # test_allowed changed too (its amount is now a string), and is let through.
    assert "ERROR test_shop.py::test_allowed" not in result.stdout.str()

    result = suite.runpytest("--analytics-baseline=b.yaml", "--analytics-baseline-update")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        ["hybrid-analytics: baseline b.yaml written: 3 tests recorded (0 new, 2 changed)."]
    )
    assert "currency" not in (suite.path / "b.yaml").read_text()
    suite.runpytest("--analytics-baseline=b.yaml").assert_outcomes(passed=4)

    result = suite.runpytest("--analytics-baseline=b.yaml", "--analytics-baseline-update")
    result.stdout.fnmatch_lines(
        ["hybrid-analytics: baseline b.yaml unchanged: 3 tests recorded (0 new, 0 changed)."]
    )


def test_the_ini_key_names_the_file_from_the_rootdir(suite: pytest.Pytester) -> None:
    suite.makeini(INNER_INI + "    analytics_baseline = baselines/analytics.yaml\n")
    _write(suite)
    suite.runpytest("--analytics-baseline-update").assert_outcomes(passed=4)
    assert set(_entries(suite.path / "baselines" / "analytics.yaml")) == {
        "test_shop.py::test_purchase",
        "test_shop.py::test_pageviews",
        "test_shop.py::test_allowed",
    }
    _write(suite, currency=None)
    suite.runpytest().assert_outcomes(passed=4, errors=1)


def test_with_k_only_the_selected_tests_are_replaced(suite: pytest.Pytester) -> None:
    _write(suite)
    suite.runpytest("--analytics-baseline=b.yaml", "--analytics-baseline-update")
    before = _entries(suite.path / "b.yaml")
    _write(suite, currency="USD")
    suite.makepyfile(
        test_shop=SUITE.format(currency=None).replace("range(3)", "range(2)")
    )  # both tests change
    result = suite.runpytest(
        "--analytics-baseline=b.yaml", "--analytics-baseline-update", "-k", "pageviews"
    )
    result.assert_outcomes(passed=1, deselected=3)
    result.stdout.fnmatch_lines(
        ["hybrid-analytics: baseline b.yaml written: 1 test recorded (0 new, 1 changed)."]
    )
    after = _entries(suite.path / "b.yaml")
    assert after["test_shop.py::test_purchase"] == before["test_shop.py::test_purchase"]
    assert after["test_shop.py::test_pageviews"].events["$pageview", "client"].count == 2
    assert set(after) == set(before)  # the deselected tests are not "removed"
    result = suite.runpytest("--analytics-baseline=b.yaml")
    result.assert_outcomes(passed=4, errors=1)  # test_purchase still differs
    assert "removed" not in result.stdout.str()


def test_a_removed_test_is_reported_then_removed_on_update(suite: pytest.Pytester) -> None:
    _write(suite)
    _write(suite, name="test_other")
    suite.runpytest("--analytics-baseline=b.yaml", "--analytics-baseline-update")
    assert len(_entries(suite.path / "b.yaml")) == 6
    suite.makepyfile(test_shop=SUITE.format(currency="EUR").replace("def test_pageviews", "def x"))
    (suite.path / "test_other.py").rename(suite.path / "test_renamed.py")
    result = suite.runpytest("--analytics-baseline=b.yaml")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(
        [
            "hybrid-analytics: 3 tests have no baseline yet in b.yaml: run with "
            "--analytics-baseline-update to record them.",
            "hybrid-analytics: 4 entries in b.yaml are for tests that no longer exist: "
            "--analytics-baseline-update removes them.",
            "  test_other.py::test_allowed",
            "  test_other.py::test_pageviews",
            "  test_other.py::test_purchase",
            "  test_shop.py::test_pageviews",
        ]
    )
    # A run narrowed to one test keeps the other tests of its file (they were not collected),
    # and removes the entries of a file that is gone.
    result = suite.runpytest(
        "--analytics-baseline=b.yaml", "--analytics-baseline-update", "test_shop.py::test_purchase"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "hybrid-analytics: baseline b.yaml written: 1 test recorded (0 new, 0 changed), "
            "3 entries removed.",
            "  removed: test_other.py::test_allowed",
            "  removed: test_other.py::test_pageviews",
            "  removed: test_other.py::test_purchase",
        ]
    )
    assert "test_shop.py::test_pageviews" in _entries(suite.path / "b.yaml")
    result = suite.runpytest("--analytics-baseline=b.yaml", "--analytics-baseline-update")
    result.stdout.fnmatch_lines(
        [
            "hybrid-analytics: baseline b.yaml written: 5 tests recorded (3 new, 0 changed), "
            "1 entry removed.",
            "  removed: test_shop.py::test_pageviews",
        ]
    )
    assert set(_entries(suite.path / "b.yaml")) == {
        "test_shop.py::test_purchase",
        "test_shop.py::test_allowed",
        "test_renamed.py::test_purchase",
        "test_renamed.py::test_pageviews",
        "test_renamed.py::test_allowed",
    }


def test_a_file_that_fails_to_import_loses_no_entry(suite: pytest.Pytester) -> None:
    _write(suite)
    suite.runpytest("--analytics-baseline=b.yaml", "--analytics-baseline-update")
    suite.makepyfile(test_shop=SUITE.format(currency="EUR") + "\nimport not_a_module\n")
    result = suite.runpytest("--analytics-baseline=b.yaml", "--analytics-baseline-update")
    result.assert_outcomes(errors=1)
    assert len(_entries(suite.path / "b.yaml")) == 3
    assert "removed" not in result.stdout.str()


def test_a_test_that_fails_is_not_recorded(suite: pytest.Pytester) -> None:
    _write(suite)
    suite.runpytest("--analytics-baseline=b.yaml", "--analytics-baseline-update")
    before = _entries(suite.path / "b.yaml")
    suite.makepyfile(
        test_shop=SUITE.format(currency=None).replace(
            '    send(analytics, "purchase_completed", **properties)',
            '    send(analytics, "purchase_completed", **properties)\n    assert False',
        )
    )
    result = suite.runpytest("--analytics-baseline=b.yaml", "--analytics-baseline-update")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "hybrid-analytics: baseline b.yaml written: 2 tests recorded (0 new, 1 changed).",
            "hybrid-analytics: 1 test did not pass and was not recorded (an entry already there "
            "is left as it was):",
            "  not recorded: test_shop.py::test_purchase",
        ]
    )
    assert (
        _entries(suite.path / "b.yaml")["test_shop.py::test_purchase"]
        == (before["test_shop.py::test_purchase"])
    )


def test_bad_settings_stop_the_run(suite: pytest.Pytester) -> None:
    suite.makepyfile("def test_x(): pass")
    result = suite.runpytest("--analytics-baseline-update")
    result.stderr.fnmatch_lines(
        [
            "ERROR: --analytics-baseline-update needs the baseline file: "
            "--analytics-baseline=PATH or the analytics_baseline ini key"
        ]
    )
    (suite.path / "b.yaml").write_text("version: 7\n")
    result = suite.runpytest("--analytics-baseline=b.yaml")
    result.stderr.fnmatch_lines(
        ["ERROR: baseline */b.yaml: version 7 is not one this plugin reads (expected 1)"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_the_marker_takes_allow_baseline(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        import pytest

        @pytest.mark.analytics(allow_baselines=True)
        def test_typo(analytics):
            pass
    """)
    result = suite.runpytest()
    result.stdout.fnmatch_lines(
        [
            "*TypeError: @pytest.mark.analytics got unknown keyword "
            "allow_baselines; it takes allow_baseline, allow_pii, *"
        ]
    )


# -- pytest-xdist: workers compare, the controller writes ----------------------------------------


@pytest.fixture
def parallel(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # Run under an outer pytest-xdist, the inner runs would inherit the outer worker's name.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    return suite


def _run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_subprocess("--analytics-baseline=b.yaml", *args, timeout=120)


def test_under_xdist_workers_compare_and_the_controller_writes_one_file(
    parallel: pytest.Pytester,
) -> None:
    _write(parallel)
    _write(parallel, name="test_other")
    serial = _run(parallel, "-p", "no:xdist", "--analytics-baseline-update")
    serial.assert_outcomes(passed=8)
    serial_text = (parallel.path / "b.yaml").read_text()
    (parallel.path / "b.yaml").unlink()

    result = _run(parallel, "-n", "2", "--analytics-baseline-update")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(
        ["hybrid-analytics: baseline b.yaml written: 6 tests recorded (6 new, 0 changed)."]
    )
    assert (parallel.path / "b.yaml").read_text() == serial_text  # the same file
    assert list(parallel.path.glob("*.partial")) == []

    result = _run(parallel, "-n", "2")
    result.assert_outcomes(passed=8)
    assert "hybrid-analytics" not in result.stdout.str().split("passed")[-1]

    _write(parallel, currency=None)
    parallel.makepyfile(
        test_other=SUITE.format(currency="EUR").replace("def test_allowed", "def x")
    )
    result = _run(parallel, "-n", "2")
    result.assert_outcomes(passed=7, errors=1)
    result.stdout.fnmatch_lines(
        [
            "E   AssertionError: The analytics changed from the baseline (1):",
            "      [[]property-gone[]] purchase_completed (server): property `currency` gone "
            "(was string)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "hybrid-analytics: 1 entry in b.yaml is for a test that no longer exists: "
            "--analytics-baseline-update removes it.",
            "  test_other.py::test_allowed",
        ]
    )

    result = _run(parallel, "-n", "2", "--analytics-baseline-update", "-k", "test_shop")
    result.assert_outcomes(passed=4)  # (xdist's controller does not count the deselected)
    result.stdout.fnmatch_lines(
        [
            "hybrid-analytics: baseline b.yaml written: 3 tests recorded (0 new, 2 changed), "
            "1 entry removed.",
            "  removed: test_other.py::test_allowed",
        ]
    )
    entries = _entries(parallel.path / "b.yaml")
    assert (
        "currency"
        not in entries["test_shop.py::test_purchase"]
        .events["purchase_completed", "server"]
        .properties
    )
    assert (
        "currency"
        in entries["test_other.py::test_purchase"].events["purchase_completed", "server"].properties
    )
    _run(parallel, "-n", "2").assert_outcomes(passed=7)
