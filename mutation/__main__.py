"""``python -m mutation [--survivors]``: the mutation score per module, from mutmut's last run
(``make mutate``), less the mutants judged equivalent; ``--survivors`` also lists the mutants
no test killed (``mutmut show ID`` prints one)."""

from __future__ import annotations

import datetime
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mutation import _equivalents
from mutation._modules import MODULES, source_path
from mutation._results import Verdict, verdicts

WORK_DIR = Path("mutants")
GOAL = 0.90


@dataclass
class Row:
    """One module's counts."""

    name: str
    killed: int = 0
    survived: int = 0
    equivalent: int = 0
    timeout: int = 0
    other: int = 0
    unchecked: int = 0
    survivors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.killed + self.timeout + self.survived + self.equivalent + self.other

    @property
    def score(self) -> float | None:
        judged = self.total - self.equivalent
        return (self.killed + self.timeout) / judged if judged else None

    def add(self, verdict: Verdict, equivalent: bool) -> None:
        status = verdict.status
        if equivalent and status not in ("killed", "timeout"):
            self.equivalent += 1
        elif status == "killed":
            self.killed += 1
        elif status == "timeout":
            self.timeout += 1
        elif status in ("survived", "no tests"):
            self.survived += 1
            self.survivors.append(verdict.mutant)
        else:
            self.other += 1
            self.unchecked += verdict.exit_code is None


_HEADER = ("module", "mutants", "killed", "timeout", "survived", "equivalent", "other", "score")


def _cells(row: Row) -> tuple[str, ...]:
    score = "-" if row.score is None else f"{row.score:.1%}"
    counts = (row.total, row.killed, row.timeout, row.survived, row.equivalent, row.other)
    return (row.name, *(str(count) for count in counts), score)


def _table(rows: list[Row]) -> str:
    lines = [_HEADER, *(_cells(row) for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(_HEADER))]

    def text(line: tuple[str, ...]) -> str:
        first = line[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True))])

    rule = "-" * len(text(_HEADER))
    body = [text(line) for line in lines[1:-1]]
    return "\n".join([text(_HEADER), rule, *body, rule, text(lines[-1])])


def main(argv: list[str]) -> int:
    show_survivors = "--survivors" in argv
    equivalents = _equivalents.load()
    rows: list[Row] = []
    total = Row("all")
    seen: set[str] = set()
    stale: list[str] = []
    for name, files in MODULES.items():
        row = Row(name)
        for file in files:
            for verdict in verdicts(WORK_DIR, source_path(file)):
                seen.add(verdict.mutant)
                judged_equivalent = verdict.mutant in equivalents
                if judged_equivalent and verdict.status in ("killed", "timeout"):
                    stale.append(f"{verdict.mutant} (killed)")
                row.add(verdict, judged_equivalent)
                total.add(verdict, judged_equivalent)
        rows.append(row)
    if not seen:
        print(f"No mutmut results under {WORK_DIR}/: run `make mutate` first.", file=sys.stderr)
        return 1
    stale += [f"{mutant} (no such mutant)" for mutant in equivalents if mutant not in seen]
    print(f"Mutation score of the core, {datetime.date.today().isoformat()} (mutmut; score =")
    print("(killed + timeout) / (mutants - judged equivalent); a timeout is a mutant that made")
    print("the tests hang: caught; survived includes mutants no test reaches)")
    print()
    print(_table([*rows, total]))
    below = [row.name for row in rows if row.score is not None and row.score < GOAL]
    print()
    if below:
        print(f"Below {GOAL:.0%}: {', '.join(below)}")
    else:
        print(f"Every module at {GOAL:.0%} or more.")
    if total.unchecked:
        print(f"{total.unchecked} mutants not checked yet (an interrupted run): counted as other.")
    if stale:
        print(f"\nIn {_equivalents.FILE.name} but not equivalent any more (rejudge them):")
        print("\n".join(f"  {line}" for line in stale))
    if show_survivors:
        for row in rows:
            if row.survivors:
                print(f"\nSurvivors in {row.name}:")
                print("\n".join(f"  {mutant}" for mutant in row.survivors))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
