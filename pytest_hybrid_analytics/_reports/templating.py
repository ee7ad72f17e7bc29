"""The HTML, CSS and JavaScript of the pages the plugin writes and serves, kept as package files
under ``_reports/templates/`` and filled by name: ``__NAME__`` placeholders, each checked at
load time (one no field fills, or a field with no placeholder, is an error)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files

__all__ = ["MARKER", "Template", "load_template"]

#: A placeholder: ``__NAME__``, upper-case words joined by single underscores. It is filled by
#: the field ``name`` (the words in lower case): ``__TOC_CLASS__`` by ``toc_class``.
MARKER = re.compile(r"__([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)__")


@dataclass(frozen=True)
class Template:
    """A text with ``__NAME__`` placeholders, each filled once by :meth:`render`.

    >>> page = Template.parse("hello.html", "<h1>__TITLE__</h1>", {"title"})
    >>> page.render(title="Hi")
    '<h1>Hi</h1>'
    """

    name: str
    text: str
    fields: frozenset[str]

    @classmethod
    def parse(cls, name: str, text: str, fields: Iterable[str]) -> Template:
        """The template ``text`` that takes exactly ``fields``; a placeholder no field fills,
        or a field with no placeholder, raises :class:`ValueError`."""
        wanted = frozenset(fields)
        found = frozenset(marker.lower() for marker in MARKER.findall(text))
        problems = [f"__{field.upper()}__ is not filled" for field in sorted(found - wanted)] + [
            f"it has no __{field.upper()}__ for {field!r}" for field in sorted(wanted - found)
        ]
        if problems:
            raise ValueError(f"template {name}: " + "; ".join(problems))
        return cls(name, text, wanted)

    def render(self, **values: str) -> str:
        """The text with every placeholder replaced by its field's value, in one pass (a value
        that holds ``__NAME__`` stays as it is)."""
        if values.keys() != self.fields:
            raise TypeError(
                f"template {self.name} takes {sorted(self.fields)}, not {sorted(values)}"
            )
        return MARKER.sub(lambda match: values[match[1].lower()], self.text)


def load_template(name: str, *fields: str) -> Template:
    """The package file ``_reports/templates/<name>`` as a :class:`Template` taking exactly
    ``fields`` (none for a file used as it is: it then may hold no placeholder).

    >>> load_template("report.css").render().startswith("* { box-sizing")
    True
    """
    text = (files("pytest_hybrid_analytics._reports") / "templates" / name).read_text(
        encoding="utf-8"
    )
    return Template.parse(name, text, fields)
