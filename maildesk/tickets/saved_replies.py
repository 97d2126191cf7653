"""Saved replies: validate a reply template when it is saved, render it for one ticket.

A body is a small Jinja template that may only print five values ({{ ticket.number }},
{{ ticket.subject }}, {{ requester.name }}, {{ requester.email }}, {{ agent.name }}), pass
them through a few harmless filters, and use simple `{% if %}` blocks on them. Everything
else (other names, other attributes, loops, macros, sets, calls) is refused at save time by
walking the parsed template, so nothing hostile is ever stored. Rendering still runs in
jinja2's SandboxedEnvironment with StrictUndefined as a second line of defence.
Pure functions: no database, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

MAX_TITLE = 200
MAX_BODY = 20_000

# The only values a template may name, as variable -> attributes.
VARIABLES: dict[str, frozenset[str]] = {
    "ticket": frozenset({"number", "subject"}),
    "requester": frozenset({"name", "email"}),
    "agent": frozenset({"name"}),
}
# Filters that take no arguments and cannot grow or reach anything: the text case and trim.
# `default` takes one literal argument (for a requester without a name).
SAFE_FILTERS = frozenset({"upper", "lower", "title", "capitalize", "trim", "default"})

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
# Every value is always defined (maybe empty), so `default` means "when empty", e.g. a
# requester who never gave a name: {{ requester.name|default('there') }}.
_ENV.filters["default"] = lambda value, fallback="": value if value else fallback


class InvalidTemplate(ValueError):
    """The body uses something a saved reply may not; the message says what."""


@dataclass(frozen=True)
class ReplyContext:
    ticket_number: str
    ticket_subject: str
    requester_name: str
    requester_email: str
    agent_name: str


def _allowed_names() -> str:
    return ", ".join("{{ %s.%s }}" % (v, a) for v, attrs in VARIABLES.items() for a in sorted(attrs))


def _check_value(node: nodes.Node) -> None:
    """An expression that prints: an allowed variable.attribute, a literal, or a safe filter of one."""
    if isinstance(node, nodes.Const) and isinstance(node.value, (str, int)):
        return
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        allowed = VARIABLES.get(node.node.name)
        if allowed is None:
            raise InvalidTemplate(f"unknown name {node.node.name!r}; use only {_allowed_names()}")
        if node.attr not in allowed:
            raise InvalidTemplate(f"{node.node.name}.{node.attr} is not available; use only {_allowed_names()}")
        return
    if isinstance(node, nodes.Filter) and node.node is not None:
        if node.name not in SAFE_FILTERS:
            raise InvalidTemplate(f"filter {node.name!r} is not allowed; use only {', '.join(sorted(SAFE_FILTERS))}")
        if node.kwargs or node.dyn_args or node.dyn_kwargs:
            raise InvalidTemplate(f"filter {node.name!r} takes no keyword arguments here")
        limit = 1 if node.name == "default" else 0
        if len(node.args) > limit or not all(isinstance(a, nodes.Const) and isinstance(a.value, str) for a in node.args):
            raise InvalidTemplate(f"filter {node.name!r} takes {'one quoted text' if limit else 'no arguments'}")
        _check_value(node.node)
        return
    if isinstance(node, nodes.Name):
        raise InvalidTemplate(f"{node.name!r} on its own is not allowed; use only {_allowed_names()}")
    if isinstance(node, nodes.Getitem):
        raise InvalidTemplate("[...] lookups are not allowed; use only " + _allowed_names())
    raise InvalidTemplate(f"{type(node).__name__.lower()} expressions are not allowed; use only {_allowed_names()}")


def _check_test(node: nodes.Node) -> None:
    """An {% if %} condition: allowed values combined with not / and / or / == / !=."""
    if isinstance(node, nodes.Not):
        _check_test(node.node)
    elif isinstance(node, (nodes.And, nodes.Or)):
        _check_test(node.left)
        _check_test(node.right)
    elif isinstance(node, nodes.Compare):
        if any(op.op not in ("eq", "ne") for op in node.ops):
            raise InvalidTemplate("conditions may only compare with == or !=")
        _check_value(node.expr)
        for op in node.ops:
            _check_value(op.expr)
    else:
        _check_value(node)


def _check_body(body: list[nodes.Node]) -> None:
    for node in body:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    _check_value(child)
        elif isinstance(node, nodes.If):
            _check_test(node.test)
            _check_body(node.body)
            for branch in node.elif_:
                _check_test(branch.test)
                _check_body(branch.body)
            _check_body(node.else_)
        else:
            raise InvalidTemplate(f"{{% {type(node).__name__.lower()} %}} blocks are not allowed; only simple {{% if %}}")


def validate(body: str) -> None:
    """Raise InvalidTemplate when body is not a template a saved reply may use."""
    if not body.strip():
        raise InvalidTemplate("must not be empty")
    if len(body) > MAX_BODY:
        raise InvalidTemplate(f"use at most {MAX_BODY} characters")
    try:
        tree = _ENV.parse(body)
    except TemplateSyntaxError as exc:
        raise InvalidTemplate(f"template syntax error on line {exc.lineno}: {exc.message}") from None
    _check_body(tree.body)


def render(body: str, ctx: ReplyContext) -> str:
    """The reply text for one ticket. Validates first: a stored body that no longer passes
    (rules tightened since) raises InvalidTemplate rather than rendering."""
    validate(body)
    try:
        return _ENV.from_string(body).render(
            ticket={"number": ctx.ticket_number, "subject": ctx.ticket_subject},
            requester={"name": ctx.requester_name, "email": ctx.requester_email},
            agent={"name": ctx.agent_name},
        )
    except TemplateError as exc:  # e.g. a sandbox refusal; validate() should have caught it
        raise InvalidTemplate(str(exc)) from None
