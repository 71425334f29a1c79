"""The template engine: what a saved version looks like, what it needs, and how it renders."""

from __future__ import annotations

import cProfile
from typing import Any

import pytest

from alertflow.templates.content import (
    FieldError,
    MissingVariables,
    TemplateLimitError,
    TemplateRenderError,
    TemplateSecurityError,
    TemplateValidationError,
    missing_variables,
    provided_variables,
)
from alertflow.templates.limits import MAX_BLOCK_DEPTH, MAX_CONTENT_NODES, MAX_OUTPUT_BYTES, MAX_TEMPLATE_NODES
from alertflow.templates.render import pick_locale, render, render_literal
from alertflow.templates.sandbox import MAX_RENDER_STEPS
from alertflow.templates.text import html_to_text, sms_info
from alertflow.templates.validation import validate_content

# A step (a loop iteration or a call) costs a few dozen Python calls at most (a recursive
# loop's ~50, the dearest), so a render its budgets stop makes no more than this many calls
# (compiling included): the budget, not the template, decides when it ends.
MAX_CALLS_PER_RUNAWAY = 60 * MAX_RENDER_STEPS


def sms(body: str) -> dict[str, Any]:
    return {"channels": {"sms": {"body": body}}}


def render_sms(body: str, **data: Any) -> str:
    return str(render(sms(body), "sms", data)["body"])


def field_errors(raw: Any) -> list[FieldError]:
    with pytest.raises(TemplateValidationError) as caught:
        validate_content(raw)
    return caught.value.errors


# -- Saving a version


def test_a_valid_version_is_stored_normalized_with_its_variables() -> None:
    saved = validate_content(
        {
            "channels": {
                "email": {"subject": "Hi {{ name }}", "html": "<p>{{ order.id }}</p>"},
                "sms": {"body": "Hi {{ name }}"},
            },
            "locales": {"de_AT": {"sms": {"body": "Servus {{ name }}, {{ greeting }}"}}},
        }
    )
    assert saved.content == {
        "channels": {
            "email": {"subject": "Hi {{ name }}", "html": "<p>{{ order.id }}</p>"},
            "sms": {"body": "Hi {{ name }}"},
        },
        "locales": {"de-at": {"sms": {"body": "Servus {{ name }}, {{ greeting }}"}}},
    }
    assert saved.variables == ("greeting", "name", "order")
    assert saved.channels == ("email", "sms")


def test_shape_errors_name_the_field() -> None:
    errors = field_errors(
        {
            "channels": {
                "email": {"subject": "s"},
                "sms": {"body": "b", "sender": "x"},
                "push": {"title": "t", "data": {"n": 1}},
                "fax": {"body": "b"},
            }
        }
    )
    assert {e.field for e in errors} == {
        "channels.email",  # neither text nor html
        "channels.sms.sender",
        "channels.push.data.n",
        "channels.fax",
    }


def test_a_version_needs_at_least_one_channel() -> None:
    assert [e.field for e in field_errors({"channels": {}})] == ["channels"]


def test_a_syntax_error_names_the_field_and_line() -> None:
    errors = field_errors({"channels": {"email": {"subject": "ok", "text": "Hello\n{{ name }", "html": "<p>"}}})
    assert len(errors) == 1
    assert errors[0].field == "channels.email.text"
    assert errors[0].message.startswith("line 2:")


def test_syntax_errors_inside_webhook_bodies_and_locales_name_their_path() -> None:
    errors = field_errors(
        {
            "channels": {"webhook": {"body": {"items": [{"v": "{{ 1 + }}"}]}}},
            "locales": {"de": {"webhook": {"body": "{% if %}"}}},
        }
    )
    assert [e.field for e in errors] == [
        "channels.webhook.body.items.0.v",
        "locales.de.webhook.body",
    ]


def test_unavailable_filters_and_constructs_are_refused_when_saving() -> None:
    for source in (
        "{{ x|attr('__class__') }}",
        "{{ x|map('upper') }}",
        "{{ self }}",
        "{% include 'other' %}",
        "{% extends 'base' %}",
        "{% import 'm' as m %}",
    ):
        [error] = field_errors(sms(source))
        assert error.field == "channels.sms.body", source


