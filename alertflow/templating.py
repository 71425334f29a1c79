"""Template engine: validate a template version, list its variables, render one channel.

Tenants write templates, so a template is untrusted code running inside our process. It is
compiled by a Jinja2 sandbox that can call only an allow-list, cannot reach private attributes,
and runs under limits on text size, loop iterations and number size (see the constants below).

A template version's content, as stored (``ValidatedContent.content``)::

    {"channels": {                      # the default variant: at least one channel
        "email":   {"subject": T, "text": T?, "html": T?},   # text or html (or both)
        "sms":     {"body": T},
        "push":    {"title": T?, "body": T?, "data": {str: T}?},      # title or body
        "inapp":   {"title": T?, "body": T?, "action_url": T?, "data": {str: T}?},
        "webhook": {"body": <any JSON value; every string in it is a T>}},
     "locales": {                       # optional variants, keyed by lower-case BCP 47 tag
        "de":    {<channel>: {...}},    # same channel shapes, only channels of the default
        "de-at": {...}}}

where ``T`` is Jinja2 source: ``Hello {{ name }}``, ``{{ user.data.plan }}``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.filters import (
    do_default,
    do_lower,
    do_round,
    do_title,
    do_truncate,
    do_upper,
    sync_do_join,
)
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, Macro, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context, pass_eval_context
from jinja2.visitor import NodeTransformer
from markupsafe import escape
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .finite import non_finite
from .template_limits import (
    MAX_CONTENT_NODES,
    MAX_INT_BITS,
    MAX_OUTPUT_BYTES,
    SourceLimitError,
    check_source,
    check_tree,
)

# The names the core puts into every render context itself, so a publish need not send them.
PROVIDED_VARIABLES = frozenset({"recipient", "unsubscribe_url"})
# Provided too, but only for a recipient addressed by user_id: the user's stored record.
USER_VARIABLE = "user"

# No intermediate text may be longer than a field may be: it could never be output whole.
MAX_TEXT_CHARS = MAX_OUTPUT_BYTES
# All text one render builds, counted wherever it is built (macro and {% filter %} bodies
# included, so text a macro returns counts again when output): bounds memory per render.
MAX_RENDER_TEXT_CHARS = 4 * 1024 * 1024
# Loop iterations plus calls per render, ~0.2 s of work at most: a 1 000-row order table uses a
# few thousand, while nested loops or recursive macros would otherwise spin a worker forever.
MAX_RENDER_STEPS = 50_000
# Length of range() and of repeated lists; more items than any message can show.
MAX_ITEMS = 10_000
# Decimals the number filter prints; beyond this a float has no digits left to show.
MAX_DECIMALS = 20


# -- Errors


@dataclass(frozen=True)
class FieldError:
    """One problem, at a dotted path into the template body (``channels.email.subject``)."""

    field: str
    message: str


class TemplateError(Exception):
    """Base of every template problem; ``str()`` is fit for an API error or a delivery reason."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def errors(self) -> list[FieldError]:
        """The problem as problem+json ``errors[]`` entries."""
        return [FieldError(self.field or "template", self.message)]

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class TemplateValidationError(TemplateError):
    """The content cannot be saved: wrong shape, or a template that does not compile."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self._errors = errors

    @property
    def errors(self) -> list[FieldError]:
        return self._errors


class TemplateRenderError(TemplateError):
    """Rendering failed; at send time the delivery fails with ``str(error)`` as its reason."""


class MissingVariables(TemplateRenderError):
    """Variables the template needs are absent from the data."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(names)
        super().__init__("missing template variables: " + ", ".join(self.names))

    @property
    def errors(self) -> list[FieldError]:
        return [FieldError(f"data.{n}", _MISSING.get(n, "the template needs this variable")) for n in self.names]


_MISSING = {USER_VARIABLE: "the template reads user: address every recipient by user_id, or give data.user"}


class TemplateSecurityError(TemplateRenderError):
    """The template tried something the sandbox refuses (private attributes, unlisted calls)."""


