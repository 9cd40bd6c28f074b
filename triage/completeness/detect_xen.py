"""Xen checklist items: version, architecture, hardware, dom0 (read as a careful triager would).

* version: a concrete release (4.19.1, 4.18.3-pre, 4.19-rc3, a distro package version that embeds
  one, ``xen_version : 4.18.2``, the ``Xen-4.19.1`` of a crash banner) or a changeset id. Not:
  "latest", "staging", a bare series ("4.18"), a guess ("4.19.1?"), the version a reporter
  upgraded *from* or that "worked", or the version of the kernel, QEMU, GCC or a distribution.
* architecture: an explicit word (x86_64, amd64, arm64, aarch64, riscv64, ...), also inside a
  log (a compiler triplet, ``machine : x86_64``); a CPU or board model does not imply it, and the
  architecture of a guest's installer image is not the host's.
* hardware: a CPU model, a board or system model, a cloud instance type, or "nested under X".
* dom0: a distribution or a dom0 kernel version, unless the words are about a guest or an
  installer image.
"""

from __future__ import annotations

import re

from triage.completeness.evidence import Evidence, Finding

_VERSION = re.compile(r"(?<![\w.+~-])(?:v|xen-|xen_|xen)?([34]\.\d{1,2})(\.\d{1,3})?"
                      r"(-rc\d{1,2}|-pre|-unstable|-rc)?(?![\w]|\.\d)([^\s,;)]*)")
_XEN_BEFORE = re.compile(r"(?:xen(?:[ _-]?(?:version|ver|hypervisor|release|project))?|"
                         r"xen_version|hypervisor(?: version)?|xen-unstable|version(?: de)? xen|"
                         r"wersja xen|xen-version|versión de xen|versione di xen|versão do xen)"
                         r"\W{0,3}(?:is|=|:|v|version|versie)?\W{0,3}$")
_OTHER_BEFORE = re.compile(
    r"(?:kernel|linux|linux-lts|noyau|jądro|kern|debian|ubuntu|fedora|centos|rhel|gcc|clang|"
    r"qemu|python|glibc|libvirt|bios|firmware|uefi|grub|openssl|systemd|suse|sles|alpine|"
    r"freebsd|netbsd|openbsd|seabios|ovmf|edk2|binutils|opensbi|kraft|kraftkit|unikraft|"
    r"firecracker|qubes(?: os)?|xcp-ng|xenserver|leap|ocaml|perl|go|rust|lts|version of|"
    r"u-boot|uboot|tf-a|atf|libxl|spec|v8|bash)\W{0,3}(?:version\W{0,2})?$")
_FROM_BEFORE = re.compile(
    r"(?:upgrad\w*|updat\w*|migrat\w*|mov\w*|switch\w*|coming|came|aktualisiert|update|"
    r"mise à jour|actualic\w*|aggiorn\w*|atualiz\w*|bijgewerkt|zaktualizowa\w*)"
    r"[^.\n]{0,25}\b(?:from|von|de|da|van|z|desde)\s+(?:xen\W{0,2})?$|"
    r"\b(?:worked|works|working|was fine|fine|ok|okay|funktioniert\w*|funktionierte|unter|"
    r"fonctionn\w*|funcion\w*|funzion\w*|działa\w*|werkte|werkt|funcionava|previous(?:ly)?|"
    r"older|old|before|earlier|back to|downgrad\w*|revert\w*|bisect\w*|good)"
    r"[^.\n]{0,12}\b(?:with|on|in|under|mit|avec|con|sous|com|met|na|w|to)?\s*(?:xen\W{0,2})?$")
# A version followed by "worked" is the old one ("Con la 4.18.2 funzionava bene").
_WORKED_AFTER = re.compile(
    r"[^.\n]{0,25}?\b(?:worked|was working|was fine|works fine|worked fine|funktionierte|"
    r"lief|fonctionnait|marchait|funcionaba|funzionava|funcionava|werkte|działało|działał)\b")
_COMMIT = re.compile(r"\b(?:commit|changeset|cset|staging|master|unstable|at|@|git|rev|hash|"
                     r"head)\W{0,3}(?:is\s+|id\s+)?(?:\(\w+\s+)?([0-9a-f]{7,40})\b")


