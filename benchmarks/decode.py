"""Decoding a 1,000-event posthog-js gzip batch against bare ``gzip.decompress`` + ``json.loads``.

Two figures against the same bare standard-library baseline, measured in turn round after round:
the decoder on the standard library alone, and with the ``fast`` extra (msgspec, isal) when it
is installed. The last row says which one the plugin uses here.
"""

from __future__ import annotations

import gzip
import json

from benchmarks._data import client_events
from benchmarks._measure import Figure, interleaved
from pytest_hybrid_analytics import parse_capture_request
from pytest_hybrid_analytics._model.wire import encode_body, fast_decoders, stdlib_decoders

ROUNDS = 60
GOAL = 1.2


def run(rounds: int = ROUNDS) -> list[Figure]:
    payload = {
        "api_key": "phc_bench",
        "batch": client_events(1000),
        "sent_at": "2026-03-01T12:00:00Z",
    }
    body, headers, _ = encode_body(payload, "gzip-js")
    fast = fast_decoders()

    def in_use() -> object:
        return parse_capture_request("/e/", headers, body)

    def stdlib() -> object:
        with stdlib_decoders():
            return parse_capture_request("/e/", headers, body)

    def bare() -> object:
        return json.loads(gzip.decompress(body))

    # Both really do the work, and agree.
    assert [_fields(e) for e in stdlib()] == [_fields(e) for e in in_use()]
    candidates = {"bare": bare, "stdlib": stdlib}
    if fast:
        candidates["fast"] = in_use
    best = interleaved(candidates, rounds)
    what = f"decode 1,000 events ({len(body) // 1024} KiB gzip) vs bare"
    figures = [_figure(f"{what}, stdlib", best["stdlib"], best["bare"])]
    if fast:
        figures.append(_figure(f"{what}, {'+'.join(fast)}", best["fast"], best["bare"]))
    else:
        figures.append(Figure(f"{what}, [fast]", "not installed", f"<= {GOAL}x with it", False))
    figures.append(
        Figure(
            f"  in use here: {' + '.join(fast) if fast else 'the standard library'}",
            f"bare {best['bare'] * 1e3:.1f} ms",
            "(baseline)",
            True,
        )
    )
    return figures


def _fields(event: object) -> tuple[object, ...]:
    """Every field of a ``CapturedEvent`` but the arrival time."""
    fields = getattr(event, "__slots__", ())
    return tuple(getattr(event, name) for name in fields if name != "received_at")


def _figure(name: str, ours: float, bare: float) -> Figure:
    ratio = ours / bare
    return Figure(name, f"{ratio:.2f}x ({ours * 1e3:.1f} ms)", f"<= {GOAL}x", ratio <= GOAL)


if __name__ == "__main__":
    for figure in run():
        print(figure.row())
