"""``python -m benchmarks``: print every figure with its goal. Never fails on time."""

from __future__ import annotations

import platform

from benchmarks import assertions, decode, ingest, overhead


def main() -> None:
    print(
        f"pytest-hybrid-analytics benchmarks (Python {platform.python_version()}, "
        f"{platform.machine()}); ratios are measured side by side in this process."
    )
    for title, module in (
        ("Decoding", decode),
        ("Assertions", assertions),
        ("Collector ingest (16 real posthog clients in an app process)", ingest),
        ("Per-test overhead and memory (pytest sessions in subprocesses)", overhead),
    ):
        print(f"{title}:", flush=True)
        for figure in module.run():
            print(figure.row(), flush=True)


if __name__ == "__main__":
    main()
