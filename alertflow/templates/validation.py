"""Validating a template version: its shape, its locales, and every source bounded and compiled."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import (
    ValidationError,
)

from .content import (
    _LOCALE_TAG,
    FieldError,
    TemplateContent,
    TemplateValidationError,
    ValidatedContent,
    _normalize_locale,
    _template_leaves,
    is_literal,
)
from .limits import MAX_CONTENT_NODES, SourceLimitError
from .sandbox import _NOT_COMPILABLE, _check, _compile, _why_not_compilable


def validate_content(raw: Any) -> ValidatedContent:
    """Check a version body; raise :class:`TemplateValidationError` listing every problem."""
    return validate_model(_shaped(raw))


def validate_model(model: TemplateContent) -> ValidatedContent:
    """The checks after the shape: locales and template syntax (for an already parsed body)."""
    return _check_sources(*_normalized(model))


async def validate_content_async(raw: Any) -> ValidatedContent:
    """:func:`validate_content` without holding the event loop (see validate_model_async)."""
    return await validate_model_async(_shaped(raw))


# Sources are compiled in one thread of their own. Python's compile() holds the GIL from start
# to end (~30 ms at the node limit on a busy 2-core machine), so compiles in several threads
# at once held the event loop for all of them in turn: 4 clients publishing unique templates
# at the limit gave 0.20 s of loop lag, one thread at a time gives a compile's worth.
_COMPILER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alertflow-compile")


async def validate_model_async(model: TemplateContent) -> ValidatedContent:
    """:func:`validate_model` without holding the event loop (see _check_sources_async)."""
    return await _check_sources_async(*_normalized(model))


async def validate_inline_async(channels: dict[str, Any]) -> ValidatedContent:
    """A publish's inline content (``ChannelSet.dump``): channels without locales, already
    shaped by the request's model, so nothing is built around them."""
    return await _check_sources_async({"channels": channels, "locales": {}}, [])


async def _check_sources_async(content: dict[str, Any], errors: list[FieldError]) -> ValidatedContent:
    """Parsing and compiling a tenant's source may take many milliseconds, so it runs in the
    compile thread. Literal text needs neither, and the common inline message ("your code is
    123456") is checked in place."""
    leaves = list(_template_leaves(content))
    if all(is_literal(source) for _, source, _ in leaves):
        return _check_sources(content, errors, leaves)
    return await asyncio.get_running_loop().run_in_executor(_COMPILER, _check_sources, content, errors, leaves)


def _shaped(raw: Any) -> TemplateContent:
    try:
        return TemplateContent.model_validate(raw)
    except ValidationError as exc:
        raise TemplateValidationError(
            [FieldError(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
        ) from None


def _normalized(model: TemplateContent) -> tuple[dict[str, Any], list[FieldError]]:
    content: dict[str, Any] = {"channels": model.channels.dump(), "locales": {}}
    errors: list[FieldError] = []
    for tag, variant in model.locales.items():
        errors.extend(_add_locale(content, tag, variant.dump()))
    return content, errors


def _check_sources(
    content: dict[str, Any], errors: list[FieldError], leaves: list[tuple[str, str, bool]] | None = None
) -> ValidatedContent:
    """Bound, analyse and compile every source (``leaves``: content's, when already listed);
    compiled templates stay cached for rendering."""
    variables: set[str] = set()
    total = 0
    for path, source, html in _template_leaves(content) if leaves is None else leaves:
        try:
            checked = _check(source)
            total += checked.nodes
            if total > MAX_CONTENT_NODES:
                raise SourceLimitError(f"more than {MAX_CONTENT_NODES} template nodes in all fields and locales")
            if not is_literal(source):
                _compile(source, html)
            variables |= checked.variables
        except _NOT_COMPILABLE as exc:
            errors.append(FieldError(path, _why_not_compilable(exc)))
            if total > MAX_CONTENT_NODES:
                break
    if errors:
        raise TemplateValidationError(errors)
    return ValidatedContent(content, tuple(sorted(variables)))


def _add_locale(content: dict[str, Any], tag: str, channels: dict[str, Any]) -> list[FieldError]:
    key = _normalize_locale(tag)
    if not _LOCALE_TAG.fullmatch(key):
        return [FieldError(f"locales.{tag}", "not a language tag such as 'de' or 'de-AT'")]
    if key in content["locales"]:
        return [FieldError(f"locales.{tag}", f"same language tag as another locale ({key})")]
    # The default variant defines which channels a template has; a locale only rewords them.
    extra = [c for c in channels if c not in content["channels"]]
    content["locales"][key] = channels
    return [FieldError(f"locales.{tag}.{c}", "channel missing from the default content") for c in extra]
