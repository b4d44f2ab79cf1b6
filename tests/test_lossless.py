"""Markdown and HTML files open as rich text and save back without losing a byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_ysync.richtext import _markdown_source
from jupyter_ysync.richtext._markdown_source import _CHECK
from jupyter_ysync.richtext.delta import Line, lines, push
from jupyter_ysync.richtext.lossless import VERBATIM, Parsed, parse, render

DATA = Path(__file__).parent / "data"
MARKDOWN_FILES = sorted(p for p in (DATA / "markdown").glob("*.md") if p.name != "SOURCES.md")
HTML_FILES = sorted((DATA / "html").glob("*.html"))


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def html_of(markdown: str) -> str:
    """markdown-it's HTML, with soft line breaks as spaces (Quill has no soft break)."""
    return str(_CHECK.render(markdown))


def verbatim_lines(parsed: Parsed) -> list[str]:
    return [line.plain_text for line in lines(parsed.ops) if is_verbatim(line)]


def line_ops(line: Line) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for value, attrs in line.segments:
        push(ops, value, attrs)
    push(ops, "\n", line.attrs)
    return ops


def is_verbatim(line: Line) -> bool:
    return bool(line.attrs.get("code-block") == VERBATIM)


# --------------------------------------------------------------------------------------------
# the corpus


def test_corpus_is_real_and_sized() -> None:
    assert 40 <= len(MARKDOWN_FILES) <= 80
    assert all(path.stat().st_size < 200_000 for path in MARKDOWN_FILES)
    sources = read(DATA / "markdown" / "SOURCES.md")
    assert all(f"`{path.name}`" in sources for path in MARKDOWN_FILES)
    html_sources = read(DATA / "html" / "SOURCES.md")
    assert HTML_FILES and all(f"`{path.name}`" in html_sources for path in HTML_FILES)


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=lambda p: p.stem)
def test_markdown_file_saves_back_byte_for_byte(path: Path) -> None:
    text = read(path)
    parsed = parse(text, "markdown")
    assert render(parsed.ops, "markdown", base=parsed) == text


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=lambda p: p.stem)
def test_markdown_file_renders_the_same_without_its_source(path: Path) -> None:
    text = read(path)
    parsed = parse(text, "markdown")
    written = render(parsed.ops, "markdown")
    assert html_of(written) == html_of(text)
    assert parse(written, "markdown").ops == parsed.ops  # stable after one round trip


def test_no_corpus_file_changes_meaning() -> None:
    changed = []
    rich = total = 0
    for path in MARKDOWN_FILES:
        text = read(path)
        parsed = parse(text, "markdown")
        if html_of(render(parsed.ops, "markdown")) != html_of(text):
            changed.append(path.name)
        found = lines(parsed.ops)
        total += len(found)
        rich += sum(1 for line in found if not is_verbatim(line))
    print(
        f"\n{len(MARKDOWN_FILES)} files, {len(changed)} render differently; "
        f"{rich} of {total} lines are rich text"
    )
    assert changed == []
    assert rich > total / 2


@pytest.mark.parametrize("path", MARKDOWN_FILES[::8], ids=lambda p: p.stem)
def test_editing_one_block_rewrites_only_that_block(path: Path) -> None:
    text = read(path)
    parsed = parse(text, "markdown")
    found = lines(parsed.ops)
    target = next(
        (k for k, line in enumerate(found) if not line.attrs and line.plain_text.strip()), None
    )
    if target is None:
        pytest.skip("no paragraph to edit")
    found[target].segments.append(("EDITED", {}))
    ops = [op for line in found for op in line_ops(line)]
    saved = render(ops, "markdown", base=parsed)
    old, new = text.splitlines(), saved.splitlines()
    head = 0
    while old[head] == new[head]:
        head += 1
    tail = 0
    while old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
        tail += 1
    changed_old, changed_new = old[head : len(old) - tail], new[head : len(new) - tail]
    # only the paragraph changed: one block, no blank line inside, now one line
    assert all(line.strip() for line in changed_old)
    assert len(changed_new) == 1 and changed_new[0].endswith("EDITED")


# --------------------------------------------------------------------------------------------
# what rich text cannot show is kept verbatim

VERBATIM_CASES = {
    "table": "| a | b |\n|---|---|\n| 1 | 2 |",
    "raw html": '<div align="center">\n  <img src="logo.png">\n</div>',
    "footnote": "Text with a note.[^1]\n\n[^1]: The note.",
    "reference definition": "[home]: https://example.com  'Home'",
    "comment": "<!-- hidden -->",
    "display math": "$$\nE = mc^2\n$$",
    "inline math": "The area is $\\pi r^2$.",
    "rule": "***",
    "loose list": "- one\n\n- two",
    "verbatim fence": "```verbatim\nnot a verbatim block\n```",
    "link with title": '[x](https://e.com "title")',
}