def detect_version(ev: Evidence) -> Finding:
    note = ""
    for src in ev.texts:
        low = src.lower
        for m in _VERSION.finditer(low):
            series, patch, suffix, tail = m.group(1), m.group(2), m.group(3) or "", m.group(4)
            before = low[max(0, m.start() - 40):m.start()]
            token = m.group(0)
            xen_ctx = bool(_XEN_BEFORE.search(before)) or token.startswith(("xen", "v"))
            if _FROM_BEFORE.search(before):
                note = note or f"{series}{patch or ''} is an older version (upgraded from, or " \
                               "the one that worked)"
                continue
            if _WORKED_AFTER.match(low, m.end()):
                note = note or f"{series}{patch or ''} is the version that worked"
                continue
            if tail.startswith("?") or low[m.end():m.end() + 2].strip().startswith("?"):
                note = note or f"{series}{patch or ''}? is a guess"
                continue
            concrete = bool(patch) or (suffix.startswith("-rc") and suffix != "-rc")
            if not concrete:
                if xen_ctx:
                    note = note or f"{series}{suffix} is a series, not a release"
                continue
            if not series.startswith("4") and not xen_ctx:
                continue
            if not xen_ctx and _OTHER_BEFORE.search(before):
                continue
            if re.match(r"-\d+-(?:amd64|arm64|generic|cloud|lts|rt)", tail):
                continue  # an old distro kernel such as 4.19.0-26-amd64
            value = f"Xen {series}{patch or ''}{suffix}"
            return Finding("version", True, value, _quote(src.text, m.start(), m.end()),
                           src.where)
        for m in _COMMIT.finditer(low):
            sha = m.group(1)
            if not (re.search(r"\d", sha) and re.search(r"[a-f]", sha)):
                continue
            return Finding("version", True, f"changeset {sha}",
                           _quote(src.text, m.start(), m.end()), src.where)
    return Finding("version", False, note=note)


def _quote(text: str, start: int, end: int, margin: int = 30) -> str:
    a = max(0, start - margin)
    b = min(len(text), end + margin)
    a = max(a, text.rfind("\n", 0, start) + 1)
    nl = text.find("\n", end)
    if nl != -1:
        b = min(b, nl)
    return text[a:b].strip()


_ARCH = re.compile(r"(?<![a-z0-9_])(x86[_-]64|x86-64|amd64|x64|i[3-6]86|arm64|aarch64|aarch32|"
                   r"armv[78](?:-?a|l)?|arm32|armhf|armel|riscv(?:64|32)?|risc-v|ppc64(?:le)?|"
                   r"x86)(?![a-z0-9_])")
_ARCH_CASED = re.compile(r"\bARM\b")


def detect_arch(ev: Evidence, item: str = "architecture") -> Finding:
    for src in ev.texts:
        low = src.lower
        for m in _ARCH.finditer(low):
            word = m.group(1)
            after = low[m.end():m.end() + 40]
            before = low[max(0, m.start() - 15):m.start()]
            if re.match(r"[\w.-]*\.(?:iso|img|qcow2|vhdx?|vmdk)\b", after):
                continue  # the architecture of a guest's installer image
            if word == "x86" and (after.startswith("/") or before.endswith("/")):
                continue  # a subsystem prefix (x86/hvm:) or a path (plat/kvm/x86/)
            if word.startswith("i") and before.endswith("qemu-system-"):
                continue  # Xen's device model is always qemu-system-i386
            return Finding(item, True, word, _quote(src.text, m.start(), m.end()), src.where)
        m2 = _ARCH_CASED.search(src.text)
        if m2:
            return Finding(item, True, "Arm", _quote(src.text, m2.start(), m2.end()), src.where)
    return Finding(item, False)


