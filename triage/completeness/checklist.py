"""What a bug report holds: one detector per checklist item, reading only the reporter's words.

Precision matters both ways: a false "present" lets an unusable report through to developers, a
false "missing" asks a reporter for what they already gave (the surest way to lose them). The
detectors (:mod:`triage.completeness.detect_xen`, :mod:`~triage.completeness.detect_steps`,
:mod:`~triage.completeness.detect_logs`, :mod:`~triage.completeness.detect_unikraft`) follow
the definitions of what counts as present that the labelled corpus in ``tests/corpus`` is scored
against; each returns a :class:`~triage.completeness.evidence.Finding` with the quoted span and
where it came from, so the follow-up can say what was found and ``xentriage explain`` can show why.

Only the reporter's own words count (:func:`~triage.completeness.evidence.gather`): the summary, the
description, the reporter's later comments and attachments (name, description, type). Never
other users' comments, never the Bugzilla version field.

All detectors are linear regular expressions (no nested quantifiers) over a bounded text, and
none of them interprets markup: HTML or wiki syntax is just text here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from triage.completeness.detect_logs import detect_logs
from triage.completeness.detect_steps import detect_expected_actual, detect_steps
from triage.completeness.detect_unikraft import detect_config, detect_platform_arch, detect_release
from triage.completeness.detect_xen import detect_arch, detect_dom0, detect_hardware, detect_version
from triage.completeness.evidence import Evidence, Finding, gather
from triage.model import Bug

__all__ = ["DEFAULT_CHECKLISTS", "ITEMS", "Assessment", "Evidence", "Finding", "Item", "assess",
           "checklist_for", "gather", "has_xen_version", "labels"]


def has_xen_version(ev: Evidence) -> bool:
    return detect_version(ev).found


def _console_log(ev: Evidence) -> Finding:
    return detect_logs(ev, "console_log")


def _platform_only(ev: Evidence) -> Finding:
    found = detect_platform_arch(ev)
    if found.found:
        return Finding("platform", True, found.value.split("/")[0], found.quote, found.where)
    return Finding("platform", "architecture" in found.note, note=found.note)


@dataclass(frozen=True)
class Item:
    """A checklist item: what the bot checks, and how it asks a reporter for it."""

    name: str
    label: str  # short, for decisions and the plan
    ask: str  # one sentence to the reporter, in their terms
    detect: Callable[[Evidence], Finding]

    def present(self, ev: Evidence) -> bool:
        return self.detect(ev).found


ITEMS: dict[str, Item] = {item.name: item for item in (
    Item("version", "Xen version",
         "Which Xen version are you running? The number matters, e.g. 4.17.2 (`xl info` shows "
         "it as xen_version); \"latest\" changes over time, so it is not enough.",
         detect_version),
    Item("architecture", "architecture",
         "Which CPU architecture is this: x86_64 or arm64 (aarch64), or another?",
         detect_arch),
    Item("hardware", "hardware or platform",
         "What hardware does it run on: the machine or board model and the CPU (for example "
         "\"Dell PowerEdge R740, Intel Xeon Gold 6230\"), or the VM if Xen runs nested?",
         detect_hardware),
    Item("dom0", "dom0 kernel or distribution",
         "Which dom0 do you use: the distribution and its kernel version (`uname -r` in dom0)?",
         detect_dom0),
    Item("steps", "steps to reproduce",
         "What exactly do you do to make it happen? Numbered steps with the commands you run "
         "(and the guest configuration, if a guest is involved) let a developer repeat it.",
         detect_steps),
    Item("expected_actual", "expected vs actual behaviour",
         "What did you expect to happen, and what happened instead?",
         detect_expected_actual),
    Item("logs", "logs",
         "Please attach the logs: the output of `xl dmesg` and, if the host crashes or hangs, "
         "the serial console. Attaching them as a file is easiest.",
         detect_logs),
    Item("release", "Unikraft release",
         "Which Unikraft release do you use (e.g. 0.17.0), or which commit if you build from "
         "git?",
         detect_release),
    Item("platform", "platform",
         "Which platform do you run the unikernel on: KVM (QEMU or Firecracker), Xen or linuxu?",
         _platform_only),
    Item("platform_arch", "platform and architecture",
         "Which platform and architecture do you build and run for, e.g. qemu/x86_64, "
         "fc/x86_64, xen/arm64 or linuxu/x86_64?",
         detect_platform_arch),
    Item("config", "configuration (.config, Kraftfile or enabled libraries)",
         "Please attach the build configuration: the `.config` of the build or your Kraftfile "
         "(or at least the list of libraries you enabled).",
         detect_config),
    Item("console_log", "console log",
         "Please attach the console output of the failing boot or run (everything from the "
         "start).",
         _console_log),
)}

XEN_ITEMS = ["version", "architecture", "hardware", "dom0", "steps", "expected_actual", "logs"]
UNIKRAFT_ITEMS = ["release", "platform_arch", "config", "console_log", "steps"]
DEFAULT_CHECKLISTS: dict[str, list[str]] = {
    "Xen": list(XEN_ITEMS),
    "Xen/Hypervisor": list(XEN_ITEMS),
    "Xen/Tools": list(XEN_ITEMS),
    # Unikraft as a component of the Xen product gets the Unikraft checklist, not dom0/hardware.
    "Xen/Unikraft": list(UNIKRAFT_ITEMS),
    "Unikraft": list(UNIKRAFT_ITEMS),
    "*": ["steps", "expected_actual", "logs"],
}


def checklist_for(checklists: dict[str, list[str]], product: str, component: str) -> tuple[
        str, list[str]]:
    """The most specific checklist: ``Product/Component``, then ``Product``, then ``*``."""
    for key in (f"{product}/{component}", product, "*"):
        if key in checklists:
            return key, checklists[key]
    return "", []


@dataclass(frozen=True)
class Assessment:
    checklist: str
    present: tuple[str, ...]
    missing: tuple[str, ...]
    findings: tuple[Finding, ...] = ()

    def evidence(self) -> dict[str, dict[str, object]]:
        """Per item, what was found (or why not) and where: stored with the decision."""
        return {f.item: f.as_dict() for f in self.findings}

    @property
    def complete(self) -> bool:
        return not self.missing


def assess(bug: Bug, checklists: dict[str, list[str]], bots: Iterable[str] = ()) -> Assessment:
    key, names = checklist_for(checklists, bug.product, bug.component)
    ev = gather(bug, bots)
    present: list[str] = []
    missing: list[str] = []
    findings: list[Finding] = []
    for name in names:
        found = ITEMS[name].detect(ev)
        if found.item != name:  # a shared detector (logs for console_log): name it as asked
            found = Finding(name, found.found, found.value, found.quote, found.where, found.note)
        findings.append(found)
        (present if found.found else missing).append(name)
    return Assessment(key, tuple(present), tuple(missing), tuple(findings))


def labels(names: Sequence[str]) -> list[str]:
    return [ITEMS[n].label for n in names]
