"""Quill deltas to and from HTML and Markdown: structure, escaping and URL sanitising."""

from __future__ import annotations

from typing import Any, TypeAlias

import pytest
from markdown_it import MarkdownIt

from jupyter_ysync.richtext.delta import push
from jupyter_ysync.richtext.html import delta_to_html, safe_url
from jupyter_ysync.richtext.markdown import delta_to_markdown, markdown_to_delta

Ops: TypeAlias = list[dict[str, Any]]

RENDER = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")


def line(text: str, **block: Any) -> Ops:
    ops: Ops = [{"insert": text}] if text else []
    return [*ops, {"insert": "\n", **({"attributes": block} if block else {})}]


# --------------------------------------------------------------------------------------------
# URLs


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a?b=1&c=2",
        "http://example.com",
        "mailto:someone@example.com",
        "/relative/path",
        "relative/pa:th",
        "#anchor",
        "?query",
    ],
)
def test_safe_link_urls_are_kept(url: str) -> None:
    assert safe_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "  javascript:alert(1)",
        "java\tscript:alert(1)",
        "\x01javascript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "",
        None,
        42,
    ],
)
def test_unsafe_link_urls_are_refused(url: Any) -> None:
    assert safe_url(url) is None


def test_image_urls_allow_raster_data_but_not_svg_or_mailto() -> None:
    assert safe_url("data:image/png;base64,iVBO", image=True) == "data:image/png;base64,iVBO"
    assert safe_url("data:image/png;base64,iVBO") is None  # not as a link
    assert safe_url("data:image/svg+xml,<svg onload=alert(1)>", image=True) is None
    assert safe_url("mailto:a@b.c", image=True) is None
    assert safe_url("https://example.com/a.png", image=True) == "https://example.com/a.png"


# --------------------------------------------------------------------------------------------
# HTML


def test_html_blocks() -> None:
    ops: Ops = [
        *line("Title", header=1),
        *line("para"),
        *line(""),
        *line("quote", blockquote=True),
        *line("centered", align="center"),
        *line("seven", header=7),
    ]
    assert delta_to_html(ops) == (
        "<h1>Title</h1><p>para</p><p><br></p><blockquote>quote</blockquote>"
        '<p style="text-align: center">centered</p><p>seven</p>'
    )


def test_html_lists_nest_by_indent_and_switch_type() -> None:
    ops: Ops = [
        *line("a", list="bullet"),
        *line("b", list="bullet", indent=1),
        *line("c", list="ordered", indent=1),
        *line("d", list="checked"),
        *line("e", list="ordered"),
    ]
    assert delta_to_html(ops) == (
        "<ul><li>a<ul><li>b</li></ul><ol><li>c</li></ol></li>"
        '<li data-list="checked">d</li></ul><ol><li>e</li></ol>'
    )


def test_html_code_block_lines_form_one_escaped_pre() -> None:
    ops: Ops = [
        *line("if a < b:", **{"code-block": "python"}),
        *line("    <b>", **{"code-block": "python"}),
        *line("after"),
    ]
    assert delta_to_html(ops) == (
        '<pre data-language="python">if a &lt; b:\n    &lt;b&gt;</pre><p>after</p>'
    )


def test_html_inline_formats() -> None:
    ops: Ops = [
        {"insert": "b", "attributes": {"bold": True}},
        {"insert": "i", "attributes": {"italic": True}},
        {"insert": "u", "attributes": {"underline": True}},
        {"insert": "s", "attributes": {"strike": True}},
        {"insert": "c", "attributes": {"code": True}},
        {"insert": "red", "attributes": {"color": "#ff0000"}},
        {"insert": "link", "attributes": {"link": "https://example.com/?a=1&b=2"}},
        {"insert": {"image": "https://example.com/i.png"}, "attributes": {"alt": 'say "hi"'}},
        {"insert": "\n"},
    ]
    assert delta_to_html(ops) == (
        "<p><strong>b</strong><em>i</em><u>u</u><s>s</s><code>c</code>"
        '<span style="color: #ff0000">red</span>'
        '<a href="https://example.com/?a=1&amp;b=2" rel="noopener noreferrer">link</a>'
        '<img src="https://example.com/i.png" alt="say &quot;hi&quot;"></p>'
    )


