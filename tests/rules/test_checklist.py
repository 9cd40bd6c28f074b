"""The checklist detectors: precise both ways (present is present, a mention is not evidence)."""

from __future__ import annotations

import time

import pytest

from tests.rules.builders import BOT, COMPLETE_XEN, add_comment, attach, make_bug
from triage.completeness.checklist import DEFAULT_CHECKLISTS, assess, gather, has_xen_version

XEN = DEFAULT_CHECKLISTS


def missing(bug, bots=(BOT,)):
    return list(assess(bug, XEN, bots).missing)


@pytest.mark.parametrize(("text", "present"), [
    ("Running Xen 4.17.2 here", True),
    ("4.17.2", True),
    ("xen_version : 4.18.0", True),
    ("hypervisor version 4.19-rc3", True),
    ("Built xen-unstable at commit 1a2b3c4d5e", True),
    ("I use the latest Xen", False),
    ("the newest one from git", False),
    ("Linux 4.19 in dom0", False),  # a kernel version is not the Xen version
    ("Debian 12 with kernel 6.1.0", False),
    ("gcc 12.2 and QEMU 8.1", False),
])
def test_xen_version_precision(text, present):
    assert has_xen_version(gather(make_bug(text=text, summary="x"))) is present


def test_version_field_never_counts():
    # Issue #10: the Bugzilla version drop-down is a required field, so it says nothing; only
    # the reporter's words count (this test asserted the opposite before).
    assert not has_xen_version(gather(make_bug(text="x", summary="x", version="4.18.2")))
    assert not has_xen_version(gather(make_bug(text="x", summary="x", version="unspecified")))


def test_complete_xen_report_has_every_item():
    assert missing(make_bug(text=COMPLETE_XEN)) == []


def test_vague_report_misses_everything_it_lacks():
    bug = make_bug(text="It crashes with latest Xen, please fix.", summary="crash")
    assert missing(bug) == ["version", "architecture", "hardware", "dom0", "steps",
                            "expected_actual", "logs"]


def test_xl_dmesg_paste_counts_as_logs_but_a_mention_does_not():
    base = COMPLETE_XEN.split("(XEN)")[0]
    assert "logs" in missing(make_bug(text=base + "\nI checked xl dmesg, nothing there."))
    paste = base + "\n$ xl dmesg\n(XEN) Brought up 8 CPUs\n(XEN) Dom0 has maximum 2 VCPUs\n"
    assert "logs" not in missing(make_bug(text=paste))


def test_log_attachment_counts_as_logs():
    base = COMPLETE_XEN.split("(XEN)")[0]
    bug = attach(make_bug(text=base), "serial-console.txt", "serial log of the crash")
    assert "logs" not in missing(bug)
    patch = attach(make_bug(text=base), "fix.patch", "a fix", is_patch=True)
    assert "logs" in missing(patch)


def test_later_comments_count_but_the_bots_own_do_not():
    bug = make_bug(text=COMPLETE_XEN.replace("Xen 4.17.2 on", "Xen on").replace(
        "(XEN) Xen version 4.17.2 (Debian 4.17.2+76-ge1f9cb16e2-1~deb12u1)\n", ""))
    assert "version" in missing(bug)
    # The bot's own follow-up quotes "e.g. 4.17.2": that must not count as the answer.
    asked = add_comment(bug, "Which Xen version? e.g. 4.17.2", author=BOT)
    assert "version" in missing(asked)
    answered = add_comment(asked, "It is 4.18.1.")
    assert "version" not in missing(answered)


def test_steps_need_more_than_a_command_in_the_summary():
    bug = make_bug(text="Expected it to work but it fails.", summary="xl create hangs")
    assert "steps" in missing(bug)
    bug = make_bug(text="To reproduce:\nxl create guest.cfg\n", summary="x")
    assert "steps" not in missing(bug)


def test_expected_vs_actual_needs_both_halves():
    assert "expected_actual" in missing(make_bug(text="Expected the guest to boot.", summary="x"))
    assert "expected_actual" not in missing(
        make_bug(text="Expected the guest to boot, but it hangs instead.", summary="x"))


def test_unikraft_checklist():
    # Issue #10: the Unikraft checklist has a steps item and one "platform and arch" item.
    text = ("Unikraft 0.17.0 on kvm, x86_64. Steps: kraft build, then kraft run.\n" + "".join(
        f"CONFIG_LIB{i}=y\n" for i in range(4)) + "Powered by Unikraft\n[    0.100] ERR: boom\n")
    bug = make_bug(text=text, product="Unikraft", component="Unikraft", summary="x")
    assert assess(bug, XEN).complete
    vague = make_bug(text="it does not boot", product="Unikraft", summary="x")
    assert list(assess(vague, XEN).missing) == ["release", "platform_arch", "config",
                                                "console_log", "steps"]
    kraftfile = attach(vague, "Kraftfile")
    assert "config" not in assess(kraftfile, XEN).missing


def test_component_checklist_beats_product_and_star_catches_the_rest():
    lists = {"Xen": ["version"], "Xen/Tools": ["steps"], "*": ["logs"]}
    assert assess(make_bug(component="Tools"), lists).checklist == "Xen/Tools"
    assert assess(make_bug(component="Hypervisor"), lists).checklist == "Xen"
    assert assess(make_bug(product="Other"), lists).checklist == "*"


def test_a_megabyte_of_text_is_judged_quickly():
    blob = ("A" * 70 + "\n") * 15_000 + "4.17.2 <b>expected</b> {{ x }} [[wiki]]\r\n" * 10
    bug = make_bug(text=blob, summary="x")
    start = time.perf_counter()
    result = assess(bug, XEN)
    assert time.perf_counter() - start < 1.0
    assert "version" in result.present
