"""Unikraft checklist items: release, platform + architecture, configuration (console log and
steps are shared with Xen: :mod:`triage.completeness.detect_logs`,
:mod:`triage.completeness.detect_steps`).

* release: a release (v0.17.0, 0.18, RELEASE-0.19.0, ``version: v0.18.0`` in a Kraftfile), the
  boot banner ``Powered by Unikraft Calypso (0.17.0~ddc5bf7)``, or a commit id. "The staging
  branch" is not a release, nor a Kraftfile ``spec: v0.6`` or a KraftKit version.
* platform + arch: both (qemu/kvm, xen, linuxu, firecracker; x86_64, arm64, ...), e.g.
  ``qemu/x86_64``, ``--plat fc --arch x86_64`` or an image named ``app_qemu-x86_64``.
* configuration: a ``.config`` excerpt (two or more ``CONFIG_`` settings), a Kraftfile, the list
  of enabled libraries, or an attached ``.config`` / Kraftfile.
"""

from __future__ import annotations

import re

from triage.completeness.detect_xen import _FROM_BEFORE, _WORKED_AFTER, _quote, detect_arch
from triage.completeness.evidence import Evidence, Finding

_BANNER = re.compile(r"powered by unikraft[^\n(]{0,40}\((0\.\d{1,2}\.\d{1,3})"
                     r"(?:~([0-9a-f]{6,40}))?")
_RELEASE = re.compile(r"(?:\bunikraft(?:\s+\w+)?|\brelease|\bversion|\bv|\brelease-|\buk)"
                      r"[\s:=_-]{0,3}v?(0\.\d{1,2}(?:\.\d{1,3})?)(?![\w.]*\d)(?!\?)"
                      r"|(?<![\w.])v(0\.1\d(?:\.\d{1,3})?)\b")
_NOT_RELEASE_BEFORE = re.compile(r"(?:spec|kraft|kraftkit|kraftkit version|qemu|firecracker|"
                                 r"lwip|musl|newlib|python|node|go)\W{0,3}(?:version\W{0,2})?$")
_COMMIT = re.compile(r"\b(?:commit|unikraft at|at|version:|@|hash|head|rev|~)\s*([0-9a-f]{7,40})\b")

_PLATFORM = re.compile(r"(?<![\w-])(qemu|kvm|xen|linuxu|firecracker|fc|cloud-hypervisor|solo5|"
                       r"hyperkit|vmware|hyper-v)(?=[/\s,._-]|$)")
_PLAT_CTX = re.compile(r"--plat\s+(\w+)|plat=(\w+)|(\w+)/(?:x86_64|arm64|aarch64)|"
                       r"_(qemu|kvm|xen|linuxu|fc|firecracker)-|\b(?:platform|plateforme|"
                       r"plataforma|piattaforma|plattform|platforma)\W{1,3}(\w+)")

_KCONFIG = re.compile(r"\bconfig_[a-z0-9_]+(?:=|\s+is not set|\s+(?:enabled|disabled|set))")
_KRAFTFILE = re.compile(r"(?m)^\s*(?:spec:\s*v?\d|unikraft:|targets:|libraries:|kconfig:|"
                        r"runtime:|rootfs:|cmd:)")
_LIB_CUE = re.compile(r"(?:enabled\s+)?(?:libraries|libs|librerie|bibliothèques|bibliotecas|"
                      r"bibliotheken|biblioteki|bibliotek)(?:\s+(?:enabled|activées|abilitate|"
                      r"habilitadas|ativadas|aktiviert|ingeschakeld|włączone))?\s*:\s*"
                      r"((?:[^\n.]|\n(?!\n)|\.(?!\s)){1,300})"
                      r"|(?:enabled|with)\s+(?:the\s+)?(?:libraries\s+)?([^\n.]+)")
_LIB = re.compile(r"(?<![\w\[-])(?:lib-[a-z0-9-]+|uk[a-z0-9]{3,}|musl|newlib|lwip|vfscore|"
                  r"ramfs|9pfs|devfs|posix-[a-z-]+|virtio-[a-z]+|nolibc|pthread-embedded|"
                  r"compiler-rt|libcxx|libcxxabi|libunwind|openssl|zlib|sqlite|nginx|redis|"
                  r"python3?|lua|micropython|syscall[-_]shim|ukcpio|ukmmap)(?![\w\]-])")
