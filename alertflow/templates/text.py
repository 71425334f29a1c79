"""Text utilities for rendered messages: an email's plain text from its html, an SMS's segments."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"head", "script", "style", "template"})
    _PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "pre", "hr"})
    _LINE = frozenset({"br", "div", "tr", "li", "section", "article", "header", "footer"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        # Newlines owed before the next text: block tags in a row make one break, not many.
        self._pending = 0
        self._links: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        self._break(tag)
        if tag == "a":
            self._links.append((dict(attrs).get("href") or "", len(self.parts)))
        elif tag == "li":
            self._text("- ")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(self._skipping - 1, 0)
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            label = " ".join("".join(self.parts[start:]).split())
            if href and not href.startswith("#") and href not in label:
                self._text(f" ({href})" if label else href)
        self._break(tag)

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            # Whitespace in html is not layout; only block tags break lines.
            self._text(re.sub(r"\s+", " ", data))

    def _text(self, text: str) -> None:
        if text.strip() and self._pending:
            self.parts.append("\n" * self._pending)
            self._pending = 0
        self.parts.append(text)

    def _break(self, tag: str) -> None:
        level = 2 if tag in self._PARAGRAPH else 1 if tag in self._LINE else 0
        self._pending = max(self._pending, level)


def html_to_text(html: str) -> str:
    """Plain text for an html email: tags gone, links kept as ``label (url)``, entities decoded."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return "\n".join(" ".join(line.split()) for line in "".join(parser.parts).split("\n")).strip()


# -- SMS

# GSM 03.38: the basic table costs one septet per character, the extension table two
# (an escape plus the character). Anything else forces the whole message into UCS-2.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")
# Per-message capacity in septets (GSM-7) or UTF-16 units (UCS-2): a single message, and one
# part of a concatenated message, which gives up room for the 6-byte concatenation header.
_SEGMENT_SIZE = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


def sms_info(body: str) -> dict[str, Any]:
    """How an SMS body travels: ``{"encoding": "GSM-7"|"UCS-2", "segments", "characters"}``."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in body):
        encoding, units = "GSM-7", [2 if c in _GSM_EXTENSION else 1 for c in body]
    else:
        encoding, units = "UCS-2", [2 if ord(c) > 0xFFFF else 1 for c in body]
    single, part = _SEGMENT_SIZE[encoding]
    return {
        "encoding": encoding,
        "segments": _segments(units, single, part),
        "characters": len(body),
    }


def _segments(units: list[int], single: int, part: int) -> int:
    if sum(units) <= single:
        return 1 if units else 0
    # A character never straddles two parts (an escape pair or a surrogate pair stays whole),
    # so parts are filled greedily rather than counted as ceil(total / part).
    segments, used = 1, 0
    for size in units:
        if used + size > part:
            segments, used = segments + 1, 0
        used += size
    return segments