@pytest.mark.parametrize("source", VERBATIM_CASES.values(), ids=VERBATIM_CASES.keys())
def test_what_rich_text_cannot_show_is_verbatim_and_comes_back(source: str) -> None:
    text = f"# Title\n\n{source}\n\nAfter.\n"
    parsed = parse(text, "markdown")
    assert "\n".join(verbatim_lines(parsed)) == source
    assert render(parsed.ops, "markdown", base=parsed) == text
    assert render(parsed.ops, "markdown") == text.replace("---\n#", "---\n\n#")
    assert lines(parsed.ops)[0].attrs == {"header": 1}
    assert lines(parsed.ops)[-1].plain_text == "After."


def test_front_matter_is_not_read_as_a_heading() -> None:
    text = "---\ntitle: Post\ntags: [a, b]\n---\n# H\n"
    parsed = parse(text, "markdown")
    assert verbatim_lines(parsed) == ["---", "title: Post", "tags: [a, b]", "---"]
    assert lines(parsed.ops)[-1].attrs == {"header": 1}
    assert render(parsed.ops, "markdown", base=parsed) == text
    assert render(parsed.ops, "markdown") == text.replace("---\n#", "---\n\n#")


def test_rich_blocks_are_read_as_quill_formats() -> None:
    parsed = parse("# T\n\nSome **bold** [link](https://e.com)\n\n- a\n- b\n", "markdown")
    assert parsed.ops == [
        {"insert": "T"},
        {"insert": "\n", "attributes": {"header": 1}},
        {"insert": "Some "},
        {"insert": "bold", "attributes": {"bold": True}},
        {"insert": " "},
        {"insert": "link", "attributes": {"link": "https://e.com"}},
        {"insert": "\na"},
        {"insert": "\n", "attributes": {"list": "bullet"}},
        {"insert": "b"},
        {"insert": "\n", "attributes": {"list": "bullet"}},
    ]


def test_neighbouring_lists_the_delta_would_join_stay_apart() -> None:
    text = "- a\n\n* b\n\n> q\n\n> r\n"
    parsed = parse(text, "markdown")
    assert html_of(render(parsed.ops, "markdown")) == html_of(text)
    assert render(parsed.ops, "markdown", base=parsed) == text


def test_unedited_blocks_keep_their_source_and_spacing() -> None:
    text = "Title\n=====\n\n\n*one*  \n\n__two__\n"
    parsed = parse(text, "markdown")
    ops = [dict(op) for op in parsed.ops]
    ops[-2] = {"insert": "two!", "attributes": {"bold": True}}
    assert render(ops, "markdown", base=parsed) == "Title\n=====\n\n\n*one*  \n\n**two!**\n"


def test_an_added_list_item_rewrites_its_list_only() -> None:
    text = "Intro _here_\n\n* a\n* b\n\nEnd _here_\n"
    parsed = parse(text, "markdown")
    found = lines(parsed.ops)
    found.insert(3, Line([("c", {})], {"list": "bullet"}))
    ops = [op for line in found for op in line_ops(line)]
    saved = render(ops, "markdown", base=parsed)
    assert saved == "Intro _here_\n\n- a\n- b\n- c\n\nEnd _here_\n"


def test_empty_and_whitespace_documents() -> None:
    for text in ("", "\n", "  \n\n"):
        parsed = parse(text, "markdown")
        assert parsed.ops == [{"insert": "\n"}]
        assert render(parsed.ops, "markdown", base=parsed) == text


def test_crlf_file_round_trips() -> None:
    text = "# T\r\n\r\npara\r\n\r\n| a |\r\n|---|\r\n"
    parsed = parse(text, "markdown")
    assert render(parsed.ops, "markdown", base=parsed) == text
    assert verbatim_lines(parsed) == ["| a |", "|---|"]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="'markdown' or 'html'"):
        parse("x", "rst")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# HTML


@pytest.mark.parametrize("path", HTML_FILES, ids=lambda p: p.stem)
def test_html_file_saves_back_byte_for_byte_and_is_stable(path: Path) -> None:
    text = read(path)
    parsed = parse(text, "html")
    assert render(parsed.ops, "html", base=parsed) == text
    assert parse(render(parsed.ops, "html"), "html").ops == parsed.ops


