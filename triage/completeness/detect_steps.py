"""Steps to reproduce and expected vs actual behaviour, in prose or structured, in the common
European languages (en, de, fr, es, it, pt, nl, pl).

Steps count when they say what was run or done, enough to retry: a steps heading with content, a
numbered list, a bulleted list of actions, a command at a prompt or in backticks, or prose that
narrates actions ("First I start ... then ...", "When I run ...", "Migrating a 64 GB guest with
xl migrate ..."). Not steps: two lines that merely start with a command word ("xl list shows
..."), a symptom without its trigger ("it crashes randomly after a while"), or "xl create with my
config" when the configuration is nowhere in the report.

Expected vs actual needs both: a symptom, and what should have happened (or "it worked with
4.18.2"). "It is slow" alone is not enough.
"""

from __future__ import annotations

import re

from triage.completeness.evidence import Evidence, Finding, Source

_HEADING = re.compile(
    r"(?m)^\W{0,6}(?:steps?(?: to (?:reproduce|repro|trigger))?|to reproduce|how to reproduce|"
    r"reproduc(?:e|tion|ing)(?: steps| it)?|repro(?: steps)?|how i get there|procedure|"
    r"what i did|what i do|schritte(?: zum reproduzieren)?|zum reproduzieren|reproduktion|"
    r"ablauf|vorgehen|vorgehensweise|pour reproduire|étapes(?: pour reproduire)?|reproduction|"
    r"procédure|pasos(?: para reproducir)?|para reproducir|reproducción|procedimiento|passi"
    r"(?: per riprodurre)?|per riprodurre|riproduzione|procedura|kroki(?: do odtworzenia| "
    r"reprodukcji)?|aby odtworzyć|odtworzenie|stappen(?: om te reproduceren)?|om te "
    r"reproduceren|reproductie|passos(?: para reproduzir)?|para reproduzir|reprodução)"
    r"\s*(?::|-{3,}|\n|$)\s*(\S[^\n]{2,})?")
_NUMBERED = re.compile(r"(?m)(?:^|\s)(?:1[.)]|step 1|\(1\))\s+\S[^\n]*?(?:\n[^\n]*?){0,6}?"
                       r"(?:^|\s)(?:2[.)]|step 2|\(2\))\s+\S")
_BULLET = re.compile(r"(?m)^\s*[-*•]\s+(\w+)[^\n]*\n\s*[-*•]\s+(\w+)")
_ACTION_WORD = re.compile(
    r"(?:boot|run|start|create|install|build|compile|plug|press|close|open|add|set|pass|type|"
    r"execute|launch|enable|disable|wait|reboot|ping|copy|mount|attach|load|configure|select|"
    r"apply|click|connect|write|edit|put|use|make|call|send|kill|stop|suspend|resume|migrate|"
    r"xl|kraft|make|qemu|git|cd|echo)")
# A command a reporter ran: at a prompt, or a known tool with arguments inside a sentence.
_PROMPT = re.compile(r"(?m)^\s*(?:[$>]|#(?!#)|[\w.-]+@[\w.-]+[:~][^\n$#]*[$#])\s*"
                     r"(?:sudo\s+)?(?!config_)([a-z./][\w./-]*)(?:\s|$)")
_COMMAND = re.compile(
    r"(?<![\w-])(xl|xe|xenstore-\w+|xen-\w+|xenpm|xentop|xl\s+-v+|kraft|virsh|qemu-system-[\w]+|"
    r"make|configure|build/[\w.-]+|systemctl|rc-service|rsync|dd|iperf3?|"
    r"stress-ng|fio|ip|ovs-vsctl|brctl|lvcreate|modprobe|insmod|echo|cat|logrotate|"
    r"xen-hptool|xenstore|git|gdb|strace|curl|wget|ssh|mount|fsck|ping|grub-\w+|efibootmgr|"
    r"redis-benchmark|ab|wrk)\s+([-\w./=:\"',\[\]]+)")
_COMMAND_WORDS = frozenset(("xl", "xe", "xenstore", "xenpm", "xentop", "kraft", "virsh",
                            "qemu", "make", "configure", "build", "systemctl", "rc", "rsync",
                            "dd", "iperf3", "iperf", "stress", "fio", "ip", "ovs", "brctl",
                            "lvcreate", "modprobe", "insmod", "echo", "cat", "logrotate", "git",
                            "gdb", "strace", "curl", "wget", "ssh", "mount", "fsck", "ping",
                            "grub", "efibootmgr", "redis", "ab", "wrk"))
