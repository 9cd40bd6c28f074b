"""Publishing to a real MediaWiki (Debian's package, SQLite, ``php -S``): create, unchanged
re-publish (no edit), change, edit conflict, login failure, uploads, hostile text inert."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tests.digest.world import HOSTILE, NOW, bug, populate, standard_bugs
from wiki_export.publish import MediaWikiClient, WikiError
from wiki_export.refresh import refresh_wiki

PAGE = "Xen bugs/Weekly digest"


def test_publish_unchanged_change_and_conflict(store, settings_for, mediawiki):
    populate(store)
    settings = settings_for(mediawiki.toml())
    dry = refresh_wiki(settings, store, production=False, now=NOW)
    assert dry.publish.status == "dry-run" and mediawiki.page_text(PAGE) is None
    first = refresh_wiki(settings, store, production=True, now=NOW)
    assert first.publish.status == "created" and first.publish.file.exists()
    text = mediawiki.page_text(PAGE)
    assert text is not None and "#5]" in text and "1a2b3c4d5e" in text
    assert mediawiki.revisions(PAGE) == 1
    again = refresh_wiki(settings, store, production=True, now=NOW)
    assert again.publish.status == "unchanged" and mediawiki.revisions(PAGE) == 1
    populate(store, [bug(30, days=1, status="UNCONFIRMED", summary="brand new")])
    changed = refresh_wiki(settings, store, production=True, now=NOW)
    assert changed.publish.status == "edited" and mediawiki.revisions(PAGE) == 2
    assert "brand new" in (mediawiki.page_text(PAGE) or "")
    summary = mediawiki.api(action="query", prop="revisions", rvprop="comment",
                            titles=PAGE)["query"]["pages"]
    assert "week 2026-W49:" in str(summary)

    # Edit conflict: a human (another account: an anonymous editor) edits between our read
    # and our write. MediaWiki does not call an account's edit a conflict with itself.
    import mwclient

    class Interleaved(MediaWikiClient):
        def read(self):  # type: ignore[no-untyped-def]
            current, base = super().read()
            human = mwclient.Site(mediawiki.url.split("/")[2], path="/", scheme="http",
                                  force_login=False)
            time.sleep(1.1)  # MediaWiki's timestamps have one-second granularity
            human.pages[PAGE].edit("A human's note.\n" + current.replace("== ", "=== "),
                                   summary="human edit")
            return current, base

    populate(store, [bug(31, days=1, status="UNCONFIRMED", summary="another one")])
    with pytest.raises(WikiError, match=r"(?i)conflict"):
        refresh_wiki(settings, store, production=True, now=NOW,
                     client=Interleaved(settings))
    assert "A human's note." in (mediawiki.page_text(PAGE) or "")  # nothing lost
    assert "another one" in first.publish.file.read_text()  # the file copy has it
    retried = refresh_wiki(settings, store, production=True, now=NOW)
    assert retried.publish.status == "edited"
    assert "another one" in (mediawiki.page_text(PAGE) or "")


def test_login_failure_is_a_clear_error(store, settings_for, mediawiki, monkeypatch):
    populate(store)
    settings = settings_for(mediawiki.toml())
    monkeypatch.setenv("XT_TEST_WIKI_PASSWORD", "wrong-password")
    with pytest.raises(WikiError) as info:
        refresh_wiki(settings, store, production=True, now=NOW)
    assert "login" in str(info.value) and "wrong-password" not in str(info.value)
    assert not info.value.retryable and mediawiki.page_text(PAGE) is None


def test_hostile_text_renders_inert_and_chart_uploads(store, settings_for, mediawiki):
    populate(store, standard_bugs(summary=HOSTILE))
    settings = settings_for(mediawiki.toml(uploads=True))
    out = refresh_wiki(settings, store, production=True, now=NOW)
    assert out.publish.status == "created" and out.publish.chart_uploaded
    html = mediawiki.parsed_html(PAGE)
    assert "<script" not in html
    import html as htmllib

    # Legible: the reader sees the very characters of the summary, as text.
    assert "<script>alert(1)</script> [[Category:x]] {{template}}" in htmllib.unescape(html)
    assert "Category:x" not in " ".join(mediawiki.categories(PAGE))
    assert mediawiki.categories(PAGE) == []  # no category, no template transcluded
    text = mediawiki.page_text(PAGE) or ""
    assert "~~~~" not in text and "[[User:" not in text  # no signature expanded
    assert 'id="toc"' not in html or "__NOTOC__" not in text
    assert "Xen_bugs_weekly_trend.png" in html or "Xen bugs weekly trend.png" in html
    # The same chart again is not uploaded again.
    later = refresh_wiki(settings, store, production=True, now=NOW + timedelta(seconds=1))
    assert not later.publish.chart_uploaded