class TemplateLimitError(TemplateRenderError):
    """The template exceeded a size or work limit."""


# -- Content shape


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _require_title_or_body(title: str | None, body: str | None) -> None:
    if title is None and body is None:
        raise PydanticCustomError("missing_text", "needs a title or a body")


class EmailContent(_Fields):
    """An email; ``text`` is derived from ``html`` when absent."""

    subject: str
    text: str | None = None
    html: str | None = None

    @model_validator(mode="after")
    def _has_body(self) -> Self:
        if self.text is None and self.html is None:
            raise PydanticCustomError("missing_body", "needs text or html")
        return self


class SmsContent(_Fields):
    """A text message."""

    body: str


class PushContent(_Fields):
    """A push notification; ``data`` reaches the app, not the user."""

    title: str | None = None
    body: str | None = None
    data: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_text(self) -> Self:
        _require_title_or_body(self.title, self.body)
        return self


class InappContent(_Fields):
    """An inbox item."""

    title: str | None = None
    body: str | None = None
    action_url: str | None = None
    data: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_text(self) -> Self:
        _require_title_or_body(self.title, self.body)
        return self


class WebhookContent(_Fields):
    """A webhook call; every string anywhere in ``body`` is a template."""

    body: JsonValue

    @field_validator("body")
    @classmethod
    def _finite(cls, body: JsonValue) -> JsonValue:
        # Refused here, not when the call's body is encoded: that is too late to tell anyone.
        where = non_finite(body)
        if where is not None:
            raise PydanticCustomError("finite_number", "{where} is not a finite number", {"where": where})
        return body


class ChannelSet(_Fields):
    """Content per channel; an absent channel is not sent (or, in a locale, falls back)."""

    email: EmailContent | None = None
    sms: SmsContent | None = None
    push: PushContent | None = None
    inapp: InappContent | None = None
    webhook: WebhookContent | None = None

    def dump(self) -> dict[str, Any]:
        return {
            name: getattr(self, name).model_dump(exclude_unset=True)
            for name in type(self).model_fields
            if getattr(self, name) is not None
        }


_CHANNEL_MODELS: dict[str, type[_Fields]] = {
    "email": EmailContent,
    "sms": SmsContent,
    "push": PushContent,
    "inapp": InappContent,
    "webhook": WebhookContent,
}


class TemplateContent(_Fields):
    """A template version's body as the API receives it."""

    channels: ChannelSet
    locales: dict[str, ChannelSet] = Field(default_factory=dict)

    @field_validator("channels")
    @classmethod
    def _not_empty(cls, channels: ChannelSet) -> ChannelSet:
        if not channels.dump():
            raise PydanticCustomError("no_channels", "needs at least one channel")
        return channels


# -- Validation and variables


@dataclass(frozen=True)
class ValidatedContent:
    """A checked version: store ``content`` and ``variables`` with it."""

    content: dict[str, Any]
    variables: tuple[str, ...]

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.content["channels"])


_LOCALE_TAG = re.compile(r"[a-z]{2,8}(-[a-z0-9]{1,8})*")


def _normalize_locale(tag: str) -> str:
    # Accept what clients actually send: "de_AT", "de-AT", even POSIX "de_AT.UTF-8@euro".
    return tag.split(".")[0].split("@")[0].strip().replace("_", "-").lower()


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
    """:func:`validate_model` without holding the event loop: parsing and compiling a tenant's
    source may take many milliseconds, so it runs in the compile thread. Literal text needs
    neither, and the common inline message ("your code is 123456") is checked in place."""
    content, errors = _normalized(model)
    if is_literal_content(content):
        return _check_sources(content, errors)
    return await asyncio.get_running_loop().run_in_executor(_COMPILER, _check_sources, content, errors)


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


def _check_sources(content: dict[str, Any], errors: list[FieldError]) -> ValidatedContent:
    """Bound, analyse and compile every source; compiled templates stay cached for rendering."""
    variables: set[str] = set()
    total = 0
    for path, source, html in _template_leaves(content):
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


