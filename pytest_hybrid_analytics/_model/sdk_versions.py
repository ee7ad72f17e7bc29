"""The SDK versions the harness is proven on (README, 'Supported SDK versions'), as data, and
what to tell a user whose SDK is outside them. Pure: no I/O.

Each version in :data:`SUPPORTED` is driven through the harness by ``make test``
(tests/test_versions_*.py). A version between two proven ones of the same major line is
covered by them; one older than the oldest proven of its line, newer than the newest, or of a
major with none proven gets a warning naming the nearest proven version.

    nearest_supported("posthog-js", "1.20.0")         # '1.57.2'
    version_warning("posthog-python", "2.5.0")        # '... older than every version the
                                                      #  harness is proven on ...: 3.25.0 ...'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "LIBS",
    "SUPPORTED",
    "is_covered",
    "nearest_supported",
    "sdk_of",
    "version_warning",
    "versions_line",
]

#: Every version the tests prove, per SDK, oldest first.
SUPPORTED: dict[str, tuple[str, ...]] = {
    "posthog-js": (
        "1.57.2",
        "1.203.2",
        "1.234.4",
        "1.256.0",
        "1.268.9",
        "1.312.0",
        "1.364.4",
        "1.396.3",
        "1.400.1",
        "1.434.18",
        "1.449.2",
    ),
    "posthog-python": ("3.25.0", "4.10.0", "5.4.0", "6.9.3", "7.91.1"),
    "posthog-node": ("4.18.0", "5.70.0"),
}
#: An event's ``$lib`` -> the SDK's package name.
LIBS = {"web": "posthog-js", "posthog-python": "posthog-python", "posthog-node": "posthog-node"}

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def _key(version: str) -> tuple[int, int, int] | None:
    match = _VERSION.match(version.strip())
    if match is None:
        return None
    return (int(match[1]), int(match[2]), int(match[3]))


def sdk_of(lib: str | None) -> str | None:
    """The SDK (``"posthog-js"``...) an event's ``$lib`` names, or ``None``: not one we track."""
    return LIBS.get(lib or "")


def is_covered(sdk: str, version: str) -> bool:
    """Whether ``version`` is proven, or lies between two proven versions of its major line."""
    key = _key(version)
    if key is None or sdk not in SUPPORTED:
        return False
    line = [k for k in map(_key, SUPPORTED[sdk]) if k is not None and k[0] == key[0]]
    return bool(line) and min(line) <= key <= max(line)


def nearest_supported(sdk: str, version: str) -> str | None:
    """The proven version nearest to ``version``: of its major line if one is proven (the
    closest by minor, then patch), else of the nearest major. ``None``: an SDK not in the
    table, or not a version."""
    key = _key(version)
    if key is None or sdk not in SUPPORTED:
        return None
    proven = [(k, v) for v in SUPPORTED[sdk] if (k := _key(v)) is not None]
    line = [(k, v) for k, v in proven if k[0] == key[0]]
    if line:
        return min(line, key=lambda item: (abs(item[0][1] - key[1]), abs(item[0][2] - key[2])))[1]
    below = [item for item in proven if item[0] < key]
    above = [item for item in proven if item[0] > key]
    if not above or (below and key[0] - max(below)[0][0] <= min(above)[0][0] - key[0]):
        return max(below)[1]
    return min(above)[1]


def version_warning(sdk: str, version: str) -> str | None:
    """What to tell a user whose ``sdk`` is at ``version``, or ``None`` when it is covered."""
    if sdk not in SUPPORTED or is_covered(sdk, version):
        return None
    nearest = nearest_supported(sdk, version)
    if nearest is None:
        return (
            f"{sdk} {version!r} is not a version the harness can place; it is proven on "
            f"{', '.join(SUPPORTED[sdk])} (README, 'Supported SDK versions')"
        )
    key, oldest, newest = _key(version), _key(SUPPORTED[sdk][0]), _key(SUPPORTED[sdk][-1])
    if key is not None and oldest is not None and key < oldest:
        where = "is older than every version the harness is proven on"
    elif key is not None and newest is not None and key > newest:
        where = "is newer than every version the harness is proven on"
    else:
        where = "is outside the versions the harness is proven on"
    return (
        f"{sdk} {version} {where}: its verdicts may differ; nearest supported: {nearest} "
        "(README, 'Supported SDK versions')"
    )


def versions_line(seen: Iterable[tuple[str, str]]) -> str:
    """``posthog-js 1.449.2, posthog-python 3.25.0 and 7.91.1``: the (sdk, version) pairs
    seen, each SDK once, versions in order."""
    by_sdk: dict[str, set[str]] = {}
    for sdk, version in seen:
        by_sdk.setdefault(sdk, set()).add(version)
    parts = []
    for sdk in sorted(by_sdk):
        versions = sorted(by_sdk[sdk], key=lambda v: (_key(v) or (0, 0, 0), v))
        joined = (
            ", ".join(versions[:-1]) + " and " + versions[-1]
            if len(versions) > 1
            else (versions[0])
        )
        parts.append(f"{sdk} {joined}")
    return ", ".join(parts)