_OUTPUT_VERB = re.compile(r"(?:shows?|showed|looks?|says?|prints?|printed|reports?|displays?|"
                          r"gives?|returns?|tells?|lists?|is|are|was|seems?|output|works?|"
                          r"zeigt|affiche|muestra|mostra|toont|pokazuje)\b")
# xl's subcommands: "xl funktioniert nicht" is a sentence about xl, not a command.
_XL_SUBCOMMAND = re.compile(
    r"-|(?:create|destroy|list|info|dmesg|console|save|restore|migrate|shutdown|reboot|pause|"
    r"unpause|top|uptime|debug-keys|sysrq|trigger|rename|dump-core|cd-insert|cd-eject|domid|"
    r"domname|config-update|vncviewer|devd|remus|qemu-monitor-command|mem-\w+|vcpu-\w+|pci-\w+|"
    r"block-\w+|network-\w+|usb\w*-\w+|channel-\w+|vtpm-\w+|cpupool-\w+|sched-\w+|psr-\w+|"
    r"vdispl-\w+|vsnd-\w+|vkb-\w+|p9-\w+|pvcalls-\w+|tmem-\w+|numa-\w+|set-parameters|"
    r"loadpolicy|getenforce|setenforce|help)\b")
_NOT_SUBCOMMAND = re.compile(r"(?:segfault|crash|hang|fail|error|dies|died|itself|abort|"
                             r"exits|stops|hangs|does|did|is|was|can|cannot|will|would)")
_BACKTICK = re.compile(r"`([a-z./][^`\n]{2,})`")
# The prose patterns below start with a word from their *_WORDS and are tried only where such a
# word starts (Source.at); the sentence-start conditions are checked in code (_starts_sentence).
_SEQUENCE = re.compile(
    r"(?:first|firstly|zuerst|erst|d'abord|primero|prima|najpierw|eerst|primeiro|"
    r"initially)\b[^\n]{0,300}?\b(?:then|dann|danach|anschließend|puis|ensuite|después|luego|"
    r"poi|quindi|potem|następnie|dan|daarna|depois|em seguida|afterwards|after that)\b")
_SEQUENCE_WORDS = frozenset(("first", "firstly", "zuerst", "erst", "d", "primero", "prima",
                             "najpierw", "eerst", "primeiro", "initially"))
_WHEN_I = re.compile(
    r"(?:when|whenever|if|once|after|as soon as|each time|every time)\s+(?:i|we)\s+(?:\w+\s+)?"
    r"(?:\w+)|(?:wenn|sobald|nachdem|immer wenn)\s+ich\b|(?:quand|lorsque|dès que|si|"
    r"chaque fois que)\s+(?:je|j')|(?:cuando|quando|al|ao)\s+(?:yo\s+|eu\s+|io\s+)?"
    r"[a-zà-ú]{2,}(?:o|ar|er|ir)\b|als\s+ik\b|kiedy\s+\w+(?:ę|am|em)\b|"
    r"gdy\s+\w+(?:ę|am|em)\b")
_WHEN_WORDS = frozenset(("when", "whenever", "if", "once", "after", "as", "each", "every", "wenn",
               "sobald", "nachdem", "immer", "quand", "lorsque", "dès", "si", "chaque", "cuando",
               "quando", "al", "ao", "als", "kiedy", "gdy"))
_I_DO = re.compile(
    r"(?:i|we)\s+(?:just\s+|then\s+|also\s+|simply\s+|only\s+)?(?:run|ran|start|started|"
    r"boot|booted|create|created|reboot|rebooted|pass|passed|add|added|build|built|compile|"
    r"compiled|install|installed|execute|executed|launch|launched|plug|plugged|call|called|"
    r"migrate|migrated|type|typed|press|pressed|set|enable|enabled|attach|attached|assign|"
    r"assigned|mount|mounted|copy|copied|tried|try|do|did|am doing|load|loaded|apply|applied)\b"
    r"(?!\s+xen\b)|"
    r"ich\s+(?:starte|reiche|führe|baue|kompiliere|installiere|boote|kopiere|füge|setze|"
    r"lade|erstelle|öffne|rufe|mache|hänge|teste|übergebe)\b|"
    r"(?:je|j')\s*(?:lance|démarre|crée|ajoute|compile|installe|exécute|copie|branche|passe|"
    r"tape|redémarre|monte|active)\b|"
    r"ik\s+(?:start|draai|maak|voeg|installeer|compileer|bouw|gebruik\s+\S+\s+om)\b")
