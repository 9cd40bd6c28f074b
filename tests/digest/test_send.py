"""The digest mail through a real SMTP session (aiosmtpd): MIME tree, headers, 72 columns, a
text part that stands alone; sent once per week across re-runs, an SMTP outage and a crash."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from reports.send import hold, pending_retry, send_digest
from tests.digest.world import HOSTILE, NOW, bug, populate, standard_bugs
from wiki_export.markup import render_wiki


def _settings(settings_for, smtp_server, extra: str = ""):
    return settings_for(smtp_server.toml() + '\n[digest]\nto = ["xen-devel@example.org"]\n'
                        'max_entries = 2\nwiki_url = "https://wiki.example.org/Digest"\n' + extra)


def test_digest_mail_over_smtp(store, settings_for, smtp_server):
    populate(store, standard_bugs() + [bug(20 + i, days=3 + i, whiteboard="[xt:open-for-dev]")
                                       for i in range(4)])
    settings = _settings(settings_for, smtp_server)
    outcome = send_digest(settings, store, production=True, now=NOW)
    assert outcome.status == "sent", outcome.error
    (msg,) = smtp_server.wait_for(1)
    assert msg.get_content_type() == "multipart/alternative"
    text, related = msg.get_payload()
    assert text.get_content_type() == "text/plain"  # first: the part list readers see
    assert related.get_content_type() == "multipart/related"
    html, image = related.get_payload()
    assert html.get_content_type() == "text/html" and image.get_content_type() == "image/png"
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html.get_content()
    assert not re.search(r'src="(?!cid:)', html.get_content())  # no remote resources
    assert msg["Auto-Submitted"] == "auto-generated" and msg["Precedence"] == "bulk"
    assert msg["Message-ID"] and msg["Date"]
    assert "2026-W49" in msg["Subject"] and "open" in msg["Subject"]
    body = text.get_content()
    assert all(len(line) <= 72 for line in body.splitlines())
    # Standalone: every section, the counts and the footer are in the text part itself.
    for needle in ("Needs a developer", "Claimed", "New this week", "Fixed this week",
                   "Waiting on reporters", "In review", "CI failures", "#triage claim N",
                   "[no-nag]", "more on the wiki page: https://wiki.example.org/Digest",
                   "STALE", "fix: commit 1a2b3c4d5e"):
        assert needle in body, needle
    assert "\n-- \n" in body
    # Once per week: a re-run sends nothing.
    assert send_digest(settings, store, production=True, now=NOW).status == "already-sent"
    assert len(smtp_server.messages) == 1


def test_smtp_down_at_send_time_then_sent_once(store, settings_for, smtp_server):
    populate(store)
    settings = _settings(settings_for, smtp_server)
    smtp_server.stop()
    down = send_digest(settings, store, production=True, now=NOW)
    assert down.status == "failed" and "cannot send" in down.error
    assert pending_retry(store, "2026-W49")  # the service's retry job will send it
    smtp_server.start()
    assert send_digest(settings, store, production=True, now=NOW).status == "sent"
    assert send_digest(settings, store, production=True, now=NOW).status == "already-sent"
    assert len(smtp_server.wait_for(1)) == 1


def test_crash_between_sending_and_recording_sends_no_second_mail(store, settings_for,
                                                                  smtp_server, monkeypatch):
    populate(store)
    settings = _settings(settings_for, smtp_server)
    import triage.store.actions as actions

    real = actions.mark_sent

    def crash(*args, **kwargs):
        raise SystemExit("killed after the SMTP session, before the ledger said so")

    monkeypatch.setattr(actions, "mark_sent", crash)
    with pytest.raises(SystemExit):
        send_digest(settings, store, production=True, now=NOW)
    monkeypatch.setattr(actions, "mark_sent", real)
    assert len(smtp_server.wait_for(1)) == 1
    # Right after, the claim is fresh: it could be another service still sending.
    assert send_digest(settings, store, production=True, now=NOW).status == "busy"
    assert pending_retry(store, "2026-W49", now=datetime.now(UTC) + timedelta(hours=1))
    later = send_digest(settings, store, production=True, now=NOW, stale_after=timedelta(0))
    assert later.status == "recovered"
    assert send_digest(settings, store, production=True, now=NOW).status == "already-sent"
    assert len(smtp_server.messages) == 1
    assert not pending_retry(store, "2026-W49", now=datetime.now(UTC) + timedelta(hours=1))


def test_two_services_sending_at_once_send_one_mail(store, settings_for, smtp_server):
    populate(store)
    settings = _settings(settings_for, smtp_server)
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def service() -> None:
        barrier.wait()
        outcomes.append(send_digest(settings, store, production=True, now=NOW).status)

    threads = [threading.Thread(target=service) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes).count("sent") == 1, outcomes
    assert set(outcomes) <= {"sent", "busy", "already-sent"}, outcomes
    time.sleep(0.5)
    assert len(smtp_server.messages) == 1


def test_hold_dry_run_and_no_change_skip(store, settings_for, smtp_server):
    populate(store)
    settings = _settings(settings_for, smtp_server, 'no_change = "skip"\n')
    dry = send_digest(settings, store, production=False, now=NOW)
    assert dry.status == "dry-run" and dry.path is not None and dry.path.exists()
    assert "dry-run" in str(dry.path) and smtp_server.messages == []
    assert hold(store, "2026-W49")
    assert send_digest(settings, store, production=True, now=NOW).status == "held"
    assert smtp_server.messages == []
    assert send_digest(settings, store, production=True,
                       now=NOW - timedelta(days=7)).status == "sent"
    # Bug 4 was filed since W48: W50 differs and is sent; W51 has nothing new: skipped.
    assert send_digest(settings, store, production=True,
                       now=NOW + timedelta(days=7)).status == "sent"
    assert send_digest(settings, store, production=True,
                       now=NOW + timedelta(days=14)).status == "skipped"
    assert len(smtp_server.messages) == 2


def test_hostile_strings_are_inert_everywhere(store, settings_for, smtp_server):
    populate(store, standard_bugs(summary=HOSTILE))
    settings = _settings(settings_for, smtp_server)
    assert send_digest(settings, store, production=True, now=NOW).status == "sent"
    (msg,) = smtp_server.wait_for(1)
    text, related = msg.get_payload()
    body = text.get_content()
    html = related.get_payload()[0].get_content()
    assert all(len(line) <= 72 for line in body.splitlines())
    assert "\u202e" not in body and "\u202e" not in html
    assert "\nBcc:" not in body and msg["Bcc"] is None
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "…" in body  # the long summary is cut with an ellipsis
    assert "2026-W49" in msg["Subject"] and "script" not in msg["Subject"]
    from reports.compose import build_model

    wiki = render_wiki(build_model(settings, store, now=NOW))
    for bad in ("<script", "[[Category", "{{template", "</nowiki>", "~~~~", "__NOTOC__",
                "\r", "\u202e"):
        assert bad not in wiki, bad


def test_long_summaries_hostile_names_and_preface(store, settings_for, smtp_server, tmp_path):
    preface = tmp_path / "preface.txt"
    preface.write_text("<b>Release week</b>: please look at [[Category:x]] {{t}}.\r\n\r\n"
                       "Second \u202eparagraph " + "Z" * 120 + "\n", encoding="utf-8")
    bugs = [*standard_bugs(), bug(50, days=1, status="UNCONFIRMED", summary="x" * 10_000),
            bug(51, days=3, status="IN_PROGRESS", summary="claimed by a hostile name",
                assigned="evil\u202e<script>@example.org")]
    populate(store, bugs)
    settings = _settings(settings_for, smtp_server, f'preface_file = "{preface}"\n')
    assert send_digest(settings, store, production=True, now=NOW).status == "sent"
    (msg,) = smtp_server.wait_for(1)
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert all(len(line) <= 72 for line in text.splitlines())
    assert "Release week" in text.splitlines()[2]  # the preface comes first
    assert len(text) < 20_000 and "x" * 60 in text and "x…" in text  # cut, not 10,000 chars
    assert "<b>Release week</b>" not in html and "&lt;b&gt;Release week" in html
    assert "\u202e" not in text + html and "<script>@" not in html


def test_no_change_week_sends_a_short_mail_and_preview_goes_to_the_maintainer(
        store, settings_for, smtp_server):
    populate(store, [bug(1, days=40, whiteboard="[xt:open-for-dev]")])
    settings = _settings(settings_for, smtp_server, 'maintainer = "lead@example.org"\n')
    preview = send_digest(settings, store, production=True, now=NOW - timedelta(days=7),
                          preview=True)
    assert preview.status == "sent"
    (first,) = smtp_server.wait_for(1)
    assert first["To"] == "lead@example.org" and first["Subject"].startswith("[preview] ")
    assert send_digest(settings, store, production=True,
                       now=NOW - timedelta(days=7)).status == "sent"
    quiet = send_digest(settings, store, production=True, now=NOW)
    assert quiet.status == "sent"
    msgs = smtp_server.wait_for(3)
    assert msgs[2]["Subject"].endswith("no change")
    body = msgs[2].get_body(("plain",)).get_content()
    assert "Nothing changed since the last digest." in body and "Needs a developer" not in body
