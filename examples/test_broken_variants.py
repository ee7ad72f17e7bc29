"""Each broken variant of the shop, a row of the guide's troubleshooting table, must make the
check that should catch it fail, with a message that names the problem; and the run's audit,
HTML report, tracking plan and PII guard must each flag it too.

Each runs the demo test that covers it in a pytest subprocess against the broken shop
(``SHOP_VARIANT``), with the shop's tracking plan, ``--analytics-audit`` and
``--analytics-report``, the way CI would meet the bug, and reads its output with pytester's
``RunResult``. The runs start together and overlap."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent / "test_guide_validation.py"
PLAN = DEMO.with_name("tracking-plan.yaml")
DEMO_TESTS = [
    node.name
    for node in ast.parse(DEMO.read_text()).body
    if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
]

CAUGHT = {
    "ignores-distinct-id": (
        "test_step_3_identity_consistency",
        [
            "E*AssertionError: Expected every event to carry one distinct_id ('*'); found 2:",
            "E *  'guest-*': 1 server event (subscription_created)",
            "E*Next step: pass posthog.get_distinct_id() from the client to the server, or "
            "identify with the user id on both sides (guide: 'Identity Consistency').",
        ],
    ),
    "double-purchase": (
        "test_step_6_end_to_end_purchase_flow",
        [
            "E*AssertionError: Expected no duplicate events (window 10 s); found 1:",
            "E *  1. 'purchase_completed' for P1 was sent by both client and server * apart: "
            "choose one source per event (guide: 'Duplicate events'; payments and subscriptions "
            "belong on the server).",
        ],
    ),
    "card-in-client": (
        "test_step_6_end_to_end_purchase_flow",
        [
            "E*AssertionError: Expected no sensitive data in client events; found 1:",
            "E *  [[]card-number[]] 'payment_submitted' (client) property 'card_number': a card "
            "number*",
            "E*Next step: keep card numbers, passwords and tokens on the server;*",
        ],
    ),
    "never-flushes": (
        "test_step_2_server_side_setup",
        [
            "E*AssertionError: wait_for('server_test', source='server', "
            "distinct_id='validation_user'): expected 1 matching event within 2 s, 0 arrived.",
            "E*event* still queued in the posthog client created at *shop.py:*: the app never "
            "flushed it, and its flush_interval is 3600 s, so they would reach PostHog that late, "
            "or never if the process ends first (guide: 'Server-side events delayed': call "
            "flush() after the request, shutdown() on exit).",
            "E*After that flush, 1 event matching the query arrived.",
        ],
    ),
    "different-keys": (
        "test_step_4_event_attribution",
        [
            "E*AssertionError: Expected one PostHog project API key for every event:",
            "E *  [[]different-api-keys[]] Events went to 2 PostHog projects: the client used *; "
            "the server used *.*",
            "E*Next step: configure the server SDK with the same project API key as posthog.init "
            "(guide: 'Different project IDs').",
        ],
    ),
    "server-alias": (
        "test_a_returning_user_on_a_second_device_is_one_person",
        [
            "E*AssertionError: Expected all events to belong to one person; found 2 persons:",
            "E*PostHog refused a merge: [[]cannot_merge_already_identified[]] '$create_alias' "
            "(server) asked to merge 'user_*' into '*', but 'user_*''s person is already "
            "identified*",
            "E*Next step: let the anonymous id be the one that joins: posthog.identify(user_id) in "
            "the browser*",
        ],
    ),
    "server-outside-session": (
        "test_step_6_end_to_end_purchase_flow",
        [
            "E*AssertionError: Expected every server event of a person with a browser session "
            "to carry that session's $session_id; * not:",
            "E *  *. 'purchase_completed' (server, *) at * has no $session_id; by its time it "
            "belongs to session S1 (*",
            "E*PostHog shows these events outside the user's session and its replay. Next step: "
            "posthog-js sends the session to your backend*",
        ],
    ),
    "flag-other-id": (
        "test_step_6_end_to_end_purchase_flow",
        [
            "E*AssertionError: Expected one value per person for each flag on both sides; "
            "found 1 disagreement:",
            "E *  1. flag 'new-checkout': the server evaluated it for 'checkout-service' *and "
            "sent the value on $feature/new-checkout on 'purchase_completed' (server, *",
        ],
    ),
    "local-timestamps": (
        "test_billing_webhook_is_tracked_server_side",
        [
            "E*AssertionError: Expected every timestamp to carry its time zone (UTC); found local "
            "times:",
            "E *  [[]timestamp-without-zone[]] 'subscription_renewed' (server) was sent with the "
            "timestamp '*', which has no time zone:*",
        ],
    ),
}


#: Plugins the demo runs do not need (faster start-up of each run).
#: What the audit (a FAIL line) and the HTML report (finding codes) say about each variant.
FLAGGED = {
    "ignores-distinct-id": (["  FAIL          Distinct ID passed from client to server"], []),
    "double-purchase": (["  FAIL          No duplicate events tracked"], ["wrong-source"]),
    "card-in-client": ([], ["card-number", "extra-property"]),
    "never-flushes": ([], ["never-flushed"]),
    "different-keys": (
        ["  FAIL          Same API key used for both client and server"],
        ["different-api-keys"],
    ),
    "local-timestamps": (["  FAIL          Timestamps in UTC"], ["timestamp-without-zone"]),
    "server-alias": (["  FAIL          Identity consistency verified across tracking methods"], []),
    "server-outside-session": ([], []),
    "flag-other-id": ([], []),
}
LEAN = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:xdist", "-p", "no:cov"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, subprocess.Popen[str]]]:
    """Every variant's run, started at once (a pytest subprocess each, in its own folder), so
    the runs overlap instead of queueing."""
    started = {}
    for variant in [*CAUGHT, "ok"]:
        tests = (
            CAUGHT[variant][0]
            if variant != "ok"
            else " or ".join(sorted({test for test, _ in CAUGHT.values()}))
        )
        folder = tmp_path_factory.mktemp(variant)
        reports = [
            "--analytics-audit",
            f"--analytics-report={folder}",
            f"--analytics-tracking-plan={PLAN}",
        ]
        started[variant] = subprocess.Popen(
            [sys.executable, "-m", "pytest", str(DEMO), "-k", tests, *LEAN, *reports],
            cwd=folder,
            env={**os.environ, "SHOP_VARIANT": variant},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    yield started
    for process in started.values():
        if process.poll() is None:
            process.kill()
        process.communicate()


def finished(process: subprocess.Popen[str]) -> pytest.RunResult:
    output, _ = process.communicate(timeout=300)
    return pytest.RunResult(process.returncode, output.splitlines(), [], 0)


@pytest.mark.parametrize("variant", sorted(CAUGHT))
def test_each_broken_variant_is_caught_by_its_check(
    runs: dict[str, subprocess.Popen[str]], variant: str
) -> None:
    result = finished(runs[variant])
    result.assert_outcomes(failed=1, deselected=len(DEMO_TESTS) - 1)
    result.stdout.fnmatch_lines(CAUGHT[variant][1])
    audit, codes = FLAGGED[variant]
    result.stdout.fnmatch_lines(["*= analytics audit =*", *audit])
    folder = next(arg for arg in runs[variant].args if arg.startswith("--analytics-report="))
    html = Path(folder.partition("=")[2], "analytics-report.html").read_text()
    for code in codes:
        assert f"[{code}]" in html or f">{code}<" in html, code


def test_the_shop_without_bugs_passes_the_same_checks(
    runs: dict[str, subprocess.Popen[str]],
) -> None:
    covered = {test for test, _ in CAUGHT.values()}
    result = finished(runs["ok"])
    result.assert_outcomes(passed=len(covered), deselected=len(DEMO_TESTS) - len(covered))
    audit = [line for line in result.outlines if line.startswith(("  PASS", "  FAIL"))]
    assert audit
    assert not [line for line in audit if line.startswith("  FAIL")], audit