FULL_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Page</title></head>
<body>
<h1>Title</h1>
<p>Some <b>bold</b>, <em>italic</em> and <a href="https://e.com">a link</a>.</p>
<ul><li>a</li><li>b<ul><li>c</li></ul></li></ul>
<table><tr><td>1</td></tr></table>
<script>alert(1)</script>
<p class="note">classy</p>
</body>
</html>
"""


def test_a_full_html_document_round_trips_with_its_body_as_rich_text() -> None:
    parsed = parse(FULL_PAGE, "html")
    found = lines(parsed.ops)
    rich = [(line.plain_text, line.attrs) for line in found if not is_verbatim(line)]
    assert rich == [
        ("Title", {"header": 1}),
        ("Some bold, italic and a link.", {}),
        ("a", {"list": "bullet"}),
        ("b", {"list": "bullet"}),
        ("c", {"list": "bullet", "indent": 1}),
    ]
    assert verbatim_lines(parsed)[:3] == [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8"><title>Page</title></head>',
    ]
    assert render(parsed.ops, "html", base=parsed) == FULL_PAGE
    assert parse(render(parsed.ops, "html"), "html").ops == parsed.ops


def test_html_table_and_script_stay_source_never_markup() -> None:
    parsed = parse(FULL_PAGE, "html")
    kept = verbatim_lines(parsed)
    assert "<table><tr><td>1</td></tr></table>" in kept
    assert "<script>alert(1)</script>" in kept
    assert '<p class="note">classy</p>' in kept
    # shown to users, verbatim lines are escaped code, never live markup
    from jupyter_ysync.richtext.html import delta_to_html

    shown = delta_to_html(parsed.ops)
    assert "<script>" not in shown and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown


def test_html_edit_rewrites_only_its_element() -> None:
    parsed = parse(FULL_PAGE, "html")
    ops = [dict(op) for op in parsed.ops]
    index = next(k for k, op in enumerate(ops) if op["insert"] == "Title")
    ops[index] = {"insert": "New title"}
    saved = render(ops, "html", base=parsed)
    assert saved == FULL_PAGE.replace("<h1>Title</h1>", "<h1>New title</h1>")


def test_html_unsafe_link_is_not_made_rich() -> None:
    parsed = parse('<p><a href="javascript:alert(1)">x</a></p>', "html")
    assert verbatim_lines(parsed) == ['<p><a href="javascript:alert(1)">x</a></p>']


# --------------------------------------------------------------------------------------------
# parsing a new version of a file incrementally

SNIPPETS = [
    "\n", "\n\n", "- item\n", "* other\n", "1. one\n", "```\n", "~~~py\n", "# Heading\n", "===\n",
    "| a | b |\n|---|---|\n", "> quote\n", "[ref]: https://example.com\n", "    code\n",
    "<div>\n", "<!--", "-->", "word", "*", "\n\n- a\n\n", "$$\n", "[^1]",
]  # fmt: skip
EDITABLE = [path for path in MARKDOWN_FILES if path.stat().st_size > 4000][::6]


def same_reading(incremental: Parsed, whole: Parsed) -> None:
    assert incremental.ops == whole.ops
    assert incremental._blocks == whole._blocks
    assert incremental._read is not None and whole._read is not None
    assert incremental._read.visited == whole._read.visited


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(EDITABLE),
    st.lists(
        st.tuples(st.floats(0, 1), st.sampled_from(SNIPPETS), st.integers(0, 300)),
        min_size=1,
        max_size=3,
    ),
)
def test_an_incremental_parse_reads_exactly_as_a_whole_parse(
    path: Path, edits: list[tuple[float, str, int]]
) -> None:
    """Reused blocks, the window read again and where it rejoins the old reading: all as
    reading the new text from scratch, whatever the edit (fences and comments left open,
    lists joined, reference definitions, setext underlines, tables...)."""
    text = read(path)
    previous = parse(text, "markdown")
    for where, snippet, removed in edits:
        at = int(where * len(text))
        text = text[:at] + snippet + text[at + removed :]
        incremental = parse(text, "markdown", previous)
        same_reading(incremental, parse(text, "markdown"))
        previous = incremental


def test_a_one_line_edit_of_a_big_file_reads_a_few_blocks_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "\n\n".join(read(path) for path in MARKDOWN_FILES[:20])
    previous = parse(text, "markdown")
    at = text.index("\n\n", len(text) // 2) + 2
    edited = text[:at] + "A new paragraph, typed in another editor.\n\n" + text[at:]
    calls: list[str] = []
    real = _markdown_source._faithful_ops

    def counting(tokens: Any, env: Any, source: str) -> Any:
        calls.append(source)
        return real(tokens, env, source)

    monkeypatch.setattr(_markdown_source, "_faithful_ops", counting)
    incremental = parse(edited, "markdown", previous)
    assert "A new paragraph, typed in another editor." in calls
    assert len(calls) < 20 < len(previous._blocks)
    monkeypatch.undo()
    same_reading(incremental, parse(edited, "markdown"))


def test_a_changed_reference_definition_reads_the_whole_file_again() -> None:
    text = "See [the docs][d].\n\n" + "Filler paragraph.\n\n" * 40 + "[d]: https://old.example\n"
    previous = parse(text, "markdown")
    assert {"insert": "the docs", "attributes": {"link": "https://old.example"}} in previous.ops
    edited = text.replace("old.example", "new.example")
    incremental = parse(edited, "markdown", previous)
    assert {"insert": "the docs", "attributes": {"link": "https://new.example"}} in incremental.ops
    same_reading(incremental, parse(edited, "markdown"))


def test_an_incremental_parse_keeps_crlf_and_saves_back_byte_for_byte() -> None:
    text = "# Title\r\n\r\nFirst.\r\n\r\n- a\r\n- b\r\n\r\nLast.\r\n"
    edited = text.replace("First.", "First, edited.")
    incremental = parse(edited, "markdown", parse(text, "markdown"))
    same_reading(incremental, parse(edited, "markdown"))
    assert render(incremental.ops, "markdown", base=incremental) == edited


def test_a_previous_parse_of_another_format_is_ignored() -> None:
    html = parse("<p>Hello</p>", "html")
    assert parse("Hello\n", "markdown", html).ops == parse("Hello\n", "markdown").ops
