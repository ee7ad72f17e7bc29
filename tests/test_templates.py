"""The package's page templates (``_reports/templates/``): each JavaScript file passes
``node --check``, each HTML template and each page made from one parses with balanced tags, and
every ``__NAME__`` placeholder is filled exactly once.

The checks are shown to fail on a broken input too, so none of them passes by looking at
nothing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import pytest
from support import T0, make_event

from pytest_hybrid_analytics import PiiGuard, RejectedRequest
from pytest_hybrid_analytics._reports import html as report
from pytest_hybrid_analytics._reports import templating
from pytest_hybrid_analytics._reports.audit import audit
from pytest_hybrid_analytics._reports.records import RecordedTest
from pytest_hybrid_analytics.cli import _page

TEMPLATES = files("pytest_hybrid_analytics._reports") / "templates"
#: Every template, and the placeholders each one takes.
FIELDS: dict[str, set[str]] = {
    "report.html": {"title", "css", "js", "summary", "toc", "toc_class", "audit", "sections"},
    "report.css": set(),
    "report.js": set(),
    "serve.html": {"css", "js"},
    "serve.css": set(),
    "serve.js": set(),
}
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
#: Anything that looks like a placeholder, wider than the renderer's own pattern.
LEFTOVER = re.compile(r"__[A-Z][A-Z0-9_]*__")
#: Elements with no end tag.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
#: Elements each page must have (once each, and closed).
SKELETON = ("html", "head", "title", "style", "body", "script")


def template_text(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def the_test() -> RecordedTest:
    """A small failing test: client and server events, an identify merge, a duplicate, a PII
    finding and a rejected request, so every part of the page is drawn."""
    events = [
        make_event("$pageview", "anon-1", at=0),
        make_event("signed_up", "anon-1", at=1, email="ada@example.com"),
        make_event("$identify", "user-1", at=2, **{"$anon_distinct_id": "anon-1"}),
        make_event("order_paid", "user-1", source="server", at=3, amount=12.5),
        make_event("order_paid", "user-1", source="server", at=3, amount=12.5),
    ]
    rejected = RejectedRequest(
        "POST",
        "http://127.0.0.1:5000/e/",
        {},
        b"junk",
        "the body is not JSON",
        "collector",
        400,
        received_at=T0 + timedelta(seconds=4),
    )
    return RecordedTest(
        "tests/test_shop.py::test_sign_up",
        "failed",
        events=events,
        rejected=[rejected],
        findings=PiiGuard().check(events),
        message="AssertionError: two order_paid",
    )


def rendered_report() -> str:
    run = [the_test(), RecordedTest("tests/test_home.py::test_static", "passed")]
    return report.render_html(run, title="Shop analytics", audit=audit(run))


def serve_page() -> str:
    answer = _page("GET", "/", {}, b"")
    assert answer.status == 200
    return answer.body.decode("utf-8")


PAGES = {"report": rendered_report, "serve": serve_page}


# -- the files -------------------------------------------------------------------------------


def test_the_templates_are_these_files() -> None:
    assert sorted(entry.name for entry in TEMPLATES.iterdir()) == sorted(FIELDS)


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_each_template_has_exactly_its_placeholders(name: str) -> None:
    text = template_text(name)
    assert {m.lower() for m in templating.MARKER.findall(text)} == FIELDS[name]
    assert {m.strip("_").lower() for m in LEFTOVER.findall(text)} == FIELDS[name]
    assert templating.load_template(name, *FIELDS[name]).fields == FIELDS[name]


@pytest.mark.parametrize("name", [n for n, fields in FIELDS.items() if fields])
def test_loading_a_template_with_other_fields_is_an_error(name: str) -> None:
    first = sorted(FIELDS[name])[0]
    with pytest.raises(ValueError, match=f"__{first.upper()}__ is not filled"):
        templating.load_template(name, *(FIELDS[name] - {first}))
    with pytest.raises(ValueError, match="it has no __EXTRA__ for 'extra'"):
        templating.load_template(name, *FIELDS[name], "extra")


# -- placeholders ----------------------------------------------------------------------------


def test_a_placeholder_without_a_field_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"page\.html: __BODY__ is not filled"):
        templating.Template.parse("page.html", "<h1>__TITLE__</h1>__BODY__", {"title"})


def test_a_field_without_a_placeholder_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"page\.html: it has no __BODY__ for 'body'"):
        templating.Template.parse("page.html", "<h1>__TITLE__</h1>", {"title", "body"})


def test_render_takes_exactly_the_fields() -> None:
    page = templating.Template.parse(
        "page.html",
        "<h1>__TITLE__</h1><p>__TOC_CLASS__</p>",
        {
            "title",
            "toc_class",
        },
    )
    with pytest.raises(TypeError, match="takes"):
        page.render(title="x")
    with pytest.raises(TypeError, match="takes"):
        page.render(title="x", toc_class="y", body="z")
    assert page.render(title="x", toc_class="y") == "<h1>x</h1><p>y</p>"


def test_a_value_is_put_in_as_it_is() -> None:
    """One pass: a value holding a placeholder (a test's name, say) is not filled again."""
    page = templating.Template.parse("page.html", "__TITLE__|__BODY__", {"title", "body"})
    assert page.render(title="__BODY__ $x {y}", body="b") == "__BODY__ $x {y}|b"
    text = report.render_html([RecordedTest("tests/test___SECTIONS__.py::t")], title="__CSS__")
    assert "<title>__CSS__</title>" in text
    assert "tests/test___SECTIONS__.py::t" in text


@pytest.mark.parametrize("page", sorted(PAGES))
def test_a_rendered_page_keeps_no_placeholder(page: str) -> None:
    text = PAGES[page]()
    assert LEFTOVER.findall(text) == []
    css, js = (f"{page}.css", f"{page}.js")
    assert f"<style>\n{template_text(css)}</style>" in text
    assert f"<script>\n{template_text(js)}</script>" in text


def test_the_report_fills_every_part() -> None:
    text = rendered_report()
    assert text.startswith("<!doctype html>\n")
    assert text.endswith("</html>\n")
    assert text.count("Shop analytics") == 2  # <title> and <h1>
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in text
    assert '<ol class="toc">' in text
    assert "<details class='audit card'>" in text
    assert "<p class=\"summary\">2 tests · <b class='bad'>1 failed</b>" in text
    assert text.count("<section class='test card") == 2
    many = report.render_html([RecordedTest(f"t::{n}") for n in range(9)])
    assert '<ol class="toc many">' in many


# -- JavaScript ------------------------------------------------------------------------------


def node_check(script: str, where: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node is not None, "node (20+) is needed to check the templates' JavaScript"
    where.write_text(script, encoding="utf-8")
    return subprocess.run(
        [node, "--check", str(where)], capture_output=True, text=True, timeout=60, check=False
    )


def test_node_check_rejects_broken_javascript(tmp_path: Path) -> None:
    checked = node_check("(function () { var x = ; })();\n", tmp_path / "broken.js")
    assert checked.returncode != 0
    assert "SyntaxError" in checked.stderr


@pytest.mark.parametrize("name", [name for name in sorted(FIELDS) if name.endswith(".js")])
def test_each_javascript_template_passes_node_check(name: str, tmp_path: Path) -> None:
    text = template_text(name)
    assert text.strip()
    checked = node_check(text, tmp_path / name)
    assert checked.returncode == 0, checked.stderr


class Page(HTMLParser):
    """Every element's start and end, and each script's type and text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.seen: list[str] = []
        self.scripts: list[tuple[str | None, str]] = []
        self._script_type: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)
        if tag == "script":
            self._script_type, self._text = dict(attrs).get("type"), []
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)  # <line .../> in SVG: opened and closed at once

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.problems.append(f"</{tag}> closes a void element")
        elif not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1] if self.open else 'nothing'}")
        else:
            self.open.pop()
        if tag == "script":
            self.scripts.append((self._script_type, "".join(self._text)))

    def handle_data(self, data: str) -> None:
        self._text.append(data)


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def test_the_parser_sees_unbalanced_tags() -> None:
    page = parse("<html><body><div><span></div></body></html>")
    assert page.problems != []
    assert parse("<html><body><p>open").open == ["html", "body", "p"]


@pytest.mark.parametrize(
    "text",
    [pytest.param(template_text(n), id=n) for n in sorted(FIELDS) if n.endswith(".html")]
    + [pytest.param(make(), id=f"rendered {name}") for name, make in sorted(PAGES.items())],
)
def test_html_parses_with_balanced_tags(text: str, tmp_path: Path) -> None:
    page = parse(text)
    assert text.lower().startswith("<!doctype html>")
    assert page.problems == []
    assert page.open == []
    for tag in SKELETON:
        assert tag in page.seen, tag
    assert [tag for tag in page.seen if tag in {"html", "head", "body", "title", "style"}] == [
        "html",
        "head",
        "title",
        "style",
        "body",
    ]
    code = [body for kind, body in page.scripts if kind in (None, "text/javascript")]
    assert len(code) == 1, "one inline script: the template's JavaScript"
    for n, body in enumerate(code):
        if templating.MARKER.fullmatch(body.strip()):
            continue  # the template's slot for its .js file, checked on its own
        checked = node_check(body, tmp_path / f"inline-{n}.js")
        assert checked.returncode == 0, checked.stderr
    for kind, body in page.scripts:
        if kind == "application/json":
            assert isinstance(json.loads(body), dict)