def _leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}.{index}")


def _is_html(channel: str, name: str) -> bool:
    return (channel, name) == ("email", "html")


def _channel_leaves(base: str, channel: str, fields: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(path, template source, is email html) for every template in one channel's fields."""
    for name, value in fields.items():
        for path, source in _leaves(value, f"{base}.{channel}.{name}"):
            yield path, source, _is_html(channel, name)


def _template_leaves(content: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    variants = [("channels", content["channels"])]
    variants += [(f"locales.{tag}", chans) for tag, chans in content.get("locales", {}).items()]
    for base, channels in variants:
        for channel, fields in channels.items():
            yield from _channel_leaves(base, channel, fields)


def provided_variables(user: bool) -> frozenset[str]:
    """The names the core adds to the data: ``user`` only when every recipient has one."""
    return PROVIDED_VARIABLES | {USER_VARIABLE} if user else PROVIDED_VARIABLES


def missing_variables(needed: Iterable[str], data: Mapping[str, Any], provided: Iterable[str]) -> list[str]:
    """The needed variables neither in ``data`` nor among the names the core provides.

    The one decision of what a render lacks: publish and preview ask it with the client's data
    and :func:`provided_variables`, render with the whole context it was given (which holds
    exactly those names), and all take ``needed`` from the same analysis of the source.
    """
    supplied = set(data) | set(provided)
    return sorted(set(needed) - supplied)


# Uses the template itself makes safe when the variable is absent.
_GUARD_FILTERS = frozenset({"default"})
_GUARD_TESTS = frozenset({"defined", "undefined"})


def is_literal(source: str) -> bool:
    """Text without Jinja delimiters renders as itself. One-off inline messages ("your code
    is 123456") are mostly literal and each unique, so compiling them (~0.5 ms, uncacheable)
    would dominate publishing; they skip Jinja altogether."""
    return "{{" not in source and "{%" not in source and "{#" not in source


def is_literal_content(content: Mapping[str, Any]) -> bool:
    """Whether every field of stored content is literal text (rendering it is only copying)."""
    return all(is_literal(source) for _, source, _ in _template_leaves(content))


@dataclass(frozen=True)
class _Checked:
    """A source within the limits: the variables it needs and its size in nodes."""

    variables: frozenset[str]
    nodes: int


@lru_cache(maxsize=4096)
def _check(source: str) -> _Checked:
    """Bound and analyse a source before anything compiles it; raises one of _NOT_COMPILABLE.

    ``variables`` are the top-level names the source reads, except those it reads only behind
    ``default`` or ``is defined`` (``{{ coupon|default('') }}``, ``{{ user.name|default('you')
    }}``, ``{% if user is defined %}``): what a render cannot do without.
    """
    check_source(source)
    if is_literal(source):
        return _Checked(frozenset(), 0)
    tree = _TEXT_ENV.parse(source)
    count = check_tree(tree)
    needed = meta.find_undeclared_variables(tree) & set(_unguarded_names(tree, frozenset()))
    return _Checked(frozenset(needed), count)


# What parsing and compiling a tenant's source can raise: Jinja's syntax errors, our limits,
# and Python's own compiler giving up (too many nested blocks, a 5,000-digit int literal).
_NOT_COMPILABLE = (jinja2.TemplateSyntaxError, SyntaxError, ValueError, OverflowError, RecursionError, MemoryError)


def _why_not_compilable(exc: BaseException) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"line {exc.lineno}: {exc.message}"
    if isinstance(exc, SourceLimitError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, SyntaxError):
        return f"too complex to compile ({exc.msg})"
    if isinstance(exc, MemoryError):
        return "too large to compile"
    return f"cannot be compiled: {str(exc).split(';')[0]}"  # int digits: Python's advice is not ours


def _chain_parts(expr: nodes.Node) -> list[nodes.Node]:
    """What a guarded ``a.b[c].d`` still evaluates unguarded: its indexes, and its root
    unless that is a name (a missing name's attributes are missing too, not an error)."""
    parts: list[nodes.Node] = []
    while isinstance(expr, nodes.Getattr | nodes.Getitem):
        if isinstance(expr, nodes.Getitem):
            parts.append(expr.arg)
        expr = expr.node
    return parts if isinstance(expr, nodes.Name) else [*parts, expr]


def _chain_root(expr: nodes.Node) -> str | None:
    while isinstance(expr, nodes.Getattr | nodes.Getitem):
        expr = expr.node
    return expr.name if isinstance(expr, nodes.Name) else None


def _defined_by(test: nodes.Node) -> frozenset[str]:
    # `a.b is defined` is true only if `a` is.
    if isinstance(test, nodes.Test) and test.name == "defined" and (root := _chain_root(test.node)):
        return frozenset({root})
    if isinstance(test, nodes.And):
        return _defined_by(test.left) | _defined_by(test.right)
    return frozenset()


def _unguarded_names(node: nodes.Node, guarded: frozenset[str]) -> Iterator[str]:
    if isinstance(node, nodes.Name):
        if node.ctx == "load" and node.name not in guarded:
            yield node.name
        return
    children: list[tuple[nodes.Node, frozenset[str]]]
    if isinstance(node, nodes.If):
        inner = guarded | _defined_by(node.test)
        children = [(node.test, guarded), *((n, inner) for n in node.body)]
        children += [(n, guarded) for n in (*node.elif_, *node.else_)]
    elif isinstance(node, nodes.And):  # `x is defined and x > 1`
        children = [(node.left, guarded), (node.right, guarded | _defined_by(node.left))]
    elif isinstance(node, nodes.CondExpr):
        children = [(node.test, guarded), (node.expr1, guarded | _defined_by(node.test))]
        children += [(node.expr2, guarded)] if node.expr2 is not None else []
    elif (
        isinstance(node, nodes.Filter | nodes.Test)
        and node.name in (_GUARD_FILTERS if isinstance(node, nodes.Filter) else _GUARD_TESTS)
        and node.node is not None
    ):
        unguarded = [*_chain_parts(node.node), *node.iter_child_nodes(exclude=("node",))]
        children = [(n, guarded) for n in unguarded]
    else:
        children = [(n, guarded) for n in node.iter_child_nodes()]
    for child, child_guarded in children:
        yield from _unguarded_names(child, child_guarded)


# -- Sandbox


@dataclass
class _Budget:
    """What one render() may still spend, shared by all fields of the channel."""

    steps: int = MAX_RENDER_STEPS
    text: int = MAX_RENDER_TEXT_CHARS

    def spend_step(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise TemplateLimitError(f"more than {MAX_RENDER_STEPS} loop iterations and calls")

    def spend_text(self, chars: int) -> None:
        self.text -= chars
        if self.text < 0:
            raise TemplateLimitError(f"builds more than {MAX_RENDER_TEXT_CHARS} characters of text")


# A ContextVar, not environment state: environments are shared by concurrent renders.
_BUDGET: ContextVar[_Budget] = ContextVar("alertflow_template_budget")


def _check_text_length(length: int) -> None:
    if length > MAX_TEXT_CHARS:
        raise TemplateLimitError(f"text longer than {MAX_TEXT_CHARS} characters")


def _check_length(value: Any, length: int) -> None:
    if isinstance(value, str):
        _check_text_length(length)
    elif isinstance(value, list | tuple) and length > MAX_ITEMS:
        raise TemplateLimitError(f"list longer than {MAX_ITEMS} items")


def _check_value(value: Any) -> Any:
    if isinstance(value, str | list | tuple):
        _check_length(value, len(value))
    elif isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimitError(f"number larger than {MAX_INT_BITS} bits")
    return value


def _budgeted(iterable: Any) -> Iterator[Any]:
    budget = _BUDGET.get()
    for item in iterable:
        budget.spend_step()
        yield item


# pass_context keeps Jinja from constant-folding these at compile time: literal text in a
# loop must be charged on every iteration of every render, not once when compiling.
@pass_context
def _iterate(context: Context, iterable: Any) -> Iterator[Any]:
    return _budgeted(iterable)


@pass_context
def _emit(context: Context, value: Any) -> Any:
    if value is not None:
        _BUDGET.get().spend_text(len(value) if isinstance(value, str) else len(str(value)))
    return value


# Names a template cannot write (a filter name must be an identifier), used by the rewrite below.
_ITERATE, _EMIT, _CHECK = "alertflow.iterate", "alertflow.emit", "alertflow.check"


class _Guard(NodeTransformer):
    """Rewrites a parsed template so every loop, output and ``~`` passes through a limit."""

    def __init__(self, name: str | None, filename: str | None) -> None:
        self.name, self.filename = name, filename

    def _wrap(self, node: nodes.Node, filter_name: str) -> nodes.Filter:
        return nodes.Filter(node, filter_name, [], [], None, None, lineno=node.lineno, environment=node.environment)

    def _refuse(self, node: nodes.Node, message: str) -> None:
        raise jinja2.TemplateAssertionError(message, node.lineno, self.name, self.filename)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._wrap(node.iter, _ITERATE)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [self._wrap(child, _EMIT) for child in node.nodes]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._wrap(node, _CHECK)

    def visit_Name(self, node: nodes.Name) -> nodes.Node:
        # `self` is Jinja's reference to the template object itself, not a variable.
        if node.name == "self":
            self._refuse(node, "'self' is not available in templates")
        return node

    def _no_loader(self, node: nodes.Node) -> nodes.Node:
        self._refuse(node, "templates cannot include, import or extend other templates")
        return node

    visit_Extends = visit_Include = visit_Import = visit_FromImport = _no_loader


class _GuardedCodeGenerator(CodeGenerator):
    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        _Guard(self.name, self.filename).visit(node)
        super().visit_Template(node, frame)


def _range(*args: int) -> range:
    numbers = range(*args)
    try:
        too_long = len(numbers) > MAX_ITEMS
    except OverflowError:  # longer than sys.maxsize
        too_long = True
    if too_long:
        raise TemplateLimitError(f"range() is limited to {MAX_ITEMS} items")
    return numbers


# Methods a template may call, beyond macros, range() and loop helpers: read-only, and none
# that can amplify text (format, center, replace, join, zfill, ... are not here).
_CALLABLE_METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        {
            "capitalize",
            "casefold",
            "count",
            "endswith",
            "find",
            "isalnum",
            "isalpha",
            "isdigit",
            "islower",
            "isspace",
            "isupper",
            "lower",
            "lstrip",
            "removeprefix",
            "removesuffix",
            "rfind",
            "rsplit",
            "rstrip",
            "split",
            "splitlines",
            "startswith",
            "strip",
            "swapcase",
            "title",
            "upper",
        }
    ),
    dict: frozenset({"get", "items", "keys", "values"}),
    list: frozenset({"count", "index"}),
    LoopContext: frozenset({"cycle", "changed"}),
}


def _may_call(obj: Any) -> bool:
    if obj is _range or isinstance(obj, Macro | LoopContext):
        return True
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", None)
    return any(isinstance(owner, t) and name in names for t, names in _CALLABLE_METHODS.items())


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox plus the limits: allow-listed calls, capped operators, budgeted loops."""

    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Template data is JSON, so `order.items` must mean the key, not dict.items.
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if isinstance(obj, Undefined):
            obj._fail_with_undefined_error()  # the original message, e.g. why it is unsafe
        if not _may_call(obj):
            name = getattr(obj, "__name__", type(obj).__name__)
            raise TemplateSecurityError(f"calling {name!r} is not allowed in templates")
        _BUDGET.get().spend_step()
        if isinstance(obj, LoopContext) and args:  # a recursive loop's next level
            args = (_budgeted(args[0]), *args[1:])
        return context.call(obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            # A width like '%999999999s' allocates before any check could see the result.
            raise TemplateSecurityError("'%' formatting is not allowed; use the number filter")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(count, int) and hasattr(seq, "__len__"):
                    _check_length(seq, len(seq) * count)
        powers = operator == "**" and isinstance(left, int) and isinstance(right, int)
        if powers and abs(left) > 1 and right > 0 and left.bit_length() * right > MAX_INT_BITS:
            raise TemplateLimitError(f"number larger than {MAX_INT_BITS} bits")
        return _check_value(self.binop_table[operator](left, right))


def _to_datetime(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise TemplateRenderError(f"date: {value!r} is neither ISO 8601 text nor epoch seconds")


def _date(value: Any, format: str = "%Y-%m-%d", tz: str | None = None) -> str:
    moment = _to_datetime(value)
    if tz is not None and isinstance(moment, datetime):
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise TemplateRenderError(f"date: unknown time zone {tz!r}") from None
        # A naive time is taken as UTC: that is what servers and APIs send.
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)
    return moment.strftime(format)


def _to_decimal(value: Any) -> Decimal:
    try:
        # str() first: Decimal(0.1) is 0.1000000000000000055..., people mean 0.1.
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = Decimal("nan")
    # Bounded like ints (~309 digits): Decimal('1e999999999') would print a billion digits.
    if isinstance(value, bool) or not amount.is_finite() or amount.adjusted() > 309:
        raise TemplateRenderError(f"number: {value!r} is not a number")
    return amount


def _number(value: Any, decimals: int = 0, thousands: str = ",", point: str = ".") -> str:
    if not 0 <= decimals <= MAX_DECIMALS:
        raise TemplateRenderError(f"number: decimals must be 0 to {MAX_DECIMALS}")
    amount = _to_decimal(value)
    text = f"{amount.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP):,f}"
    return text.replace(",", "\0").replace(".", point).replace("\0", thousands)


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Iterable[Any], separator: str = "") -> str:
    items = list(value)
    size = sum(len(i) if isinstance(i, str) else len(str(i)) for i in items)
    _check_text_length(size + len(separator) * max(len(items) - 1, 0))
    return sync_do_join(eval_ctx, items, separator)


class _Undefined(jinja2.StrictUndefined):
    """A missing value: strict, so printing, iterating, comparing or calling it fails, but
    chainable, so ``user.data.plan`` of a missing ``user`` is one more missing value rather
    than an error, and ``default`` rescues the whole chain — as publish assumed it would."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__":  # Python's protocols (copy, pickle, __html__) must not see a value
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> Any:
        return self


def _make_env(autoescape: bool) -> _Sandbox:
    env = _Sandbox(
        autoescape=autoescape,
        undefined=_Undefined,
        # Block tags on their own line leave no blank lines in plain-text messages.
        trim_blocks=True,
        lstrip_blocks=True,
        # A JSON null prints as nothing, not as "None".
        finalize=lambda value: "" if value is None else value,
    )
    # No cycler, joiner, lipsum, namespace or dict: each is a way back to Python objects.
    env.globals = {"range": _range}
    env.filters = {
        "date": _date,
        "number": _number,
        "default": do_default,
        "upper": do_upper,
        "lower": do_lower,
        "title": do_title,
        "truncate": do_truncate,
        "escape": escape,
        "round": do_round,
        "join": _join,
        "length": len,
        _ITERATE: _iterate,
        _EMIT: _emit,
        _CHECK: _check_value,
    }
    return env


_TEXT_ENV = _make_env(autoescape=False)
_HTML_ENV = _make_env(autoescape=True)


@lru_cache(maxsize=4096)
def _compile(source: str, html: bool) -> jinja2.Template:
    """Compile a source that passed :func:`_check` (which this calls first, cached)."""
    _check(source)
    return (_HTML_ENV if html else _TEXT_ENV).from_string(source)


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
