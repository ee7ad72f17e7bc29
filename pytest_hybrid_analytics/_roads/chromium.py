"""Which Chromium pytest-playwright launches, and with which flags, on a machine where
Playwright's own browser may be missing and the network is closed but for the loopback."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import Any

__all__ = ["CLOSED_NETWORK_ARGS", "find_chromium", "launch_options"]

#: Chromium flags for a machine with no network but the loopback: no background connections,
#: and pages on any origin may reach the loopback collector.
CLOSED_NETWORK_ARGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-features=LocalNetworkAccessChecks",
)


def find_chromium(configured: str | None = None) -> str | None:
    """A Chromium to launch when Playwright's own browser is not installed: ``configured``
    (``analytics_chromium`` / ``HYBRID_ANALYTICS_CHROMIUM``), else the system's."""
    if configured:
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def launch_options(
    options: Mapping[str, Any],
    *,
    browser_name: str,
    bundled: str | None,
    configured: str | None = None,
) -> dict[str, Any]:
    """pytest-playwright's launch options, completed for this machine.

    For Chromium: the configured executable, else Playwright's own (``bundled``) when it is
    installed, else the system's Chromium; plus the closed-network flags (and ``--no-sandbox``
    as root). Options the suite set itself are kept.
    """
    out = dict(options)
    if browser_name != "chromium" or out.get("channel"):
        return out
    if "executable_path" not in out:
        if configured:
            out["executable_path"] = configured
        elif not (bundled and os.path.exists(bundled)):
            system = find_chromium()
            if system:
                out["executable_path"] = system
    args = list(out.get("args") or [])
    extra = list(CLOSED_NETWORK_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        extra.append("--no-sandbox")
    out["args"] = args + [flag for flag in extra if flag not in args]
    return out
