"""``python -m benchmarks [SECTION ...]``: print every figure with its goal (or only those of the
sections named: decode, assertions, ingest, server, overhead, browser, scale, retries). Never fails
on time."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

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

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

SECTIONS = {
    "decode": ("Decoding", decode),
    "assertions": ("Assertions", assertions),
    "ingest": (
        "Collector ingest (recorded requests replayed by a load generator: collector, "
        "pytest-httpserver, floor)",
        ingest,
    ),
    "server": ("Server event to assertion (posthog-python on its defaults)", server_wait),
    "overhead": ("Per-test overhead and memory (pytest sessions in subprocesses)", overhead),
    "browser": ("Browser (posthog-js in Chromium: click to assertion, suite overhead)", browser),
    "scale": ("Scale-out (a browser suite under pytest-xdist)", scale_out),
    "retries": ("Retries (what each SDK does when PostHog fails; figures, not speed)", retries),
}


def _machine() -> str:
    """This machine, as the figures' context: CPU, cores, memory, Python, Chromium, posthog-js."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    chromium = shutil.which("chromium")
    browser = "no Chromium"
    if chromium:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            found = subprocess.run(
                [chromium, "--version"], capture_output=True, text=True, timeout=30
            ).stdout.split()
            browser = " ".join(found[:2]) if found else browser
    posthog_js = "no posthog-js"
    with contextlib.suppress(OSError, ValueError, KeyError):
        package = FIXTURES / "node_modules" / "posthog-js" / "package.json"
        posthog_js = f"posthog-js {json.loads(package.read_text())['version']}"
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, {browser}, {posthog_js}"
    )


def main(names: list[str]) -> None:
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        sys.exit(f"unknown section {', '.join(unknown)}: choose from {', '.join(SECTIONS)}")
    print(f"pytest-hybrid-analytics benchmarks, {datetime.date.today().isoformat()}")
    print(f"machine: {_machine()}")
    print("(ratios are measured side by side in one run; `ok`/`MISS` against each goal)")
    verdicts: list[bool] = []
    for name in names or SECTIONS:
        title, module = SECTIONS[name]
        print(f"{title}:", flush=True)
        for figure in module.run():
            print(figure.row(), flush=True)
            if figure.goal != "(reference)" and figure.goal != "(baseline)":
                verdicts.append(figure.met)
    print(f"{verdicts.count(True)} goals ok, {verdicts.count(False)} MISS")


if __name__ == "__main__":
    main(sys.argv[1:])