def test_html_escapes_text_so_content_never_becomes_markup() -> None:
    ops = line('<script>alert("x")</script> & <img src=x onerror=alert(1)>')
    html = delta_to_html(ops)
    assert "<script" not in html and "<img" not in html
    assert html == (
        '<p>&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;</p>'
    )


def test_html_drops_unsafe_urls_and_keeps_the_text() -> None:
    ops: Ops = [
        {"insert": "click", "attributes": {"link": "javascript:alert(1)"}},
        {"insert": {"image": "javascript:alert(1)"}},
        {"insert": {"image": "data:image/svg+xml,<svg onload=alert(1)>"}},
        {"insert": "\n"},
    ]
    assert delta_to_html(ops) == "<p>click</p>"


def test_html_attribute_values_cannot_break_out() -> None:
    ops: Ops = [
        {"insert": "x", "attributes": {"link": 'https://e.com/"onmouseover="alert(1)'}},
        {"insert": "y", "attributes": {"color": "red; background: url(javascript:alert(1))"}},
        {"insert": "\n", "attributes": {"align": 'center" onclick="alert(1)'}},
    ]
    assert delta_to_html(ops) == (
        '<p><a href="https://e.com/&quot;onmouseover=&quot;alert(1)" '
        'rel="noopener noreferrer">x</a>y</p>'
    )


def test_html_skips_unknown_embeds() -> None:
    ops: Ops = [{"insert": "a"}, {"insert": {"widget": "<b>"}}, {"insert": "b\n"}]
    assert delta_to_html(ops) == "<p>ab</p>"


# --------------------------------------------------------------------------------------------
# Markdown export


def test_markdown_blocks() -> None:
    ops: Ops = [
        *line("Title", header=2),
        *line("para"),
        *line(""),
        *line("one", list="bullet"),
        *line("sub", list="ordered", indent=1),
        *line("sub2", list="ordered", indent=1),
        *line("todo", list="unchecked"),
        *line("first", list="ordered"),
        *line("q1", blockquote=True),
        *line("q2", blockquote=True),
        *line("x = 1", **{"code-block": "plain"}),
    ]
    assert delta_to_markdown(ops) == (
        "## Title\n\npara\n\n- one\n  1. sub\n  2. sub2\n- [ ] todo\n\n1. first\n\n"
        "> q1\n>\n> q2\n\n```\nx = 1\n```\n"
    )


def test_markdown_inline_formats_and_underline_dropped() -> None:
    ops: Ops = [
        {"insert": "b", "attributes": {"bold": True}},
        {"insert": " "},
        {"insert": "i", "attributes": {"italic": True}},
        {"insert": " "},
        {"insert": "s", "attributes": {"strike": True}},
        {"insert": " "},
        {"insert": "c", "attributes": {"code": True}},
        {"insert": " "},
        {"insert": "u", "attributes": {"underline": True, "color": "red"}},
        {"insert": " "},
        {"insert": "l", "attributes": {"link": "https://example.com/a b"}},
        {"insert": {"image": "https://example.com/i.png"}, "attributes": {"alt": "pic"}},
        {"insert": "\n"},
    ]
    assert delta_to_markdown(ops) == (
        "**b** *i* ~~s~~ `c` u [l](https://example.com/a%20b)![pic](https://example.com/i.png)\n"
    )