BLOCKS = {
    "for": ("{% for i in range(1) %}", "{% endfor %}"),
    "for-else": ("{% for i in range(1) %}", "{% else %}{% endfor %}"),
    "if": ("{% if x %}", "{% endif %}"),
    "if-elif": ("{% if x %}{% elif x %}", "{% endif %}"),
    "with": ("{% with a = 1 %}", "{% endwith %}"),
    "macro": ("{% macro m() %}", "{% endmacro %}"),
    "call": ("{% call range(1) %}", "{% endcall %}"),
    "filter": ("{% filter upper %}", "{% endfilter %}"),
    "set": ("{% set a %}", "{% endset %}"),
    "autoescape": ("{% autoescape true %}", "{% endautoescape %}"),
}


@pytest.mark.parametrize("kind", BLOCKS)
def test_blocks_nest_up_to_the_limit_and_no_deeper(kind: str) -> None:
    opening, closing = BLOCKS[kind]
    validate_content(sms(opening * MAX_BLOCK_DEPTH + "{{ x }}" + closing * MAX_BLOCK_DEPTH))
    too_deep = MAX_BLOCK_DEPTH + 1
    (error,) = field_errors(sms(opening * too_deep + "{{ x }}" + closing * too_deep))
    assert error == FieldError("channels.sms.body", f"line 1: blocks nest more than {MAX_BLOCK_DEPTH} deep")


def test_elif_chains_are_one_level_however_long() -> None:
    elifs = "".join(f"{{% elif x == {i} %}}{i}" for i in range(1, 100))
    validate_content(sms("{% if x == 0 %}0" + elifs + "{% endif %}"))


