"""Rendering one channel of a template version's content: exactly the fields its provider receives."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError

from .content import (
    _CHANNEL_MODELS,
    MissingVariables,
    TemplateError,
    TemplateLimitError,
    TemplateRenderError,
    TemplateSecurityError,
    _channel_leaves,
    _is_html,
    _normalize_locale,
    is_literal,
    missing_variables,
)
from .limits import MAX_OUTPUT_BYTES, SourceLimitError
from .sandbox import _BUDGET, _Budget, _check, _compile
from .text import html_to_text

# -- Rendering


def pick_locale(content: Mapping[str, Any], locale: str | None) -> str | None:
    """The locale variant for a recipient's locale (``de-AT`` → ``de``), or None: default."""
    variants = content.get("locales") or {}
    tag = _normalize_locale(locale or "")
    while tag:
        if tag in variants:
            return tag
        tag = tag.rpartition("-")[0]
    return None


def render(
    content: Mapping[str, Any], channel: str, data: Mapping[str, Any], locale: str | None = None
) -> dict[str, Any]:
    """Render one channel of stored content: exactly the fields its provider receives.

    ``data`` is everything the template sees: the publish data merged with the names in
    :func:`provided_variables` for this recipient. Every field of the channel is present in
    the result (None or ``{}`` when the template leaves it out); an email without text gets it
    from its html.
    """
    base, fields = _channel_fields(content, channel, locale)
    needed: set[str] = set()
    for path, source, _ in _channel_leaves(base, channel, fields):
        if not is_literal(source):  # literal text needs nothing, and its output is bounded below
            with _render_errors(path):
                needed |= _check(source).variables
    missing = missing_variables(needed, data, provided=())
    if missing:
        raise MissingVariables(missing)
    token = _BUDGET.set(_Budget())
    try:
        rendered = {
            name: _render_value(value, f"{base}.{channel}.{name}", _is_html(channel, name), data)
            for name, value in fields.items()
        }
    finally:
        _BUDGET.reset(token)
    return _complete(channel, rendered)


def render_literal(content: Mapping[str, Any], channel: str, locale: str | None = None) -> dict[str, Any] | None:
    """:func:`render` of a channel whose every field is literal text, which sees no values
    (so none need gathering, nor a thread to render in); None when any field is a template.
    Other channels do not matter: a templated SMS leaves the literal email literal."""
    base, fields = _channel_fields(content, channel, locale)
    if not all(is_literal(source) for _, source, _ in _channel_leaves(base, channel, fields)):
        return None
    return _complete(
        channel, {name: _render_value(value, f"{base}.{channel}.{name}", False, {}) for name, value in fields.items()}
    )


def _channel_fields(content: Mapping[str, Any], channel: str, locale: str | None) -> tuple[str, Mapping[str, Any]]:
    tag = pick_locale(content, locale)
    if tag is not None and channel in content["locales"][tag]:
        return f"locales.{tag}", content["locales"][tag][channel]
    if channel in content["channels"]:
        return "channels", content["channels"][channel]
    raise TemplateRenderError(f"the template has no {channel} content", f"channels.{channel}")


def _render_value(value: Any, path: str, html: bool, data: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return _render_text(value, path, html, data)
    if isinstance(value, Mapping):
        return {k: _render_value(v, f"{path}.{k}", html, data) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_value(v, f"{path}.{i}", html, data) for i, v in enumerate(value)]
    return value


def _render_text(source: str, path: str, html: bool, data: Mapping[str, Any]) -> str:
    if is_literal(source):
        if len(source.encode("utf-8", "surrogatepass")) > MAX_OUTPUT_BYTES:
            raise TemplateLimitError(f"output larger than {MAX_OUTPUT_BYTES} bytes", path)
        return source
    chunks: list[str] = []
    size = 0
    with _render_errors(path):
        # Streamed so a runaway template stops at the limit instead of after building it all.
        for chunk in _compile(source, html).generate(data):
            size += len(chunk.encode("utf-8", "surrogatepass"))
            if size > MAX_OUTPUT_BYTES:
                raise TemplateLimitError(f"output larger than {MAX_OUTPUT_BYTES} bytes")
            chunks.append(chunk)
    return "".join(chunks)


@contextmanager
def _render_errors(path: str) -> Iterator[None]:
    """Turn whatever a template raises into a TemplateRenderError naming the field."""
    try:
        yield
    except TemplateError as exc:
        exc.field = exc.field or path
        raise
    except SecurityError as exc:
        raise TemplateSecurityError(str(exc), path) from exc
    except SourceLimitError as exc:
        raise TemplateLimitError(str(exc), path) from exc
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateRenderError(f"line {exc.lineno}: {exc.message}", path) from exc
    except jinja2.TemplateError as exc:
        raise TemplateRenderError(str(exc), path) from exc
    except RecursionError as exc:
        raise TemplateLimitError("calls nest too deeply", path) from exc
    except Exception as exc:  # a template bug must fail the delivery, never the worker
        raise TemplateRenderError(f"{type(exc).__name__}: {exc}", path) from exc


def _complete(channel: str, rendered: dict[str, Any]) -> dict[str, Any]:
    out = _CHANNEL_MODELS[channel].model_validate(rendered).model_dump()
    if channel == "email":
        # A line break in a header field would end it (and could start another header).
        out["subject"] = " ".join(out["subject"].split())
        if out["text"] is None:
            out["text"] = html_to_text(out["html"])
    return out
