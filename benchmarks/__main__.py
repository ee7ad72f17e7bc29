"""``python -m benchmarks [SECTION ...]``: print every figure with its goal (or only those of the
sections named: decode, assertions, ingest, server, overhead, browser, scale, retries). Never fails
on time."""

from __future__ import annotations

import platform
import sys

from benchmarks import (
    assertions,
    browser,
    decode,
    ingest,
    overhead,
    retries,
    scale_out,
    server_wait,
)

SECTIONS = {
    "decode": ("Decoding", decode),
    "assertions": ("Assertions", assertions),
    "ingest": ("Collector ingest (16 real posthog clients in an app process)", ingest),
    "server": ("Server event to assertion (posthog-python on its defaults)", server_wait),
    "overhead": ("Per-test overhead and memory (pytest sessions in subprocesses)", overhead),
    "browser": ("Browser (posthog-js in Chromium: click to assertion, suite overhead)", browser),
    "scale": ("Scale-out (a browser suite under pytest-xdist)", scale_out),
    "retries": ("Retries (what each SDK does when PostHog fails; figures, not speed)", retries),
}


def main(names: list[str]) -> None:
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        sys.exit(f"unknown section {', '.join(unknown)}: choose from {', '.join(SECTIONS)}")
    print(
        f"pytest-hybrid-analytics benchmarks (Python {platform.python_version()}, "
        f"{platform.machine()}); ratios are measured side by side in this process."
    )
    for name in names or SECTIONS:
        title, module = SECTIONS[name]
        print(f"{title}:", flush=True)
        for figure in module.run():
            print(figure.row(), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