def test_nodes_are_limited_per_field_and_across_the_content() -> None:
    wide = " ".join(f"{{{{ v{i} }}}}" for i in range(MAX_TEMPLATE_NODES // 2 - 1))  # just under the field limit
    fields = {f"f{i}": wide for i in range(MAX_CONTENT_NODES // MAX_TEMPLATE_NODES + 1)}
    errors = field_errors({"channels": {"webhook": {"body": fields}}})
    assert errors[-1].message.startswith(f"more than {MAX_CONTENT_NODES} template nodes in all")
    (error,) = field_errors(sms(wide + " {{ one_more }} {{ and_another }}"))
    assert error.message.startswith(f"more than {MAX_TEMPLATE_NODES} template nodes")


def test_content_that_skipped_validation_is_still_bounded_at_render() -> None:
    with pytest.raises(TemplateLimitError, match="blocks nest more than"):
        render_sms("{% if x %}" * 30 + "{% endif %}" * 30, x=1)


def test_locale_variants_must_be_language_tags_for_channels_of_the_default() -> None:
    errors = field_errors(
        {
            "channels": {"sms": {"body": "b"}},
            "locales": {"de": {"email": {"subject": "s", "text": "t"}}, "DE": {}, "x y": {}},
        }
    )
    assert [e.field for e in errors] == ["locales.de.email", "locales.DE", "locales.x y"]


# -- Variables a version needs


def test_needed_variables_are_top_level_names_across_channels_locales_and_data() -> None:
    saved = validate_content(
        {
            "channels": {
                "push": {"title": "{{ user.name }}", "data": {"order": "{{ order.id }}"}},
                "webhook": {"body": {"items": ["{{ item }}", 3, None], "total": "{{ sum }}"}},
            },
            "locales": {"fr": {"push": {"body": "{{ user.data.plan }} {{ coupon }}"}}},
        }
    )
    assert saved.variables == ("coupon", "item", "order", "sum", "user")


def test_names_the_template_defines_itself_are_not_needed() -> None:
    saved = validate_content(
        sms(
            "{% set greeting = 'Hi' %}{{ greeting }}{% for line in lines %}{{ line }}"
            "{{ loop.index }}{% endfor %}{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1) }}"
        )
    )
    assert saved.variables == ("lines",)


def test_variables_behind_default_or_is_defined_are_optional() -> None:
    saved = validate_content(
        sms(
            "{{ nickname|default('there') }}{% if coupon is defined %}{{ coupon }}{% endif %}"
            "{{ vip if vip is defined else '' }}{% if n is defined and n > 1 %}{{ n }}{% endif %}"
            "{{ order.id|default('') }}{{ user.data.plan|default('free') }}{% if a.b is defined %}{{ a.c }}{% endif %}"
        )
    )
    # A missing name's attributes are missing too, and `default` rescues the whole chain.
    assert saved.variables == ()
    assert render_sms("{{ nickname|default('there') }}") == "there"
    assert render_sms("{{ order.id|default('') }}|{{ user.data.plan|default('free') }}") == "|free"
    assert render_sms("{{ user.data.plan|default('free') }}", user={"data": {"plan": "pro"}}) == "pro"


def test_what_a_guarded_chain_evaluates_is_still_needed() -> None:
    saved = validate_content(sms("{{ order[key]|default('') }}{{ (a or b).c|default('') }}{{ x.y|upper|default('') }}"))
    # The index, a root that is not a name, and a chain a filter reads before `default` are needed.
    assert saved.variables == ("a", "b", "key", "x")


def test_missing_variables_ignores_what_data_has_and_what_the_core_provides() -> None:
    needed = ["name", "order", "user", "unsubscribe_url", "recipient"]
    assert missing_variables(needed, {"name": "Ann"}, provided_variables(user=True)) == ["order"]
    # `user` is there only for recipients addressed by user_id, unless the data carries one.
    assert missing_variables(needed, {"name": "Ann"}, provided_variables(user=False)) == ["order", "user"]
    assert missing_variables(needed, {"name": "Ann", "user": {}}, provided_variables(user=False)) == ["order"]
    assert missing_variables(needed, {}, provided=()) == sorted(needed)


def test_a_missing_user_names_the_two_ways_to_supply_one() -> None:
    (error,) = MissingVariables(["user"]).errors
    assert error.field == "data.user" and "user_id" in error.message


def test_missing_variables_is_an_error_naming_each_one() -> None:
    error = MissingVariables(["order", "name"])
    assert str(error) == "missing template variables: name, order"
    assert [e.field for e in error.errors] == ["data.name", "data.order"]


# -- Rendering


def test_html_is_escaped_in_email_html_only() -> None:
    content = {
        "channels": {
            "email": {"subject": "For {{ name }}", "html": "<p>Hi {{ name }}</p>"},
            "sms": {"body": "Hi {{ name }}"},
        }
    }
    data = {"name": "<b>Tom & Jerry</b>"}
    email = render(content, "email", data)
    assert email["html"] == "<p>Hi &lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p>"
    assert email["subject"] == "For <b>Tom & Jerry</b>"
    assert email["text"] == "Hi <b>Tom & Jerry</b>"
    assert render(content, "sms", data) == {"body": "Hi <b>Tom & Jerry</b>"}


def test_a_missing_variable_is_refused_not_rendered_empty() -> None:
    with pytest.raises(MissingVariables) as caught:
        render_sms("Hi {{ name }}, {{ order.id }}")
    assert caught.value.names == ["name", "order"]


def test_a_missing_attribute_fails_naming_the_field() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render_sms("{{ user.data.plan }}", user={"data": {}})
    assert caught.value.field == "channels.sms.body"
    assert "plan" in str(caught.value)


def test_every_field_of_the_channel_is_present_in_the_result() -> None:
    content = {
        "channels": {
            "push": {"title": "Hi {{ name }}", "data": {"order": "{{ order.id }}"}},
            "inapp": {"body": "Order {{ order.id }} shipped"},
            "email": {"subject": "Hi\n  {{ name }}", "text": "Plain {{ name }}"},
        }
    }
    data = {"name": "Ann", "order": {"id": 7}}
    assert render(content, "push", data) == {
        "title": "Hi Ann",
        "body": None,
        "data": {"order": "7"},
    }
    assert render(content, "inapp", data) == {
        "title": None,
        "body": "Order 7 shipped",
        "action_url": None,
        "data": {},
    }
    # A header field never carries a line break.
    assert render(content, "email", data) == {
        "subject": "Hi Ann",
        "text": "Plain Ann",
        "html": None,
    }


def test_a_literal_channel_renders_as_render_does_whatever_the_other_channels_hold() -> None:
    html = "<p>Disk <b>full</b></p>"
    content = {
        "channels": {"email": {"subject": "Disk\n  alert", "html": html}, "sms": {"body": "Disk {{ disk }} full"}},
        "locales": {"de": {"email": {"subject": "Platte voll", "text": "Platte voll"}}},
    }
    for locale in (None, "de-AT"):
        assert render_literal(content, "email", locale) == render(content, "email", {}, locale)
    assert render_literal(content, "email") == {"subject": "Disk alert", "text": "Disk full", "html": html}
    assert render_literal(content, "sms") is None  # a template: it needs the values
    with pytest.raises(TemplateRenderError, match="no push content"):
        render_literal(content, "push")
    with pytest.raises(TemplateLimitError):
        render_literal(sms("é" * MAX_OUTPUT_BYTES), "sms")


def test_webhook_bodies_render_every_string_and_keep_other_values() -> None:
    content = {"channels": {"webhook": {"body": {"event": "{{ kind }}", "n": 3, "tags": ["{{ a }}", True, None]}}}}
    assert render(content, "webhook", {"kind": "paid", "a": "<x>"}) == {
        "body": {"event": "paid", "n": 3, "tags": ["<x>", True, None]}
    }


def test_json_keys_win_over_dict_methods_and_null_prints_nothing() -> None:
    assert render_sms("{{ order.items|join(',') }}|{{ note }}", order={"items": [1, 2]}, note=None) == "1,2|"


def test_a_channel_the_template_lacks_is_an_error() -> None:
    with pytest.raises(TemplateRenderError, match="no email content"):
        render(sms("b"), "email", {})


def test_block_tags_leave_no_blank_lines_in_plain_text() -> None:
    assert render_sms("Items:\n{% for i in items %}\n- {{ i }}\n{% endfor %}\nBye", items=["a", "b"]) == (
        "Items:\n- a\n- b\nBye"
    )


# -- Email text from html


def test_email_text_is_derived_from_html_when_absent() -> None:
    content = {
        "channels": {
            "email": {
                "subject": "s",
                "html": "<p>Hi {{ name }},</p><p>Your   order\n is <b>ready</b>.</p>"
                '<p><a href="{{ url }}">Track it</a></p>',
            }
        }
    }
    rendered = render(content, "email", {"name": "Ann", "url": "https://x.test/t?a=1&b=2"})
    assert rendered["text"] == "Hi Ann,\n\nYour order is ready.\n\nTrack it (https://x.test/t?a=1&b=2)"


def test_html_to_text_keeps_structure_and_drops_markup() -> None:
    html = """<html><head><title>T</title><style>p {color: red}</style></head><body>
      <h1>Hello&nbsp;Ann &amp; co</h1>
      <p>Line one<br>Line two<br/>Line three</p>
      <ul><li>One</li><li>Two</li></ul>
      <table><tr><td>A</td><td>1</td></tr><tr><td>B</td><td>2</td></tr></table>
      <p><a href="https://x.test">https://x.test</a> <a href="#top">top</a></p>
      <script>alert(1)</script></body></html>"""
    assert html_to_text(html) == (
        "Hello Ann & co\n\nLine one\nLine two\nLine three\n\n- One\n- Two\n\nA 1\nB 2\n\nhttps://x.test top"
    )


# -- Locales


LOCALIZED = {
    "channels": {"sms": {"body": "Hello"}, "email": {"subject": "Hello", "text": "Hello"}},
    "locales": {"de": {"sms": {"body": "Hallo"}}, "de-ch": {"sms": {"body": "Grüezi"}}},
}


@pytest.mark.parametrize(
    ("locale", "body"),
    [
        ("de-AT", "Hallo"),
        ("de_AT", "Hallo"),
        ("DE", "Hallo"),
        ("de-CH", "Grüezi"),
        ("de_CH.UTF-8", "Grüezi"),
        ("fr-FR", "Hello"),
        ("", "Hello"),
        (None, "Hello"),
    ],
)
def test_the_locale_falls_back_from_region_to_language_to_default(locale: str | None, body: str) -> None:
    assert render(LOCALIZED, "sms", {}, locale) == {"body": body}


def test_a_locale_without_the_channel_uses_the_default_channel() -> None:
    assert pick_locale(LOCALIZED, "de-AT") == "de"
    assert render(LOCALIZED, "email", {}, "de-AT")["subject"] == "Hello"


# -- The sandbox


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ name.__class__.__base__ }}",
        "{{ range.__init__.__globals__ }}",
        "{{ range.__globals__['os'] }}",
        "{{ cycler.__init__.__globals__ }}",  # with cycler supplied as data: still a string
        "{{ '{0.__class__}'.format(name) }}",
        "{{ name.format_map({}) }}",
        "{{ 'x'.center(10) }}",
        "{{ '%s' % name }}",
        "{% for k in name.__dir__() %}{% endfor %}",
    ],
)
def test_attribute_walking_and_unlisted_calls_are_refused(source: str) -> None:
    with pytest.raises(TemplateSecurityError) as caught:
        render_sms(source, name="Ann", cycler="c")
    assert str(caught.value).startswith("channels.sms.body: ")