# Hardware: each alternative starts with one of _HW_WORDS, and is only tried where one of them
# starts (Source.at): a hundred alternatives tried at every position cost ten times more.
_HARDWARE = re.compile(
    r"(?:xeon\W+(?:gold|silver|platinum|bronze|e-?\d|e3|e5|e7|w-?\d|d-?\d|phi|[a-z]?\d{4})"
    r"[\w -]{0,12}|core\W*i[3579][- ]\d{3,5}\w*|core ultra \d\s?\d*\w*|i[3579]-\d{4,5}\w*|"
    r"celeron\W+\w*\d\w*|pentium\W+\w*\d\w*|atom\W+\w*\d\w*|n[123]\d{2}\b|n9[57]\b|"
    r"epyc\W+\d{4}\w*|ryzen\W+(?:threadripper\W+)?(?:pro\W+)?\d\W+(?:pro\W+)?\d{4}\w*|"
    r"threadripper(?:\W+pro)?\W+\d{4}\w*|opteron\W+\d+|athlon\W+\w*\d|"
    r"cortex-a\d+|neoverse[- ]\w+|ampere\W+altra|graviton\d?|raspberry\W?pi(?:\s?\d\w*)?|"
    r"rpi\s?[345]\b|i\.?\s?mx\s?\d\w*|imx\d\w*|zynq\w*|ultrascale|rk3\d{3}\w*|rockpro64|"
    r"pinebook|jetson\W+\w+|apple\W+m\d|odroid\W*\w*|hikey\w*|zcu1\d\d|r-car\W+\w+|"
    r"ls\d{4}a|poweredge\W+\w*\d|precision\W+(?:\w+\W+)?\d{4}|optiplex\W+\w*\d|"
    r"latitude\W+\d{4}|vostro\W+\d{4}|inspiron\W+\d|xps\W+\d+|thinkpad\W+\w+|"
    r"thinkcentre\W+\w+|thinkstation\W+\w+|thinksystem\W+\w+|proliant\W+\w+|"
    r"elitebook\W+\w+|elitedesk\W+\w+|prodesk\W+\w+|microserver\W+\w+|hpe?\W+z\d\w*|"
    r"supermicro\W+\w*\d|msi\W+(?:pro|mag|mpg|meg|modern|prestige|cubi|[bzxha]\d)\w*|"
    r"(?:asus|asrock|gigabyte)\W+(?:[\w-]+\W+){0,3}?\w*\d\w*|fujitsu\W+\w+|primergy\W+\w+|"
    r"esprimo\W+\w+|intel\W+nuc\W*\d*|nuc\s?\d+|framework\W+laptop|protectli\W+\w+|"
    r"hetzner\W+\w*\d+|lenovo\W+\w*\d\w*|dell\W+\w*\d\w*|hp\W+\w*\d\w*|qotom\W+\w+|"
    r"minisforum\W+\w+|beelink\W+\w+|radxa\W+\w+|model name\s*:|product name\s*:|"
    r"hardware name\s*:|dmi:\s*\w|standard_[a-z]\d+\w*|"
    r"nested\W+(?:under|in|on|inside|unter|sous|bajo|sotto|w|onder)\W+\w+|"
    r"verschachtelt\W+unter\W+\w+|imbriqué|anidado|annidat\w*|zagnieżdżon\w*|genest\w*|"
    r"(?:vmware|virtualbox|esxi|hyper-v|proxmox|parallels)\W+(?:\w+\W+)?\w*\d)")
_HW_WORDS = frozenset((
    "xeon core i3 i5 i7 i9 celeron pentium atom n100 n150 n200 n300 n305 n95 n97 epyc ryzen "
    "threadripper opteron athlon cortex neoverse ampere graviton graviton2 graviton3 graviton4 "
    "raspberry rpi rpi3 rpi4 rpi5 i imx8 imx8mp imx8mm imx8mq imx8mn imx93 imx95 zynq zynqmp "
    "ultrascale rk3399 rk3588 rk3588s rk3568 rk3566 rk3328 rk3288 rockpro64 pinebook jetson "
    "apple odroid hikey hikey960 hikey970 zcu102 zcu104 zcu106 zcu111 r ls1046a ls1028a "
    "ls1043a ls1088a ls2088a poweredge precision optiplex latitude vostro inspiron xps "
    "thinkpad thinkcentre thinkstation thinksystem proliant elitebook elitedesk prodesk "
    "microserver hp hpe supermicro msi asus asrock gigabyte fujitsu primergy esprimo intel nuc "
    "framework protectli hetzner lenovo dell qotom minisforum beelink radxa model product "
    "hardware dmi standard nested verschachtelt imbriqué anidado annidato annidata annidati "
    "zagnieżdżony zagnieżdżona zagnieżdżone zagnieżdżonej genest geneste genesteld vmware "
    "virtualbox esxi hyper proxmox parallels").split())
