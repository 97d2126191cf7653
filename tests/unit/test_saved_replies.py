"""Saved reply templates: what renders, and hostile templates refused before they are stored."""

from __future__ import annotations

import pytest

from maildesk.tickets import saved_replies as sr

CTX = sr.ReplyContext("SUP-00042", "Printer on fire", "Ann Lee", "ann@example.org", "Bob Agent")


def test_renders_the_five_values_filters_and_ifs() -> None:
    body = ("Hi {{ requester.name|default('there') }} ({{ requester.email }}),\n"
            "{% if ticket.subject %}About {{ ticket.subject|lower }}{% else %}-{% endif %} [{{ ticket.number }}]\n"
            "{{ agent.name|upper }}")
    assert sr.render(body, CTX) == "Hi Ann Lee (ann@example.org),\nAbout printer on fire [SUP-00042]\nBOB AGENT"


def test_if_and_default_cover_an_empty_name() -> None:
    ctx = sr.ReplyContext("SUP-1", "s", "", "a@b", "x")
    assert sr.render("{% if requester.name %}Hi {{ requester.name }}{% else %}Hello{% endif %}", ctx) == "Hello"
    assert sr.render("Hi {{ requester.name|default('there') }}", ctx) == "Hi there"


@pytest.mark.parametrize("body", [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ ticket.__dict__ }}",
    "{{ ticket.__class__ }}",
    "{{ ticket.items() }}",
    "{{ ticket['number'] }}",
    "{{ requester.password }}",
    "{{ config }}",
    "{{ self }}",
    "{{ range(10) }}",
    "{% for i in range(999999) %}{% for j in range(999999) %}x{% endfor %}{% endfor %}",
    "{{ 'x' * 100000000 }}",
    "{{ ticket.number|attr('__class__') }}",
    "{{ ticket.number|format('%s') }}",
    "{{ ticket.number|default(ticket.__class__) }}",
    "{% set x = 1 %}{{ x }}",
    "{% macro m() %}{% endmacro %}",
    "{% include 'base.html' %}",
    "{% if ticket.number.__class__ %}x{% endif %}",
    "{% if ticket.number > 1 %}x{% endif %}",
    "{{ ticket.number ",
    "{% if %}",
    "",
])
def test_hostile_or_broken_templates_are_refused(body: str) -> None:
    with pytest.raises(sr.InvalidTemplate):
        sr.validate(body)


def test_refusal_names_what_is_allowed() -> None:
    with pytest.raises(sr.InvalidTemplate, match=r"ticket\.number"):
        sr.validate("{{ ticket.__dict__ }}")


def test_too_long_body_is_refused() -> None:
    with pytest.raises(sr.InvalidTemplate, match="at most"):
        sr.validate("x" * (sr.MAX_BODY + 1))
