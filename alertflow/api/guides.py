"""The guides of docs/, Markdown rendered to pages under /docs/ (/docs itself is the API reference)."""

from __future__ import annotations

import functools
import html
import itertools
import posixpath
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from aiohttp import web
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

from ..errors import ApiError
from .routing import PUBLIC, Routes

api = Routes()
# docs/ sits at the top of the source tree, readable on GitHub; the package reaches it through a
# link (alertflow/guides), and wheels and the frozen build carry it as package data.
GUIDES_DIR = Path(str(resources.files("alertflow").joinpath("guides")))
# A relative link to a Markdown file: another guide's page on the server, or a file beyond them.
GUIDE_LINK = re.compile(r"^(?![a-z]+:|/)(?P<path>[^#?]*)\.md(?P<rest>[#?].*)?$")


@dataclass(frozen=True)
class Guide:
    name: str  # its URL under /docs/: "setup", "providers/smtp"
    title: str
    page: str


@api.get("/docs/", role=PUBLIC, content="text/html")
async def guides_index(request: web.Request) -> web.Response:
    """List the guides (setup, onboarding, operations, security, providers, ...)."""
    items = "".join(
        f'<li><a href="{g.name}">{html.escape(g.title)}</a></li>' for g in sorted(guides().values(), key=_order)
    )
    body = f'<h1>AlertFlow guides</h1><p>The API reference is <a href="/docs">/docs</a>.</p><ul>{items}</ul>'
    return _page("AlertFlow guides", body)


@api.get("/docs/{name}", role=PUBLIC, content="text/html")
async def guide(request: web.Request) -> web.Response:
    """Show one guide (docs/<name>.md), rendered from its Markdown."""
    return _served(request.match_info["name"])


@api.get("/docs/providers/{name}", role=PUBLIC, content="text/html")
async def provider_guide(request: web.Request) -> web.Response:
    """Show one provider's guide (docs/providers/<name>.md), rendered from its Markdown."""
    return _served(f"providers/{request.match_info['name']}")


def _served(name: str) -> web.Response:
    found = guides().get(name)
    if found is None:  # a name outside the listing never reaches the file system
        raise ApiError("not-found", f"no guide named {name!r}; /docs/ lists them")
    nav = '<nav><a href="/docs/">All guides</a> · <a href="/docs">API reference</a></nav>'
    return _page(found.title, nav + found.page)


def _order(g: Guide) -> tuple[bool, str]:
    return g.name.startswith("providers/"), g.name


def _page(title: str, body: str) -> web.Response:
    text = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="stylesheet" href="/static/page.css"></head><body class="guide">{body}</body></html>'
    )
    return web.Response(text=text, content_type="text/html", charset="utf-8")


@functools.cache
def guides() -> dict[str, Guide]:
    """Every guide, rendered once: the files ship with the release and do not change under it."""
    found: dict[str, Guide] = {}
    paths = {p.relative_to(GUIDES_DIR).with_suffix("").as_posix(): p for p in sorted(GUIDES_DIR.rglob("*.md"))}
    for name, path in paths.items():
        text = path.read_text(encoding="utf-8")
        title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), name)
        found[name] = Guide(name, title, render(text, name, frozenset(paths)))
    return found


def render(markdown: str, name: str, names: frozenset[str]) -> str:
    """HTML of guide ``name``: raw HTML in the source shows as text, headings get GitHub's ids,
    links to other guides lose ``.md``, and links to files beyond the guides become plain text
    (the server has no page for them; on GitHub they work)."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.core.ruler.push("guide_links", _guide_links)
    md.core.ruler.push("heading_ids", _heading_ids)
    return md.render(markdown, {"name": name, "names": names})


def _guide_links(state: StateCore) -> None:
    here = posixpath.dirname(state.env["name"])
    for token in state.tokens:
        unlinked = False
        for child in token.children or ():
            if child.type == "link_close" and unlinked:
                child.type, unlinked = "text", False  # with no content it renders as nothing
            href = str(child.attrGet("href") or "") if child.type == "link_open" else ""
            match = GUIDE_LINK.match(href)
            if not match:
                continue
            target = posixpath.normpath(posixpath.join(here, match["path"]))
            if target in state.env["names"]:
                child.attrSet("href", posixpath.relpath(target, here or ".") + (match["rest"] or ""))
            else:
                child.type, unlinked = "text", True


def _heading_ids(state: StateCore) -> None:
    """``id`` attributes as GitHub gives headings, so ``page.md#a-heading`` links work here too."""
    for heading, inline in itertools.pairwise(state.tokens):
        if heading.type == "heading_open":
            heading.attrSet("id", re.sub(r"[^\w\- ]", "", inline.content.lower()).replace(" ", "-"))