# An instance type ("c5.metal", "m6i.2xlarge", "e2-medium", "n2-standard-8"), found from its size.
_CLOUD = re.compile(r"\b(?:[cmrtizx]\d[a-z]{0,3}\.(?:metal|\d*x?large|medium|small)|"
                    r"[ne]2d?-(?:standard|highmem|highcpu|medium|small|micro)(?:-\d+)?)\b")
_CLOUD_WORDS = frozenset(("metal", "large", "xlarge", "medium", "small", "standard", "highmem",
                          "highcpu"))
_HARDWARE_LINE = re.compile(r"(?:hardware|hw|matériel|sprzęt|maschine|machine|board|mainboard|"
                            r"motherboard|carte mère|cpu|prozessor|processeur|procesador|"
                            r"processore|processador|procesor|system|server|host)\s*:\s*"
                            r"(\S[^\n]*\d[^\n]*)")
_HW_LINE_WORDS = frozenset(("hardware", "hw", "matériel", "sprzęt", "maschine", "machine", "board",
                  "mainboard", "motherboard", "carte", "cpu", "prozessor", "processeur",
                  "procesador", "processore", "processador", "procesor", "system", "server",
                  "host"))


def _line_start(low: str, pos: int) -> bool:
    return not low[low.rfind("\n", 0, pos) + 1:pos].strip(" \t-*#>|")


def detect_hardware(ev: Evidence) -> Finding:
    for src in ev.texts:
        low = src.lower
        for m in src.at(_HW_WORDS, _HARDWARE):
            value = src.text[m.start():m.end()].strip()
            return Finding("hardware", True, value, _quote(src.text, m.start(), m.end()),
                           src.where)
        if not _CLOUD_WORDS.isdisjoint(src.words):
            cloud = _CLOUD.search(low)
            if cloud:
                return Finding("hardware", True, src.text[cloud.start():cloud.end()],
                               _quote(src.text, cloud.start(), cloud.end()), src.where)
        for m in src.at(_HW_LINE_WORDS, _HARDWARE_LINE):
            if _line_start(low, m.start()) and re.search(r"[a-z]", m.group(1)):
                value = src.text[m.start(1):m.end(1)].strip()
                return Finding("hardware", True, value, _quote(src.text, m.start(), m.end()),
                               src.where)
    return Finding("hardware", False)


_DISTRO = re.compile(
    r"\b(debian|ubuntu|kubuntu|xubuntu|linux mint|fedora|centos(?: stream)?|rhel|red hat|rocky"
    r"(?: linux)?|alma ?linux|oracle linux|opensuse|tumbleweed|leap \d+|suse linux|sles|"
    r"arch ?linux|archlinux|arch aur|manjaro|endeavouros|gentoo|alpine|void linux|nixos|"
    r"qubes(?: os)?|xcp-ng|xenserver|citrix hypervisor|slackware|devuan|mageia|pop!_os|"
    r"amazon linux|yocto|poky|petalinux|buildroot|openembedded|freebsd|netbsd|openwrt|"
    r"clear linux|proxmox|bookworm|trixie|bullseye|buster|noble|jammy|focal|sid)\b")
_DISTRO_WORDS = frozenset((
    "debian ubuntu kubuntu xubuntu linux fedora centos rhel red rocky alma almalinux oracle "
    "opensuse tumbleweed leap suse sles arch archlinux manjaro endeavouros gentoo alpine void "
    "nixos qubes xcp xenserver citrix slackware devuan mageia pop amazon yocto poky petalinux "
    "buildroot openembedded freebsd netbsd openwrt clear proxmox bookworm trixie bullseye "
    "buster noble jammy focal sid").split())
