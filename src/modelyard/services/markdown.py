"""The one Markdown renderer: discussion comments now, model cards on web pages later.

markdown-it-py renders CommonMark (raw HTML allowed, as on the Hub), then nh3 (ammonia) keeps only harmless
tags and attributes: no scripts, no event handlers, no `javascript:` or other non-web URL schemes.
"""

from __future__ import annotations

from functools import cache

import nh3
from markdown_it import MarkdownIt

# Schemes a link or image may use; everything else (javascript:, data:, vbscript:) is dropped.
URL_SCHEMES = {"http", "https", "mailto"}


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table").enable("strikethrough")


def render(markdown: str) -> str:
    """Sanitized HTML for `markdown`."""
    return nh3.clean(_parser().render(markdown), url_schemes=URL_SCHEMES, link_rel="noopener noreferrer nofollow")
