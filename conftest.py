"""Loads the plugin for this repository's own suite after coverage has started.

The entry point is switched off in ``addopts`` (``-p no:hybrid_analytics``) so that coverage
sees the plugin module import; inner ``pytester`` runs load it through the entry point.
"""

pytest_plugins = ["pytest_hybrid_analytics.plugin"]
