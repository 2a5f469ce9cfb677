"""What a dataset card's Markdown says besides its metadata: the Hub's `description` and `citation`."""

from __future__ import annotations

import re

MAX_DESCRIPTION = 500  # characters of the first paragraph, whitespace collapsed
_FENCE = re.compile(r"^```[ \t]*([A-Za-z]*)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
_CITATION_HEADING = re.compile(r"^#+[ \t]*.*citation.*$", re.IGNORECASE | re.MULTILINE)


def description(body: str) -> str:
    """The first paragraph of prose: no heading, no code block, no HTML, no table or image line."""
    for paragraph in re.split(r"\n[ \t]*\n", _FENCE.sub("", body)):
        lines = [line.strip() for line in paragraph.strip().splitlines()]
        if not lines or lines[0].startswith(("#", "<", "|", "![", "---", "- [")):
            continue
        text = " ".join(lines)
        return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1].rstrip() + "…"
    return ""


def citation(body: str) -> str:
    """A BibTeX block: the first ```bibtex fence, else the first fence under a heading that names a citation."""
    for match in _FENCE.finditer(body):
        if match.group(1).lower() in ("bibtex", "bib"):
            return match.group(2).strip()
    heading = _CITATION_HEADING.search(body)
    if heading is not None:
        fence = _FENCE.search(body, heading.end())
        if fence is not None:
            return fence.group(2).strip()
    return ""
