"""Spaces: the SDKs the Hub knows, and the README.md a new Space starts with (its card names the SDK)."""

from __future__ import annotations

from modelyard.domain.errors import BadRequest

SPACE_SDKS = ("gradio", "streamlit", "docker", "static")
# SDKs that run a Python file; the Hub's new-Space card names it.
_APP_FILES = {"gradio": "app.py", "streamlit": "app.py"}


def validate_sdk(sdk: object) -> str:
    if not isinstance(sdk, str) or sdk not in SPACE_SDKS:
        raise BadRequest(f"Invalid sdk {sdk!r}: a Space needs 'sdk', one of {', '.join(SPACE_SDKS)}")
    return sdk


def initial_readme(name: str, sdk: str) -> bytes:
    """The card of a new Space, shaped like the Hub's (YAML front matter, then a pointer to the reference)."""
    lines = ["---", f"title: {name}", "emoji: 🚀", "colorFrom: blue", "colorTo: indigo", f"sdk: {sdk}"]
    if sdk in _APP_FILES:
        lines.append(f"app_file: {_APP_FILES[sdk]}")
    lines += ["pinned: false", "---", ""]
    lines.append("Check out the configuration reference at https://huggingface.co/docs/hub/spaces-config-reference")
    return ("\n".join(lines) + "\n").encode()
