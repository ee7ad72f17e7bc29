"""mutmut's verdicts, read from its work dir (``mutants/<source>.meta``, one JSON per file)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

#: mutmut's exit codes (``mutmut.stats.status_by_exit_code``) for the verdicts the table tells
#: apart; every other code (segfault, suspicious, not checked...) is "other". A mutant the
#: type checker rejects is killed; one that makes the tests hang (a timeout) is caught too, as
#: mutation tools count it: the suite did not pass.
_KILLED = {1, 3, 37}
_TIMEOUT = {36, -24, 24, 152, 255}
_SURVIVED = {0}
_NO_TESTS = {5, 33}


@dataclass(frozen=True)
class Verdict:
    """One mutant: its id (as ``mutmut show`` names it) and what the tests made of it."""

    mutant: str
    exit_code: int | None

    @property
    def status(self) -> str:
        """``killed``, ``timeout``, ``survived``, ``no tests`` (survived: no selected test
        reaches it), or ``other``."""
        if self.exit_code in _KILLED:
            return "killed"
        if self.exit_code in _TIMEOUT:
            return "timeout"
        if self.exit_code in _SURVIVED:
            return "survived"
        if self.exit_code in _NO_TESTS:
            return "no tests"
        return "other"


def verdicts(work_dir: Path, source: str) -> list[Verdict]:
    """The verdicts mutmut recorded for ``source`` (a path relative to the repository); none
    when mutmut has not run on it."""
    meta = work_dir / f"{source}.meta"
    if not meta.exists():
        return []
    codes: dict[str, int | None] = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
    return [Verdict(mutant, code) for mutant, code in sorted(codes.items())]
