"""Checks: findings, redaction, the PII guard, the tracking plan, diagnostics, the teardown
checks and the assertions."""