@pytest.mark.parametrize("name", ["cycler", "lipsum", "joiner", "namespace", "dict", "config", "request", "os"])
def test_jinja_globals_and_framework_objects_do_not_exist(name: str) -> None:
    with pytest.raises(MissingVariables) as caught:
        render_sms(f"{{{{ {name}.__init__ }}}}{{{{ {name}() }}}}")
    assert caught.value.names == [name]


def test_self_is_refused_even_in_content_that_skipped_validation() -> None:
    with pytest.raises(TemplateRenderError, match="'self' is not available"):
        render_sms("{{ self }}")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% for i in range(10**9) %}x{% endfor %}", "range() is limited"),
        ("{{ 'x' * 10**9 }}", "text longer than"),
        ("{{ 10**9 * 'x' }}", "text longer than"),
        ("{{ [0] * 10**9 }}", "list longer than"),
        ("{{ 2 ** 100000 }}", "number larger than"),
        (
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
            "loop iterations",
        ),
        ("{% for c in big %}{% for d in big %}{% endfor %}{% endfor %}", "loop iterations"),
        (
            "{% for c in big recursive %}{{ loop(big) if loop.depth < 4 }}{% endfor %}",
            "loop iterations",
        ),
        ("{% for i in range(300) %}{{ big }}{% endfor %}", "output larger than"),
        ("{% macro grow(s) %}{{ grow(s ~ s) }}{% endmacro %}{{ grow('x') }}", "text longer than"),
        (
            ("{% macro fork(n) %}{% if n %}{{ fork(n - 1) }}{{ fork(n - 1) }}{% endif %}{% endmacro %}{{ fork(60) }}"),
            "loop iterations and calls",
        ),
        (
            "{% macro m() %}{% for i in range(9000) %}{{ big }}{% endfor %}{% endmacro %}{{ m()|length }}",
            "characters of text",
        ),
        (
            "{% filter upper %}{% for i in range(9000) %}{{ big }}{% endfor %}{% endfilter %}",
            "characters of text",
        ),
        ("{% macro r() %}{{ r() }}{% endmacro %}{{ r() }}", "nest too deeply"),
        ("{{ ([big] * 300)|join }}", "text longer than"),
    ],
)
def test_runaway_templates_stop_fast_with_a_clear_error(source: str, message: str) -> None:
    profile = cProfile.Profile()
    with pytest.raises(TemplateLimitError, match=message.replace("(", r"\(").replace(")", r"\)")), profile:
        render_sms(source, big="x" * 1000)
    # Work counted in calls, not timed: a busy machine makes a render slower, not longer.
    assert sum(entry.callcount for entry in profile.getstats()) <= MAX_CALLS_PER_RUNAWAY


