"""`make demo` (until the demo shop lands): replay the recorded real SDK requests.

Every request in tests/payloads/ (sent by the published posthog-js in Chromium,
posthog-python and posthog-node) goes through the fake PostHog API into one recorder per
recording; the script prints each timeline and the checks it passes.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from pytest_hybrid_analytics import Analytics, assert_no_duplicates, assert_same_person

PAYLOADS = Path(__file__).resolve().parent.parent / "tests" / "payloads"


def main() -> int:
    files = sorted(PAYLOADS.glob("posthog-*.json"))
    if not files:
        print(f"no recordings found in {PAYLOADS}", file=sys.stderr)
        return 1
    total = 0
    for path in files:
        recording = json.loads(path.read_text())
        analytics = Analytics()
        for request in recording["requests"]:
            body = base64.b64decode(request["body_base64"])
            analytics.api.handle(
                request["method"],
                request["path"],
                request["headers"],
                body,
                transport=request["transport"],
            )
        total += len(analytics)
        print(
            f"\n== {path.stem}: {recording['sdk']} {recording['sdk_version']}, "
            f"{len(recording['requests'])} requests"
        )
        print(analytics.timeline())
        verdicts = []
        for name, check in (
            ("one person", assert_same_person),
            ("no duplicates", assert_no_duplicates),
        ):
            try:
                check(analytics)
                verdicts.append(f"{name}: yes")
            except AssertionError as failure:
                verdicts.append(f"{name}: no ({str(failure).splitlines()[0]})")
        print("   " + "; ".join(verdicts))
        if analytics.rejected:
            print(f"   {len(analytics.rejected)} requests rejected", file=sys.stderr)
            return 1
    print(f"\n{total} events from {len(files)} recordings decoded; none rejected.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
