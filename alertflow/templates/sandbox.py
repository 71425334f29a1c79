"""The sandbox that compiles tenant source: bounded, analysed for the variables it needs, then
compiled by a Jinja2 sandbox.

Tenants write templates, so a template is untrusted code running inside our process. It is
compiled by a Jinja2 sandbox that can call only an allow-list, cannot reach private attributes,
and runs under limits on text size, loop iterations and number size (see the constants below).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import do_default, do_lower, do_round, do_title, do_truncate, do_upper, sync_do_join
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, Macro, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context, pass_eval_context
from jinja2.visitor import NodeTransformer
from markupsafe import escape

from ..cache import CycleCollector, Lru
from .content import TemplateLimitError, TemplateRenderError, TemplateSecurityError, is_literal
from .limits import MAX_INT_BITS, MAX_OUTPUT_BYTES, SourceLimitError, check_source, check_tree

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


# Uses the template itself makes safe when the variable is absent.
_GUARD_FILTERS = frozenset({"default"})
_GUARD_TESTS = frozenset({"defined", "undefined"})


@dataclass(frozen=True)
class _Checked:
    """A source within the limits: the variables it needs and its size in nodes."""

    variables: frozenset[str]
    nodes: int


# Checked and compiled sources, each bounded by [cache] templates (size_caches): inline ones
# rarely repeat and a compiled one holds its code (~10 KB for a line of text, more for HTML), so
# unbounded a burst of distinct ones grows RSS for good; one pushed out is a cycle: CycleCollector.
# Literal text (most one-off inline messages) needs only its size checked, and stays out.
_CHECKED: Lru[str, _Checked] = Lru()
_LITERAL = _Checked(frozenset(), 0)
_PUSHED_OUT = CycleCollector()
_COMPILED: Lru[tuple[str, bool], jinja2.Template] = Lru(on_evict=lambda *_: _PUSHED_OUT.evicted(_COMPILED.size))


def size_caches(entries: int) -> None:
    """Hold at most ``entries`` checked and as many compiled sources (text and HTML apart)."""
    _CHECKED.resize(entries)
    _COMPILED.resize(entries)


def _check(source: str) -> _Checked:
    if is_literal(source):
        check_source(source)
        return _LITERAL
    checked = _CHECKED.get(source)
    if checked is None:
        checked = _analyse(source)
        _CHECKED.put(source, checked)
    return checked


def _analyse(source: str) -> _Checked:
    """Bound and analyse a source before anything compiles it; raises one of _NOT_COMPILABLE.

    ``variables`` are the top-level names the source reads, except those it reads only behind
    ``default`` or ``is defined`` (``{{ coupon|default('') }}``, ``{{ user.name|default('you')
    }}``, ``{% if user is defined %}``): what a render cannot do without.
    """
    check_source(source)
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


def _compile(source: str, html: bool) -> jinja2.Template:
    """Compile a source that passed :func:`_check` (which this calls first, cached)."""
    compiled = _COMPILED.get((source, html))
    if compiled is None:
        _check(source)
        compiled = (_HTML_ENV if html else _TEXT_ENV).from_string(source)
        _COMPILED.put((source, html), compiled)
    return compiled