_DOM0_WORDS = frozenset(("dom0", "domain", "dom", "host", "uname", "release", "noyau", "kernel",
                         "jądro", "kern"))
_KERNEL = re.compile(
    r"\b(\d\.\d{1,2}(?:\.\d{1,3})?[-._+~](?:[\w.+~-]*?)(?:amd64|arm64|generic|lts|rpi\w*|"
    r"gentoo\w*|arch\d\w*|manjaro|default|el\d\w*|fc\d+\w*|qubes\w*|amzn\w*|cloud\w*|"
    r"virtual|azure|aws|raspi|v8|v7l?|lowlatency|xen|dist|pve|mainline|zen\d?|hardened)\w*)")
_DOM0_KERNEL = re.compile(r"(?:dom0|domain-0|dom 0|host|uname -r|release\s+:|noyau|kernel|"
                          r"jądro|kern)\W{0,12}(?:kernel\W{1,3}|is\W{1,3}|version\W{1,3})?"
                          r"v?(\d\.\d{1,2}(?:\.\d{1,3})?\S*)")
_GUEST = re.compile(r"\b(?:guest|guests|domu|domus|vm|vms|hvm|pv|pvh|gast|gäste|gastes|"
                    r"invité|huésped|ospite|convidado|gość|gościa|installer|iso|image|"
                    r"netinst|live|template|appliance|container|unikernel)\b")
_DOM0 = re.compile(r"\b(?:dom0|domain-0|dom 0|host|hôte|anfitrión|l1 dom0|dom0s)\b")


_CLAUSE_END = re.compile(r"[.;!?](?=\s|$)|\n")


def _clause(low: str, start: int, end: int) -> str:
    """The clause around a match: from the last sentence end (or a comma shortly before) to
    the next sentence end. Version dots ("Debian 12.7") do not end a sentence."""
    window = low[max(0, start - 200):start]
    ends = [m.end() for m in _CLAUSE_END.finditer(window)]
    a = max(0, start - 200) + (ends[-1] if ends else 0)
    comma = low.rfind(",", max(a, start - 40), start)
    if comma != -1:
        a = comma + 1
    m = _CLAUSE_END.search(low, end)
    b = m.start() if m else len(low)
    return low[a:b]


def detect_dom0(ev: Evidence) -> Finding:
    note = ""
    for src in ev.texts:
        low = src.lower
        for m in src.at(_DOM0_WORDS, _DOM0_KERNEL):
            if "dom0" in m.group(0) or "uname" in m.group(0) or "release" in m.group(0) or \
                    _DOM0.search(_clause(low, m.start(), m.end())):
                return Finding("dom0", True, f"dom0 kernel {m.group(1).rstrip('),.')}",
                               _quote(src.text, m.start(), m.end()), src.where)
        for m in list(src.at(_DISTRO_WORDS, _DISTRO)) + list(_KERNEL.finditer(low)):
            after = low[m.end():m.end() + 30]
            if re.match(r"[\w.-]*\.(?:iso|img|qcow2)\b", after):
                note = note or "the distribution named is an installer image"
                continue
            if re.search(r"\bxl\s+[\w-]+\s+(?:-\w+\s+)*$", low[max(0, m.start() - 40):m.start()]):
                continue  # a domain's name on an xl command line
            clause = _clause(low, m.start(), m.end())
            if _GUEST.search(clause) and not _DOM0.search(clause):
                note = note or f"{m.group(1)} is the guest's, not dom0's"
                continue
            # A kernel string printed by a guest's console is the guest's, not dom0's.
            line_start = low.rfind("\n", 0, m.start()) + 1
            if m.re is _KERNEL and re.match(r"\s*\[\s*\d+\.\d+\]\s+linux version",
                                            low[line_start:m.start()]) and \
                    "dom0" not in low[max(0, line_start - 200):line_start]:
                continue
            value = src.text[m.start():m.end()]
            return Finding("dom0", True, value, _quote(src.text, m.start(), m.end()),
                           src.where)
    return Finding("dom0", False, note=note)