_I_WORDS = frozenset(("i", "we", "ich", "je", "j", "ik"))
# First-person verbs of pro-drop languages (es, it, pt, pl), at the start of a clause.
_PRO_DROP = re.compile(
    r"(?:arranco|ejecuto|lanzo|creo|instalo|compilo|añado|inicio|avvio|lancio|eseguo|aggiungo|"
    r"chiamo|rodo|executo|crio|adiciono|ativo|uruchamiam|tworzę|instaluję|kompiluję|dodaję)\b")
_PRO_DROP_WORDS = frozenset(("arranco", "ejecuto", "lanzo", "creo", "instalo", "compilo", "añado",
                   "inicio", "avvio", "lancio", "eseguo", "aggiungo", "chiamo", "rodo",
                   "executo", "crio", "adiciono", "ativo", "uruchamiam", "tworzę", "instaluję",
                   "kompiluję", "dodaję"))
_GERUND = re.compile(
    r"(?:running|starting|booting|migrating|creating|building|plugging|installing|adding|"
    r"passing|copying|launching|executing|calling|attaching|saving|restoring|"
    r"(?:after|upon|on)\s+\w+ing|after\s+(?:xl|kraft|make)\b)")
_GERUND_WORDS = frozenset(("running", "starting", "booting", "migrating", "creating", "building",
                 "plugging", "installing", "adding", "passing", "copying", "launching",
                 "executing", "calling", "attaching", "saving", "restoring", "after", "upon",
                 "on"))
_IMPERATIVE = re.compile(
    r"(?:start|run|boot|create|install|build|plug|press|close|open|add|set|pass|type|execute|"
    r"launch|enable|wait|reboot|ping|copy|mount|attach|load|configure|select|apply|compile|use|"
    r"put|give|assign|leave|compare|unplug|suspend|resume|hibernate|migrate|save|restore)\b")
_IMPERATIVE_WORDS = frozenset(("start", "run", "boot", "create", "install", "build", "plug",
                               "press", "close", "open", "add", "set", "pass", "type", "execute",
                               "launch", "enable", "wait", "reboot", "ping", "copy", "mount",
                               "attach", "load", "configure", "select", "apply", "compile", "use",
                               "put", "give", "assign", "leave", "compare", "unplug", "suspend",
                               "resume", "hibernate", "migrate", "save", "restore"))
_BOUNDARY = re.compile(r"(?:[.!?;]\s+|\n\s*)$")
_BOUNDARY_COLON = re.compile(r"(?:[.!?;:]\s+|\n\s*|\bthen\s+)$")
_BOUNDARY_CLAUSE = re.compile(r"(?:[.;,:]\s+|\n\s*|\s[ey]\s+)$")


def _starts(low: str, pos: int, boundary: re.Pattern[str]) -> bool:
    """Whether ``pos`` begins a sentence (or a clause, per ``boundary``)."""
    if pos < 8 and not low[:pos].strip():
        return True
    return boundary.search(low, max(0, pos - 8), pos) is not None


_CONCRETE = re.compile(r"\d|=|\s-{1,2}[a-z]|`|\.(?:cfg|iso|img|qcow2|efi|sh|conf|dtb|sql)\b|"
                       r"\b(?:xl|xe|kraft|virsh)\s+(?!segfault|crash|hang|fail|error|itself|is\b|"
                       r"does|returns|says|shows|prints|dies)[a-z]|"
                       r"\b(?:make|qemu|systemctl|grub|xen|hvm|pvh?|"
                       r"passthrough|pci|vif|usb|lid|dock|suspend|hibernate|iommu|vcpus?|"
                       r"script)\b|\bboot(?:ing)?\s+(?:it|xen|into|the xen)\b")
_RANDOM = re.compile(r"\b(?:randomly|random|sometimes|at some point|after a while|"
                     r"occasionally|from time to time|manchmal|zufällig|nach einiger zeit|"
                     r"parfois|aléatoirement|de temps en temps|a veces|aleatoriamente|"
                     r"a volte|casualmente|soms|willekeurig|czasami|losowo|às vezes)\b")
_CONFIG_GIVEN = re.compile(r"(?m)^\s*(?:name|type|builder|memory|maxmem|vcpus|disk|vif|kernel|"
                           r"bootloader|pci|usbdev|device_model_\w+|extra|ramdisk|cmdline)\s*="
                           r"|\b(?:type|builder)\s*=\s*\"?\w|\b(?:hvm|pvh?|pv-on-arm)\b|"
                           r"\b(?:vcpus|memory|maxmem|pci|vif|gfx_passthru|usbdev|disk)\s*=|"
                           r"xlexample|config_[a-z0-9_]+")
