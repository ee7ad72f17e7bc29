"""The modules the score is reported for, each with the source files it covers.

The same files are listed in ``pyproject.toml`` (``[tool.mutmut] only_mutate``).
"""

from __future__ import annotations

_PACKAGE = "pytest_hybrid_analytics"

#: Row name -> the files (under the package) whose mutants it counts.
MODULES: dict[str, tuple[str, ...]] = {
    "decoding": ("_model/wire.py", "_model/lz64.py"),
    "ingestion": ("_model/ingest.py",),
    "events": ("_model/events.py",),
    "persons": ("_model/persons.py",),
    "queries": ("_recording/query.py",),
    "recorder": ("_recording/recorder.py", "_recording/store.py"),
    "assertions": ("_checks/assertions.py",),
    "hosts": ("_roads/hosts.py",),
    "PII guard": ("_checks/pii.py",),
    "tracking plan": ("_checks/plan.py",),
}


def source_path(file: str) -> str:
    """``_model/wire.py`` -> ``pytest_hybrid_analytics/_model/wire.py``."""
    return f"{_PACKAGE}/{file}"
