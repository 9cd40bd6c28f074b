"""The fix-reference detector: precise both ways (documented fixes found, look-alikes not)."""

from __future__ import annotations

import pytest

from tests.claims.builders import attachment, bug, comment
from triage.rules.fix_documentation import find_fix_reference, references_in_text

DOCUMENTED = [
    ("Fixed in commit 1a2b3c4d5e6f.", "commit", "1a2b3c4d5e6f"),
    ("Fixed in 4.18 (commit 7c3f1e2)", "commit", "7c3f1e2"),
    ("pushed to staging as 9f8e7d6c", "commit", "9f8e7d6c"),
    ("merged as 1a2b3c4", "commit", "1a2b3c4"),
    ('Fixes: 0123abcd4567 ("x86/hvm: foo")', "commit", "0123abcd4567"),
    ("Reverted commit 0b1c2d3e4f", "commit", "0b1c2d3e4f"),
    ("https://xenbits.xen.org/gitweb/?p=xen.git;a=commit;h=abcdef1234", "url",
     "https://xenbits.xen.org/gitweb/?p=xen.git;a=commit;h=abcdef1234"),
    ("see https://github.com/unikraft/unikraft/pull/1234.", "url",
     "https://github.com/unikraft/unikraft/pull/1234"),
    ("https://gitlab.com/xen-project/xen/-/commit/0a1b2c3d4e5f", "url",
     "https://gitlab.com/xen-project/xen/-/commit/0a1b2c3d4e5f"),
    ("posted: https://lore.kernel.org/xen-devel/20261101.1234@example.org/", "url",
     "https://lore.kernel.org/xen-devel/20261101.1234@example.org/"),
    ("changeset 23456", "changeset", "23456"),
    ("c/s 21000:abcdef123456", "changeset", "21000:abcdef123456"),
    ("diff --git a/xen/arch/x86/hvm.c b/xen/arch/x86/hvm.c", "patch",
     "diff --git a/xen/arch/x86/hvm.c b/xen/arch/x86/hvm.c"),
    ("Reviewed-by: Jan Beulich <jbeulich@suse.com>", "trailer",
     "Reviewed-by: Jan Beulich <jbeulich@suse.com>"),
]

NOT_DOCUMENTED = [
    "fixed in 4.17.2",
    "fixed in xen 4.17.2 release",
    "fixed in latest",
    "commit 1234567",  # a bare number is not a commit
    "fixed in 4172021",
    "bug 12345 is fixed",
    "it is fixed now, thanks",
    "the commit message says abc",
    "fixed by defaced",  # a word made of hex letters
    "commit abc12",  # too short
    "fixed with 0x12345678a",
    "see https://example.org/commit/1a2b3c4d",  # an unknown site
    "Reviewed-by: Jan",  # no address: not a trailer
    "> diff --git is what you need",
]


@pytest.mark.parametrize(("text", "kind", "value"), DOCUMENTED)
def test_documented(text, kind, value):
    refs = references_in_text(text, "comment 1")
    assert refs, text
    assert (refs[0].kind, refs[0].value) == (kind, value)


@pytest.mark.parametrize("text", NOT_DOCUMENTED)
def test_not_documented(text):
    assert references_in_text(text, "comment 1") == []


def test_bot_comments_never_document_a_fix():
    b = bug(1, comments=[comment(1, 0, "alice@example.org", "crash"),
                         comment(1, 1, "bot@xen.example.org", "e.g. commit 1a2b3c4d")])
    assert find_fix_reference(b, ["bot@xen.example.org"]) is None
    assert find_fix_reference(b, []) is not None


def test_patch_attachment_counts_unless_obsolete():
    patch = attachment(1, 5, "fix.patch", content_type="text/plain")
    old = attachment(1, 6, "old.diff", content_type="text/plain", is_obsolete=True)
    log = attachment(1, 7, "xl-dmesg.txt", content_type="text/plain")
    assert find_fix_reference(bug(1, attachments=[log, old])) is None
    ref = find_fix_reference(bug(1, attachments=[log, old, patch]))
    assert ref is not None and ref.kind == "patch" and ref.where == "attachment 5"
    flagged = attachment(1, 8, "x", content_type="text/plain", is_patch=True)
    assert find_fix_reference(bug(1, attachments=[flagged])) is not None


def test_commit_beats_weaker_references_and_url_field_counts():
    b = bug(1, comments=[comment(1, 0, "a@example.org", "Signed-off-by: A <a@example.org>"),
                         comment(1, 1, "a@example.org", "commit 0a1b2c3d4e")])
    ref = find_fix_reference(b)
    assert ref is not None and ref.kind == "commit" and ref.where == "comment 1"
    via_url = bug(2, url="https://xenbits.xenproject.org/gitweb/?p=xen.git;h=0a1b2c3")
    ref = find_fix_reference(via_url)
    assert ref is not None and ref.where == "URL field"


HOSTILE_TEXTS = {
    "url runs": "http://" * 150_000,
    "xen.git runs": "https://x/xen.gi" * 60_000,
    "context words": "merged into staging as " * 45_000,
    "long tokens": ("landed in " + "a" * 5_000 + " ") * 200,
    "hex": "a1" * 500_000,
    "changesets": "c/s " * 250_000,
    "trailers": "Reviewed-by: " * 80_000,
    "diff lines": ("diff --git a/" + "x" * 1000 + "\n") * 1000,
    "markup": "<b>{{ 7*7 }}</b> [[Category:X]] '''y''' {% raw %}\r\n" * 20_000,
}


@pytest.mark.timeout(30)  # a quadratic pattern would take minutes on these
@pytest.mark.parametrize("name", sorted(HOSTILE_TEXTS))
def test_a_megabyte_of_hostile_text_is_scanned_quickly(name):
    text = HOSTILE_TEXTS[name]
    assert len(text) >= 900_000
    b = bug(1, comments=[comment(1, 0, "a@example.org", text)])
    ref = find_fix_reference(b)
    assert ref is None or len(ref.value) <= 400
