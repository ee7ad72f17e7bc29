"""The mutants judged equivalent: ``mutation/equivalent.txt``.

Each entry is the mutant's id on one line (``mutmut show ID`` prints its diff), then one
indented line saying why no input can tell it apart from the original. ``#`` starts a comment.
"""

from __future__ import annotations

from pathlib import Path

FILE = Path(__file__).with_name("equivalent.txt")


def load(path: Path = FILE) -> dict[str, str]:
    """Mutant id -> why it is equivalent. Raises ``ValueError`` on an entry with no reason."""
    entries: dict[str, str] = {}
    mutant = ""
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            if mutant:
                raise ValueError(f"{path}:{number - 1}: {mutant} has no line saying why")
            mutant = line.strip()
        elif mutant:
            entries[mutant] = line.strip()
            mutant = ""
        else:
            raise ValueError(f"{path}:{number}: a reason with no mutant id above it")
    if mutant:
        raise ValueError(f"{path}: {mutant} has no line saying why")
    return entries
