"""Drive one posthog-python version against the loopback recorder. Called by record.py with that
version first on ``PYTHONPATH`` (``.matrix/posthog-<major>``, installed by ``make matrix``):

    python record_python.py <origin> <token>

The calls an app of that version's day makes, each with the uuid the script gives it (posthog
before 6 sends none of its own), on a sync client (one ``/batch/`` per call): a capture, the
person call (``identify`` before 6, ``set`` since), ``alias``, a flag read (its ``/flags``
request; ``send_feature_flag_events=False``, so no event the script did not name); then a
threaded ``gzip=True`` client on its defaults: three captures, ``flush()``, ``shutdown()``.
Prints one JSON line: the version, the flag value the SDK returned, and the truth (the calls,
by uuid), checked against what ``before_send`` saw where the version has that hook (4.0 on).
"""

from __future__ import annotations

import json
import sys
import uuid
import warnings
from typing import Any

from posthog import Posthog
from posthog.version import VERSION

MAJOR = int(VERSION.split(".")[0])


def main(origin: str, token: str) -> int:
    truth: list[dict[str, Any]] = []
    seen: list[str] = []
    hook: dict[str, Any] = {}
    if MAJOR >= 4:

        def before_send(msg: dict[str, Any]) -> dict[str, Any]:
            seen.append(str(msg.get("uuid")))
            return msg

        hook["before_send"] = before_send

    def call(event: str, who: str, send: Any, /, *args: Any, **kwargs: Any) -> None:
        """``send(*args, uuid=..., **kwargs)``, noting it as a truth event with the uuid the
        SDK says it queued: before 6 each call returns ``(success, message)`` (posthog 3's
        ``alias()`` drops the uuid it is given), since 6 the uuid."""
        given = str(uuid.uuid4())
        result = send(*args, uuid=given, **kwargs)
        if isinstance(result, tuple):
            given = result[1].get("uuid")
        elif isinstance(result, str):
            given = result
        truth.append({"uuid": given, "event": event, "distinct_id": who})

    sync = Posthog(token, host=origin, sync_mode=True, max_retries=0, **hook)
    props = {"amount": 12.5, "note": "caf\u00e9 \u2603"}
    if MAJOR < 6:
        call("order_paid", "py-user-1", sync.capture, "py-user-1", "order_paid", props)
        call("$identify", "py-user-1", sync.identify, "py-user-1", {"email": "py@example.com"})
    else:
        call("order_paid", "py-user-1", sync.capture, "order_paid", distinct_id="py-user-1",
             properties=props)  # fmt: skip
        call("$set", "py-user-1", sync.set, distinct_id="py-user-1",
             properties={"email": "py@example.com"})  # fmt: skip
    call("$create_alias", "py-anon-1", sync.alias, previous_id="py-anon-1",
         distinct_id="py-user-1")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 7.x deprecates the getter
        flag = sync.get_feature_flag("new-checkout", "py-user-1", send_feature_flag_events=False)
    # Its default flush_interval: before 7, flush() waits for the consumer to send on its own.
    batch = Posthog(token, host=origin, gzip=True, max_retries=0, **hook)
    for n in range(3):
        who = f"py-user-{n % 2}"
        if MAJOR < 6:
            call("batched", who, batch.capture, who, "batched", {"n": n})
        else:
            call("batched", who, batch.capture, "batched", distinct_id=who, properties={"n": n})
    batch.flush()
    batch.shutdown()
    if MAJOR >= 7:
        sync.shutdown()  # before 7, shutdown() in sync mode raises (no consumers to join)
    if hook and sorted(seen) != sorted(str(t["uuid"]) for t in truth):
        print(f"before_send saw {seen}, the script made {truth}", file=sys.stderr)
        return 1
    print(json.dumps({"version": VERSION, "flag": flag, "truth": truth}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