_XL_CREATE = re.compile(r"\bxl\s+(?:-\w+\s+)*create\b(?:\s+-\w+)*(?:\s+[\w./-]+)?"
                        r"|\b(?:my|mine|the|a)\s+(?:own\s+)?(?:config|configuration|cfg)\b"
                        r"|\b[\w-]+\.cfg\b")


# A sentence ends at a full stop and a space, or at a line break after punctuation or a blank
# line; a line break inside a sentence (hard-wrapped prose, as mail clients send it) does not.
_SENTENCE_END = re.compile(r"\.\s|[.:;!?)]\n|\n\s*\n")


def _sentence(low: str, start: int, end: int) -> str:
    window = low[max(0, start - 300):start]
    ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    a = max(0, start - 300) + (ends[-1] if ends else 0)
    m = _SENTENCE_END.search(low, end, end + 400)
    return low[a:m.start() + 1 if m else min(len(low), end + 400)]


def _config_given(ev: Evidence) -> bool:
    if any(a.file_name.lower().endswith((".cfg", ".conf", ".config")) or "config" in
           a.summary.lower() for a in ev.attachments):
        return True
    return any(_CONFIG_GIVEN.search(s.lower) for s in ev.texts)


class _Retry:
    """Whether a step sentence has something concrete in it, beyond "xl create my.cfg" when the
    configuration is nowhere to be seen. Per report: the configuration is looked for only when
    a sentence needs it, and a sentence several patterns point at is judged once."""

    def __init__(self, ev: Evidence) -> None:
        self.ev = ev
        self._config: bool | None = None
        self._seen: dict[str, bool] = {}

    @property
    def config(self) -> bool:
        if self._config is None:
            self._config = _config_given(self.ev)
        return self._config

    def __call__(self, sentence: str) -> bool:
        known = self._seen.get(sentence)
        if known is None:
            known = self._seen[sentence] = self._judge(sentence)
        return known

    def _judge(self, sentence: str) -> bool:
        if _RANDOM.search(sentence) and not re.search(r"\d|`|=", sentence):
            return False
        if not _CONCRETE.search(sentence):
            return False
        if not _XL_CREATE.search(sentence) or self.config:
            return True
        return bool(_CONCRETE.search(_XL_CREATE.sub(" ", sentence)))


def _found(src: Source, start: int, end: int, what: str) -> Finding:
    text = src.text
    a = max(0, text.rfind("\n", 0, start) + 1)
    b = text.find("\n", end)
    quote = text[a:b if b != -1 else len(text)].strip()[:160]
    return Finding("steps", True, what, quote, src.where)


def detect_steps(ev: Evidence, item: str = "steps") -> Finding:
    retryable = _Retry(ev)
    for src in ev.texts:
        if src.where == "summary":
            continue  # a summary names the symptom; "xl create hangs" is not a way to retry
        low = src.lower
        m = _HEADING.search(low)
        if m and m.group(1) and not re.match(r"(?:none|n/a|unknown|see above|-+)$",
                                             m.group(1).strip()):
            return _found(src, m.start(), m.end(), "steps")
        m = _NUMBERED.search(low)
        if m:
            return _found(src, m.start(), m.end(), "numbered steps")
        for m in _BULLET.finditer(low):
            if _ACTION_WORD.match(m.group(1)) or _ACTION_WORD.match(m.group(2)):
                return _found(src, m.start(), m.end(), "steps as a list")
        for m in _PROMPT.finditer(low):
            line_end = low.find("\n", m.end())
            line = low[m.start():line_end if line_end != -1 else len(low)]
            if retryable(line) or (m.group(1) == "xl" and retryable.config):
                return _found(src, m.start(), m.end(), "the commands run")
        for m in _BACKTICK.finditer(low):
            if retryable(m.group(1)) and not _OUTPUT_VERB.match(
                    low[m.end():m.end() + 12].lstrip()):
                return _found(src, m.start(), m.end(), "the command run")
        prose = (
            (src.at(_SEQUENCE_WORDS, _SEQUENCE), None),
            (src.at(_WHEN_WORDS, _WHEN_I), None),
            (src.at(_I_WORDS, _I_DO), None),
            (src.at(_PRO_DROP_WORDS, _PRO_DROP), _BOUNDARY_CLAUSE),
            (src.at(_GERUND_WORDS, _GERUND), _BOUNDARY),
            (src.at(_IMPERATIVE_WORDS, _IMPERATIVE), _BOUNDARY_COLON),
        )
        for matches, boundary in prose:
            for m in matches:
                if boundary is not None and not _starts(low, m.start(), boundary):
                    continue
                # What is done, from the action on (not the symptom before "when I ...").
                action = _sentence(low, m.start(), m.end())
                action = action[max(0, action.find(low[m.start():m.end()].strip()[:12])):]
                if retryable(action):
                    return _found(src, m.start(), m.end(), "steps in prose")
        for m in src.at(_COMMAND_WORDS, _COMMAND):
            word = m.group(2)
            if m.group(1) == "xl" and not _XL_SUBCOMMAND.match(word):
                continue
            if _NOT_SUBCOMMAND.match(word) or _OUTPUT_VERB.fullmatch(word) or \
                    _OUTPUT_VERB.match(low[m.end():m.end() + 14].lstrip()):
                continue  # "xl list shows ...": a sentence about output, not a step
            sentence = _sentence(low, m.start(), m.end())
            if retryable(sentence):
                return _found(src, m.start(), m.end(), "the command run")
    return Finding(item, False)


