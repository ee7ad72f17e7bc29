"""Recording: the store and recorder, queries, the timeline text, the fake PostHog API, flags,
and ``Analytics``."""
