"""The roads: the per-process ``Harness`` and everything that patches or listens (requests, httpx,
posthog clients, the collector, the browser)."""