_CONFIG_NAME = re.compile(r"(?:^|/)(?:\.config|defconfig|config|kraftfile(?:\.ya?ml)?|"
                          r"kraft\.ya?ml|[\w.-]*\.config|dot-config[\w.]*)$")


def detect_release(ev: Evidence) -> Finding:
    note = ""
    for src in ev.texts:
        low = src.lower
        m = _BANNER.search(low)
        if m:
            return Finding("release", True, f"Unikraft {m.group(1)}",
                           _quote(src.text, m.start(), m.end()), src.where)
        for m in _RELEASE.finditer(low):
            before = low[max(0, m.start() - 20):m.start()]
            if _NOT_RELEASE_BEFORE.search(before) or low[m.end():m.end() + 1] == "?":
                continue
            if _FROM_BEFORE.search(low[max(0, m.start() - 40):m.start()]) or \
                    _WORKED_AFTER.match(low, m.end()):
                note = note or "the release named is the one that worked, or upgraded from"
                continue
            value = m.group(1) or m.group(2)
            return Finding("release", True, f"Unikraft {value}",
                           _quote(src.text, m.start(), m.end()), src.where)
        for m in _COMMIT.finditer(low):
            sha = m.group(1)
            if re.search(r"\d", sha) and re.search(r"[a-f]", sha):
                return Finding("release", True, f"commit {sha}",
                               _quote(src.text, m.start(), m.end()), src.where)
        if re.search(r"\bstaging\b|\bmain branch\b|\bstable branch\b", low):
            note = note or "a branch name is not a release"
    return Finding("release", False, note=note)


def detect_platform_arch(ev: Evidence) -> Finding:
    arch = detect_arch(ev, "platform_arch")
    plat = ""
    where = quote = ""
    for src in ev.texts:
        low = src.lower
        m = _PLAT_CTX.search(low)
        cand = next((g for g in m.groups() if g), "") if m else ""
        if cand and _PLATFORM.match(cand + " "):
            plat, where, quote = cand, src.where, _quote(src.text, m.start(), m.end())  # type: ignore[union-attr]
            break
        m2 = _PLATFORM.search(low)
        if m2 and not plat:
            plat, where, quote = m2.group(1), src.where, _quote(src.text, m2.start(), m2.end())
            break
    if plat and arch.found:
        name = {"fc": "firecracker"}.get(plat, plat)
        return Finding("platform_arch", True, f"{name}/{arch.value}", quote, where)
    missing = "the architecture" if plat else "the platform" if arch.found else "both"
    return Finding("platform_arch", False, note=f"{missing} not given")


def detect_config(ev: Evidence) -> Finding:
    for a in ev.attachments:
        if _CONFIG_NAME.search(a.file_name.lower()) or re.search(
                r"\.config\b|kraftfile|defconfig|\bconfig(?:uration)?\b", a.summary.lower()):
            return Finding("config", True, f"an attached configuration ({a.file_name})",
                           a.file_name, f"attachment {a.file_name}")
    for src in ev.texts:
        low = src.lower
        hits = list(_KCONFIG.finditer(low))
        if len({h.group(0).split("=")[0] for h in hits}) >= 2:
            return Finding("config", True, ".config settings",
                           _quote(src.text, hits[0].start(), hits[0].end()), src.where)
        kraft = list(_KRAFTFILE.finditer(low))
        if len(kraft) >= 2:
            return Finding("config", True, "a Kraftfile",
                           _quote(src.text, kraft[0].start(), kraft[0].end()), src.where)
        for m in _LIB_CUE.finditer(low):
            span = m.group(1) or m.group(2) or ""
            libs = {x.group(0) for x in _LIB.finditer(span)}
            if len(libs) >= 2:
                return Finding("config", True, "the enabled libraries (" +
                               ", ".join(sorted(libs)) + ")",
                               _quote(src.text, m.start(), m.end()), src.where)
    return Finding("config", False)