def test_output_up_to_the_limit_is_fine() -> None:
    body = render_sms("{% for i in range(n) %}{{ chunk }}{% endfor %}", n=256, chunk="é" * 512)
    assert len(body.encode()) == MAX_OUTPUT_BYTES


def test_what_templates_commonly_need_still_works() -> None:
    source = (
        "{{ name|title }} {{ name.upper() }} {{ items|length }} {{ items|join(', ') }} "
        "{% for i in items %}{{ loop.index }}{{ loop.cycle('a', 'b') }}{% endfor %} "
        "{{ prices.get('eur', 0) }} {% for k, v in prices.items() %}{{ k }}={{ v }}{% endfor %} "
        "{{ 'yes' if 'b' in items else 'no' }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ 'ab' * 2 }} {{ 'a' ~ 1 }}"
    )
    data = {"name": "ann lee", "items": ["a", "b"], "prices": {"eur": 5}}
    assert render_sms(source, **data) == "Ann Lee ANN LEE 2 a, b 1a2b 5 eur=5 yes 1 1024 abab a1"


# -- Filters


@pytest.mark.parametrize(
    ("source", "value", "expected"),
    [
        ("{{ v|date }}", "2026-03-01T09:30:00Z", "2026-03-01"),
        ("{{ v|date('%d.%m.%Y %H:%M') }}", "2026-03-01T09:30:00+00:00", "01.03.2026 09:30"),
        ("{{ v|date('%Y-%m-%d %H:%M') }}", 1767225600, "2026-01-01 00:00"),
        ("{{ v|date('%H:%M %Z', tz='Europe/Berlin') }}", "2026-07-01T10:00:00Z", "12:00 CEST"),
        ("{{ v|date('%H:%M', tz='Europe/Berlin') }}", "2026-01-01T10:00:00", "11:00"),
        ("{{ v|number }}", 1234567.891, "1,234,568"),
        ("{{ v|number(2) }}", 1234.5, "1,234.50"),
        ("{{ v|number(2) }}", 2.675, "2.68"),
        ("{{ v|number(2, '.', ',') }}", "1234567.5", "1.234.567,50"),
        ("{{ v|number(0, ' ') }}", -9876543, "-9 876 543"),
        ("{{ v|default('friend') }}", "", ""),
        ("{{ v|default('friend', true) }}", "", "friend"),
        ("{{ v|truncate(13) }}", "The quick brown fox", "The quick..."),
        ("{{ v|truncate(9, true, '…', 0) }}", "The quick brown fox", "The quic…"),
        ("{{ v|round(1) }}", 2.46, "2.5"),
        ("{{ v|upper }} {{ v|lower }}", "MiXed", "MIXED mixed"),
        ("{{ v|escape }}", "<&>", "&lt;&amp;&gt;"),
    ],
)
def test_filters(source: str, value: Any, expected: str) -> None:
    assert render_sms(source, v=value) == expected


