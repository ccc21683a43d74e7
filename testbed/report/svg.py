"""Tiny helpers to write SVG elements as text, every attribute and text escaped."""

from __future__ import annotations

from html import escape


def attrs(**kw: object) -> str:
    """``class_="x"`` -> ``class="x"``; ``stroke_width`` -> ``stroke-width``; None is left out."""
    parts = []
    for key, value in kw.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        if isinstance(value, float):
            value = f"{value:.1f}"
        parts.append(f'{name}="{escape(str(value), quote=True)}"')
    return " ".join(parts)


def el(tag: str, body: str = "", title: str | None = None, **kw: object) -> str:
    inner = (f"<title>{escape(title)}</title>" if title else "") + body
    return f"<{tag} {attrs(**kw)}>{inner}</{tag}>" if inner else f"<{tag} {attrs(**kw)}/>"


def text(x: float, y: float, content: str, **kw: object) -> str:
    return f"<text {attrs(x=x, y=y, **kw)}>{escape(content)}</text>"


def fits(content: str, width: float, char_px: float = 6.2) -> bool:
    """Whether ``content`` (11px sans-serif) fits in ``width`` pixels."""
    return len(content) * char_px + 6 <= width