def test_markdown_escapes_text_that_would_be_markup() -> None:
    ops: Ops = [
        *line("# not a header"),
        *line("- not a list"),
        *line("1. not a list"),
        *line("---"),
        *line("    not code"),
        *line("a *b* _c_ [d](e) <f> `g` ~~h~~ \\ &amp;"),
    ]
    markdown = delta_to_markdown(ops)
    assert RENDER.render(markdown) == (
        "<p># not a header</p>\n<p>- not a list</p>\n<p>1. not a list</p>\n<p>---</p>\n"
        "<p>    not code</p>\n<p>a *b* _c_ [d](e) &lt;f&gt; `g` ~~h~~ \\ &amp;amp;</p>\n"
    )


def test_markdown_drops_unsafe_links_and_images() -> None:
    ops: Ops = [
        {"insert": "click", "attributes": {"link": "javascript:alert(1)"}},
        {"insert": {"image": "javascript:alert(1)"}},
        {"insert": "\n"},
    ]
    assert delta_to_markdown(ops) == "click\n"


@pytest.mark.parametrize(
    ("segments", "html"),
    [
        # emphasis that ends on whitespace is closed before it
        ([("bold ", {"bold": True}), ("x", {})], "<strong>bold</strong> x"),
        # a mark that continues stays open around an inner one
        (
            [("it ", {"italic": True}), ("bi", {"italic": True, "bold": True}), (" z", {})],
            "<em>it <strong>bi</strong></em> z",
        ),
        ([("x", {"bold": True, "italic": True}), (" y", {"bold": True})], None),
        ([("a", {}), ("b", {"italic": True}), ("c", {})], "a<em>b</em>c"),
        ([("co`de", {"code": True, "bold": True})], "<strong><code>co`de</code></strong>"),
        (
            [("a ", {"bold": True}), ("link", {"bold": True, "link": "https://e.com"})],
            '<strong>a <a href="https://e.com">link</a></strong>',
        ),
    ],
)
def test_markdown_emphasis_parses_back_as_written(
    segments: list[tuple[str, dict[str, Any]]], html: str | None
) -> None:
    ops = [{"insert": text, **({"attributes": attrs} if attrs else {})} for text, attrs in segments]
    markdown = delta_to_markdown([*ops, {"insert": "\n"}])
    if html is not None:
        assert RENDER.render(markdown) == f"<p>{html}</p>\n"
    # and the text and its formats come back (whitespace at edges may lose emphasis)
    back = markdown_to_delta(markdown)
    assert "".join(op["insert"] for op in back) == "".join(t for t, _ in segments) + "\n"


def test_markdown_code_fence_is_longer_than_backtick_runs_inside() -> None:
    ops = line("```", **{"code-block": "plain"})
    assert delta_to_markdown(ops) == "````\n```\n````\n"
    assert markdown_to_delta(delta_to_markdown(ops)) == ops


# --------------------------------------------------------------------------------------------
# Markdown import


def test_markdown_import_blocks() -> None:
    ops = markdown_to_delta(
        "# H\n\n- a\n  - b\n1. c\n- [x] d\n\n> q\n\n```js\nx\n\ny\n```\n\n    indented\n"
    )
    assert ops == [
        {"insert": "H"},
        {"insert": "\n", "attributes": {"header": 1}},
        {"insert": "a"},
        {"insert": "\n", "attributes": {"list": "bullet"}},
        {"insert": "b"},
        {"insert": "\n", "attributes": {"list": "bullet", "indent": 1}},
        {"insert": "c"},
        {"insert": "\n", "attributes": {"list": "ordered"}},
        {"insert": "d"},
        {"insert": "\n", "attributes": {"list": "checked"}},
        {"insert": "q"},
        {"insert": "\n", "attributes": {"blockquote": True}},
        {"insert": "x"},
        {"insert": "\n\n", "attributes": {"code-block": "js"}},
        {"insert": "y"},
        {"insert": "\n", "attributes": {"code-block": "js"}},
        {"insert": "indented"},
        {"insert": "\n", "attributes": {"code-block": "plain"}},
    ]


