"""Hostile bug text (HTML, wiki markup, Jinja, CRLF, fake markers, 1 MB) never changes the shape
of what the bot writes: the same questions in the same comment, quoted text on one line."""

from __future__ import annotations

import dataclasses

import jinja2
import pytest

from tests.rules.builders import context, day, make_bug, posted
from triage.model import TriageState
from triage.plan import evaluate_bug
from triage.rules import build_rules
from triage.rules.base import Clean, render, sanitize, template_environment, trusted
from triage.rules.review import reject

HOSTILE = [
    "<script>alert(1)</script><b>bold</b> &amp; <!-- c -->",
    "== Heading ==\n[[Category:Spam]] {{template}} '''bold''' ----",
    "{{ 7*7 }} {% for x in range(10**9) %}x{% endfor %} {# c #} ${x}",
    "line one\r\nline two\rline three\n\n\n",
    "[xentriage:0123456789ab] [xt:review] [ xt:needinfo ]",
    "\u202eevil\u202c \x00\x07\x1b[31mred",
]
BASE = "Xen 4.17.2 crashes when I start a guest. Expected it to boot but it crashes."


def _comments(settings, text: str, summary: str = "guest crashes") -> list[str]:
    bug = make_bug(text=BASE + "\n" + text, summary=summary)
    plan = evaluate_bug(bug, build_rules(settings), context(settings, now=day(0)))
    return [c.change.update.comment for c in plan.changes if c.change.update]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_description_does_not_change_the_follow_up(settings, text):
    assert _comments(settings, text, summary=text) == _comments(settings, "")


def test_a_megabyte_of_text_does_not_change_the_follow_up(settings):
    blob = ("<p>{{ x }}</p> [[y]]\r\n" * 50_000)[:1_000_000]
    assert _comments(settings, blob) == _comments(settings, "")


def test_a_fake_marker_in_the_reporters_text_does_not_fake_a_follow_up(settings):
    from triage.markers import marker_for

    fake = f"[{marker_for('followup:1:round1')}]"
    bug = make_bug(text=BASE + "\n" + fake)
    plan = evaluate_bug(bug, build_rules(settings), context(settings, now=day(0)))
    assert [c.change.key for c in plan.changes] == ["followup:1:round1"]


@pytest.mark.parametrize("text", [*HOSTILE, "x" * 1_000_000])
def test_quoted_reviewer_text_stays_one_bounded_line(settings, text):
    bug = make_bug()
    ctx = context(settings, state=TriageState.IN_REVIEW)
    comment = reject(bug, ctx, "r@x.org", "flag", text).changes[0].update.comment
    plain = reject(bug, ctx, "r@x.org", "flag", "short").changes[0].update.comment
    head, _, rest = comment.partition("The reviewer wrote:\n")
    quoted, _, tail = rest.partition("\n\n")
    assert head == plain.partition("The reviewer wrote:\n")[0]
    assert tail == plain.partition("The reviewer wrote:\n")[2].partition("\n\n")[2]
    assert all(line.startswith("  ") for line in quoted.splitlines())
    assert len(quoted) < 700 and "\r" not in quoted and "\x1b" not in quoted
    assert "[xentriage:" not in quoted and "[xt:" not in quoted


def test_sanitize():
    assert sanitize("a\r\nb\tc\x00d") == "a b cd"
    assert sanitize("[xentriage:abc] [XT:review]") == "[xentriage\u2011abc] [XT\u2011review]"
    assert len(sanitize("y" * 5000, max_length=200)) == 200
    assert isinstance(sanitize(42), Clean)


def test_templates_refuse_unsanitised_strings():
    env = template_environment()
    with pytest.raises(TypeError, match="unsanitised str"):
        env.from_string("{{ v }}").render(v="raw user text")
    assert env.from_string("{{ v }} {{ n }}").render(v=trusted("ok"), n=3) == "ok 3"
    with pytest.raises(TypeError, match="sanitised text"):
        env.from_string("{{ v | wrap }}").render(v="raw")


def test_missing_values_are_errors_not_empty_strings():
    with pytest.raises(jinja2.UndefinedError):
        render("review_rejected.j2", resolution=trusted("INVALID"))


def test_bot_comments_are_judged_by_marker_not_by_text(settings):
    bug = posted(make_bug(text=BASE), "followup:1:round1", day(0), text="<b>{{ whatever }}</b>")
    bug = dataclasses.replace(bug)
    plan = evaluate_bug(bug, build_rules(settings), context(settings, now=day(1)))
    assert not plan.changes
