"""Bounds on template source, checked before it is compiled.

Compiling is the costly step, and its last part (Python's ``compile()`` of the generated
code) holds the GIL from start to end: from a worker thread it still stalls the event loop.
10,000 ``{{ vN }}`` placeholders (188 KB) took 9.5 s, and Python's compiler itself fails on
20 nested loops or 200 nested parentheses. So a source is measured first — its size, the
number of nodes Jinja parses it into, how deeply blocks and expressions nest, and the
numbers it writes — and refused with the limit it broke, before any code is generated.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from jinja2 import nodes

# Python ints are unbounded, so 10**10**9 would burn a worker's CPU; 1024 bits is ~309 digits.
MAX_INT_BITS = 1024
# Largest rendered field (UTF-8). Gmail clips an email at ~102 KB and SMS/push are far smaller,
# so a legitimate field fits with room to spare; anything bigger is a runaway loop.
MAX_OUTPUT_BYTES = 256 * 1024
# A field's source, UTF-8: literal text longer than any output could never be sent, and a
# template longer than that is not a message but a program.
MAX_SOURCE_BYTES = MAX_OUTPUT_BYTES
# Jinja nodes per field (`Hi {{ name }}` is 3); a rich order confirmation has a few hundred.
# Python's compile() of the generated code holds the GIL throughout, ~7-15 µs per node on the
# busy 2-core development machine, so this caps what one compile takes from the event loop
# near 10 ms. At 2,000, unique templates published non-stop kept the loop's p99 lag at 50 ms.
MAX_TEMPLATE_NODES = 1_000
# Nodes across all fields and locales of one content: bounds the CPU one request may spend.
MAX_CONTENT_NODES = 10_000
# Statement blocks inside each other (for, if, with, macro, call, filter, set, autoescape).
# Real templates nest 3 or 4 deep; Python's compiler refuses 20 nested loops.
MAX_BLOCK_DEPTH = 10
# Expressions inside each other (`(a + (b|upper))`, `x.a.b.c`). Each level becomes a few
# nested parentheses in the generated code, and Python's parser stops at 200.
MAX_EXPRESSION_DEPTH = 30

# Statements whose body is nested code in the compiled template (autoescape's Scope wrapper
# is not counted: it holds only its ScopedEvalContextModifier).
_BLOCKS = (
    nodes.For,
    nodes.If,
    nodes.With,
    nodes.Macro,
    nodes.CallBlock,
    nodes.FilterBlock,
    nodes.AssignBlock,
    nodes.Block,
    nodes.ScopedEvalContextModifier,
)


class SourceLimitError(ValueError):
    """A source breaks one of the bounds above; ``str()`` names the limit."""


def tag_count(source: str) -> int:
    """Opening delimiters: each one parses into at least one node, so this bounds the node
    count from below without parsing (a C-speed scan)."""
    return source.count("{{") + source.count("{%")


def check_source(source: str) -> None:
    """The checks that need no parse: size, and a lower bound of the node count."""
    # Four bytes per character at most: short sources skip the encoding.
    if len(source) * 4 > MAX_SOURCE_BYTES and len(source.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        raise SourceLimitError(f"longer than {MAX_SOURCE_BYTES} bytes (the limit per field)")
    if tag_count(source) > MAX_TEMPLATE_NODES:
        raise SourceLimitError(_too_many_nodes())


def check_tree(tree: nodes.Template) -> int:
    """Node count, nesting and literal numbers of a parsed source; returns the node count."""
    count = 0
    for node, blocks, expressions in _walk(tree):
        count += 1
        if count > MAX_TEMPLATE_NODES:
            raise SourceLimitError(_too_many_nodes())
        if blocks > MAX_BLOCK_DEPTH:
            raise SourceLimitError(f"line {node.lineno}: blocks nest more than {MAX_BLOCK_DEPTH} deep")
        if expressions > MAX_EXPRESSION_DEPTH:
            raise SourceLimitError(f"line {node.lineno}: expressions nest more than {MAX_EXPRESSION_DEPTH} deep")
        if isinstance(node, nodes.Const):
            _check_literal(node)
    return count


def _too_many_nodes() -> str:
    return (
        f"more than {MAX_TEMPLATE_NODES} template nodes (text runs, variables, tags and operators; the limit per field)"
    )


def _walk(tree: nodes.Template) -> Iterator[tuple[nodes.Node, int, int]]:
    """Every node with the block and expression depth it sits at; iterative, because the
    tree being measured may be deeper than Python's recursion limit allows."""
    stack: list[tuple[nodes.Node, int, int]] = [(tree, 0, 0)]
    while stack:
        node, blocks, expressions = stack.pop()
        yield node, blocks, expressions
        # An elif is compiled as one more branch of its if, not as a block inside it.
        siblings = {id(n) for n in node.elif_} if isinstance(node, nodes.If) else set()
        inner = blocks + 1 if isinstance(node, _BLOCKS) else blocks
        for child in node.iter_child_nodes():
            # Helpers (a dict's pairs, a call's keywords) sit inside expressions too.
            depth = 0 if isinstance(child, nodes.Stmt) else expressions + 1
            stack.append((child, blocks if id(child) in siblings else inner, depth))


def _check_literal(node: nodes.Const) -> None:
    value = node.value
    if isinstance(value, bool):
        return
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SourceLimitError(f"line {node.lineno}: a number larger than {MAX_INT_BITS} bits")
    if isinstance(value, float) and not math.isfinite(value):
        raise SourceLimitError(f"line {node.lineno}: a number too large for a float")