def test_markdown_import_inline() -> None:
    ops = markdown_to_delta(
        "**b** *i* ~~s~~ `c` [**l**](https://e.com) ![alt](https://e.com/i.png)\nsoft  \nhard"
    )
    assert ops == [
        {"insert": "b", "attributes": {"bold": True}},
        {"insert": " "},
        {"insert": "i", "attributes": {"italic": True}},
        {"insert": " "},
        {"insert": "s", "attributes": {"strike": True}},
        {"insert": " "},
        {"insert": "c", "attributes": {"code": True}},
        {"insert": " "},
        {"insert": "l", "attributes": {"bold": True, "link": "https://e.com"}},
        {"insert": " "},
        {"insert": {"image": "https://e.com/i.png"}, "attributes": {"alt": "alt"}},
        {"insert": " soft\nhard\n"},
    ]


def test_markdown_import_keeps_raw_html_and_unsafe_links_as_text() -> None:
    ops = markdown_to_delta("<b>x</b> [y](javascript:alert(1))\n\n<script>alert(1)</script>\n")
    assert ops == [
        {"insert": "<b>x</b> [y](javascript:alert(1))\n<script>alert(1)</script>\n"},
    ]
    assert "<script>" not in delta_to_html(ops)


def test_markdown_import_refuses_non_strings() -> None:
    with pytest.raises(TypeError, match="str"):
        markdown_to_delta(b"# bytes")  # type: ignore[arg-type]


CANONICAL = [
    "# Title\n\nText with **bold**, *italic*, ~~strike~~ and `code`.\n",
    "- a\n- b\n  - c\n    1. d\n",
    "1. one\n2. two\n\n- [ ] open\n- [x] closed\n",
    "> first\n>\n> second\n\nafter\n",
    "```python\ndef f():\n    return `x`\n```\n",
    "[**bold link**](https://example.com/a%20b) and ![chart](https://example.com/c.png)\n",
    "Escaped \\*stars\\*, \\_under\\_, \\<tag\\> and # hash\n",
    "\\# not a header, - not a list\n",
    "1\\. not a list\n",
    "*it **bold-it***, **b *bi***\n",
]


@pytest.mark.parametrize("markdown", CANONICAL)
def test_canonical_markdown_round_trips_exactly(markdown: str) -> None:
    assert delta_to_markdown(markdown_to_delta(markdown)) == markdown


@pytest.mark.parametrize(
    "markdown",
    [
        "Title\n=====\n\nA paragraph\nwrapped over lines.\n",
        "* star list\n+ plus list\n\n3) from three\n4) four\n",
        "__strong__ _em_ ***both*** `` a`b ``\n",
        "<https://example.com> and [ref][1]\n\n[1]: https://example.com/ref\n",
        "> quote with **bold**\ncontinued lazily\n",
        "~~~\nfenced with tildes\n~~~\n",
        "Hard  \nbreak and a\\\nbackslash break\n",
    ],
)
def test_markdown_round_trip_is_equivalent(markdown: str) -> None:
    once = delta_to_markdown(markdown_to_delta(markdown))
    assert markdown_to_delta(once) == markdown_to_delta(markdown)
    assert delta_to_markdown(markdown_to_delta(once)) == once


# --------------------------------------------------------------------------------------------
# push


def test_push_merges_like_quill() -> None:
    ops: list[dict[str, Any]] = []
    push(ops, "a", None)
    push(ops, "b", {})
    push(ops, "", {"bold": True})
    push(ops, "c", {"bold": True})
    push(ops, "d", {"bold": True})
    push(ops, {"image": "x"}, {"bold": True})
    push(ops, {"image": "x"}, {"bold": True})
    assert ops == [
        {"insert": "ab"},
        {"insert": "cd", "attributes": {"bold": True}},
        {"insert": {"image": "x"}, "attributes": {"bold": True}},
        {"insert": {"image": "x"}, "attributes": {"bold": True}},
    ]
