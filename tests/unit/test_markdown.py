"""The Markdown renderer keeps formatting and drops everything that could run code."""

from __future__ import annotations

import pytest

from modelyard.services.markdown import render


def test_formatting_survives() -> None:
    html = render("# Title\n\n**bold**, *italic*, ~~gone~~ and [a link](https://example.org/x)\n\n`code`")
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html and "<em>italic</em>" in html and "<s>gone</s>" in html
    assert '<a href="https://example.org/x"' in html and "<code>code</code>" in html


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        "text <script src='https://evil.example/x.js'></script> more",
        '<img src="x.png" onerror="alert(1)">',
        '<a href="#" onclick="alert(1)" onmouseover="alert(2)">x</a>',
        "[click](javascript:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<a href="  javascript:alert(1)">x</a>',
        '<img src="javascript:alert(1)">',
        '<iframe src="https://evil.example"></iframe>',
        "<svg><script>alert(1)</script></svg>",
        '<a href="data:text/html,<script>alert(1)</script>">x</a>',
        '<div style="background:url(javascript:alert(1))">x</div>',
    ],
)
def test_nothing_executable_survives(markdown: str) -> None:
    html = render(markdown).lower()
    assert "<script" not in html
    assert "onerror" not in html and "onclick" not in html and "onmouseover" not in html
    assert 'href="javascript' not in html and 'src="javascript' not in html and 'href="data:' not in html
    assert "<iframe" not in html and "style=" not in html


def test_raw_html_that_is_harmless_is_kept() -> None:
    assert render("<details><summary>More</summary>inside</details>").count("<details>") == 1