@pytest.mark.parametrize(
    ("source", "value", "message"),
    [
        ("{{ v|date }}", "next tuesday", "neither ISO 8601 text nor epoch seconds"),
        ("{{ v|date(tz='Mars/Olympus') }}", "2026-01-01T00:00:00Z", "unknown time zone"),
        ("{{ v|number }}", "12abc", "is not a number"),
        ("{{ v|number }}", "1e999999999", "is not a number"),
        ("{{ v|number(10**6) }}", 1, "decimals must be"),
    ],
)
def test_filters_reject_what_they_cannot_format(source: str, value: Any, message: str) -> None:
    with pytest.raises(TemplateRenderError, match=message):
        render_sms(source, v=value)


# -- SMS analysis


@pytest.mark.parametrize(
    ("body", "encoding", "segments"),
    [
        ("", "GSM-7", 0),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("Grüße, Søren! ¿Qué? £5 @ Ä", "GSM-7", 1),
        # Extension characters take two septets each.
        ("€" * 80, "GSM-7", 1),
        ("€" * 81, "GSM-7", 2),
        ("a" * 159 + "{", "GSM-7", 2),
        ("[]{}\\~^|" * 10, "GSM-7", 1),
        # An escape pair never straddles two parts: 152 + 2 does not fit in 153.
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 3),
        ("ł" * 70, "UCS-2", 1),
        ("ł" * 71, "UCS-2", 2),
        ("a" * 134 + "ç", "UCS-2", 3),
        ("Hi `there`", "UCS-2", 1),
        # Characters beyond the BMP are two UTF-16 units.
        ("😀" * 35, "UCS-2", 1),
        ("😀" * 36, "UCS-2", 2),
    ],
)
def test_sms_encoding_and_segments(body: str, encoding: str, segments: int) -> None:
    assert sms_info(body) == {"encoding": encoding, "segments": segments, "characters": len(body)}