_EXPECTED = re.compile(
    r"\b(?:expected|expect|expecting|expectation|should|shouldn't|supposed to|would have|"
    r"ought to|instead of|rather than|worked|works (?:fine|with|on|under)|used to|was working|"
    r"\w+ed fine|(?:ran|went|was|were|is|it) fine|fine with|without xen|"
    r"previously|it must|must be|normally|as it should|as expected|like it does|as it does|"
    r"erwart\w*|sollte|soll|müsste|eigentlich|statt|anstatt|funktionierte|"
    r"war das nicht|war alles|attendu\w*|attendait|devrait|devait|aurait dû|au lieu|"
    r"fonctionnait|marchait|esperado|esperaba|esperaría|esperava|debería|debe|debia|debia|"
    r"funcionaba|en lugar de|en vez de|atteso|attesa|aspett\w*|dovrebbe|doveva|"
    r"funzionava|invece di|oczekiw\w*|powinien|powinno|powinna|"
    r"działało|zamiast|verwacht\w*|zou moeten|hoort|werkte|in plaats van|deveria|"
    r"funcionava|em vez de|ao invés|o esperado)\b")
_ACTUAL = re.compile(
    r"\b(?:actual|actually|instead|observed|happens|happened|but|however|crash\w*|hang\w*|"
    r"hung|fail\w*|error\w*|panic\w*|freez\w*|froze|reboot\w*|reset\w*|stays|stop\w*|"
    r"does not|doesn't|did not|didn't|won't|cannot|can't|no longer|not any more|anymore|"
    r"black|lost|lose|loses|gone|missing|wrong|segfault\w*|dies|died|abort\w*|exits?|"
    r"timed? out|times out|timeout|stuck|blank|broken|corrupt\w*|only|never|shows|prints|"
    r"reports|drift\w*|fills|unresponsive|starv\w*|leak\w*|"
    r"aber|stattdessen|tatsächlich|stürzt|hängt|friert|fehler|bricht|nicht|bleibt|laufen|"
    r"mais|plante|bloque|redémarre|erreur|pas|reste|pero|se cuelga|falla|fallo|no|queda|"
    r"ma|invece|si blocca|errore|non|resta|ale|błąd|nie|kończy|maar|hangt|fout|niet|blijft|"
    r"loopt|mas|trava|falha|erro|não|fica|termina|obtenu|obtenido|ottenuto|obtido|"
    r"rzeczywiste|tatsächliches|observé|observado|osservato)\b")
_SLOW_ONLY = re.compile(r"\b(?:slow|langsam|lent|lento|traag|wolno|wolny)\b")


def detect_expected_actual(ev: Evidence) -> Finding:
    exp: tuple[Source, re.Match[str]] | None = None
    act = False
    for src in ev.texts:
        if src.where == "summary":
            # A summary of three words or more names the symptom: what happened.
            act = act or len(src.lower.split()) >= 3 or bool(_ACTUAL.search(src.lower))
            continue
        if exp is None:
            m = _EXPECTED.search(src.lower)
            if m:
                exp = (src, m)
        if not act and _ACTUAL.search(src.lower):
            act = True
        if exp and act:
            break
    if exp and act:
        src, m = exp
        a = max(src.text.rfind("\n", 0, m.start()) + 1, m.start() - 60)
        b = src.text.find("\n", m.end())
        quote = src.text[a:b if b != -1 else len(src.text)].strip()[:160]
        return Finding("expected_actual", True, "expected and actual behaviour", quote,
                       src.where)
    if not exp and any(_SLOW_ONLY.search(s.lower) for s in ev.texts):
        return Finding("expected_actual", False, note="\"slow\" without what was expected")
    return Finding("expected_actual", False,
                   note="" if exp or not act else "what happened is there, not what was "
                                                  "expected")
