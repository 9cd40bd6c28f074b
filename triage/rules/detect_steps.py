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

from triage.rules.evidence import Evidence, Finding, Source

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
    r"(?<![\w/-])(xl|xe|xenstore-\w+|xen-\w+|xenpm|xentop|xl\s+-v+|kraft|virsh|qemu-system-[\w]+|"
    r"make|\./configure|\./build/[\w.-]+|build/[\w.-]+|systemctl|rc-service|rsync|dd|iperf3?|"
    r"stress-ng|fio|ip|ovs-vsctl|brctl|lvcreate|modprobe|insmod|echo|cat|logrotate|"
    r"xen-hptool|xenstore|git|gdb|strace|curl|wget|ssh|mount|fsck|ping|grub-\w+|efibootmgr|"
    r"redis-benchmark|ab|wrk)\s+([-\w./=:\"',\[\]]+)")
_OUTPUT_VERB = re.compile(r"(?:shows?|showed|looks?|says?|prints?|printed|reports?|displays?|"
                          r"gives?|returns?|tells?|lists?|is|are|was|seems?|output|works?|"
                          r"zeigt|affiche|muestra|mostra|toont|pokazuje)\b")
_NOT_SUBCOMMAND = re.compile(r"(?:segfault|crash|hang|fail|error|dies|died|itself|abort|"
                             r"exits|stops|hangs|does|did|is|was|can|cannot|will|would)")
_BACKTICK = re.compile(r"`([a-z./][^`\n]{2,})`")
_SEQUENCE = re.compile(
    r"\b(?:first|firstly|zuerst|erst|d'abord|primero|prima|najpierw|eerst|primeiro|"
    r"initially)\b[^\n]{0,300}?\b(?:then|dann|danach|anschließend|puis|ensuite|después|luego|"
    r"poi|quindi|potem|następnie|dan|daarna|depois|em seguida|afterwards|after that)\b")
_WHEN_I = re.compile(
    r"\b(?:when|whenever|if|once|after|as soon as|each time|every time)\s+(?:i|we)\s+(?:\w+\s+)?"
    r"(?:\w+)|\b(?:wenn|sobald|nachdem|immer wenn)\s+ich\b|\b(?:quand|lorsque|dès que|si|"
    r"chaque fois que)\s+(?:je|j')|\b(?:cuando|quando|al|ao)\s+(?:yo\s+|eu\s+|io\s+)?"
    r"[a-zà-ú]{2,}(?:o|ar|er|ir)\b|\bals\s+ik\b|\bkiedy\s+\w+(?:ę|am|em)\b|"
    r"\bgdy\s+\w+(?:ę|am|em)\b")
_I_DO = re.compile(
    r"\b(?:i|we)\s+(?:just\s+|then\s+|also\s+|simply\s+|only\s+)?(?:run|ran|start|started|"
    r"boot|booted|create|created|reboot|rebooted|pass|passed|add|added|build|built|compile|"
    r"compiled|install|installed|execute|executed|launch|launched|plug|plugged|call|called|"
    r"migrate|migrated|type|typed|press|pressed|set|enable|enabled|attach|attached|assign|"
    r"assigned|mount|mounted|copy|copied|tried|try|do|did|am doing|load|loaded|apply|applied)\b"
    r"(?!\s+xen\b)|"
    r"\bich\s+(?:starte|reiche|führe|baue|kompiliere|installiere|boote|kopiere|füge|setze|"
    r"lade|erstelle|öffne|rufe|mache|hänge|teste|übergebe)\b|"
    r"\b(?:je|j')\s*(?:lance|démarre|crée|ajoute|compile|installe|exécute|copie|branche|passe|"
    r"tape|redémarre|monte|active)\b|"
    r"(?:^|[.;,:]\s+|\s[ey]\s+)(?:arranco|ejecuto|lanzo|creo|instalo|compilo|añado|inicio|"
    r"avvio|lancio|eseguo|aggiungo|chiamo|rodo|executo|crio|adiciono|ativo|uruchamiam|"
    r"tworzę|instaluję|kompiluję|dodaję|start|draai|maak|voeg|installeer|compileer|bouw)\b|"
    r"\bik\s+(?:start|draai|maak|voeg|installeer|compileer|bouw|gebruik\s+\S+\s+om)\b")
_GERUND = re.compile(
    r"(?:^|[.!?;]\s+|\n\s*)(?:running|starting|booting|migrating|creating|building|plugging|"
    r"installing|adding|passing|copying|launching|executing|calling|attaching|saving|restoring|"
    r"(?:after|upon|on)\s+\w+ing|after\s+(?:xl|kraft|make)\b)")
_IMPERATIVE = re.compile(
    r"(?:^|[.!?;:]\s+|\n\s*|\bthen\s+)(?:start|run|boot|create|install|build|plug|press|close|"
    r"open|add|set|pass|type|execute|launch|enable|wait|reboot|ping|copy|mount|attach|load|"
    r"configure|select|apply|compile|use|put|give|assign|leave|compare|unplug|suspend|"
    r"resume|hibernate|migrate|save|restore)\b")
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


def _sentence(low: str, start: int, end: int) -> str:
    a = max(low.rfind(". ", 0, start), low.rfind("\n", 0, start)) + 1
    ends = [i for i in (low.find(". ", end), low.find("\n", end)) if i != -1]
    return low[a:min(ends) if ends else len(low)]


def _config_given(ev: Evidence) -> bool:
    if any(a.file_name.lower().endswith((".cfg", ".conf", ".config")) or "config" in
           a.summary.lower() for a in ev.attachments):
        return True
    return any(_CONFIG_GIVEN.search(s.lower) for s in ev.texts)


def _retryable(sentence: str, config: bool) -> bool:
    """A step sentence with something concrete in it, beyond "xl create my.cfg" when the
    configuration is nowhere to be seen."""
    if _RANDOM.search(sentence) and not re.search(r"\d|`|=", sentence):
        return False
    rest = sentence if config else _XL_CREATE.sub(" ", sentence)
    return bool(_CONCRETE.search(rest))


def _found(src: Source, start: int, end: int, what: str) -> Finding:
    text = src.text
    a = max(0, text.rfind("\n", 0, start) + 1)
    b = text.find("\n", end)
    quote = text[a:b if b != -1 else len(text)].strip()[:160]
    return Finding("steps", True, what, quote, src.where)


def detect_steps(ev: Evidence, item: str = "steps") -> Finding:
    config = _config_given(ev)
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
            if _retryable(line, config) or (config and m.group(1) == "xl"):
                return _found(src, m.start(), m.end(), "the commands run")
        for m in _BACKTICK.finditer(low):
            if _retryable(m.group(1), config) and not _OUTPUT_VERB.match(
                    low[m.end():m.end() + 12].lstrip()):
                return _found(src, m.start(), m.end(), "the command run")
        for pattern, what in ((_SEQUENCE, "steps in prose"), (_WHEN_I, "steps in prose"),
                              (_I_DO, "steps in prose"), (_GERUND, "steps in prose"),
                              (_IMPERATIVE, "steps in prose")):
            for m in pattern.finditer(low):
                # What is done, from the action on (not the symptom before "when I ...").
                action = _sentence(low, m.start(), m.end())
                action = action[max(0, action.find(low[m.start():m.end()].strip()[:12])):]
                if _retryable(action, config):
                    return _found(src, m.start(), m.end(), what)
        for m in _COMMAND.finditer(low):
            word = m.group(2)
            if _NOT_SUBCOMMAND.match(word) or _OUTPUT_VERB.fullmatch(word) or \
                    _OUTPUT_VERB.match(low[m.end():m.end() + 14].lstrip()):
                continue  # "xl list shows ...": a sentence about output, not a step
            sentence = _sentence(low, m.start(), m.end())
            if _retryable(sentence, config):
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
        m = _EXPECTED.search(src.lower)
        if m and exp is None:
            exp = (src, m)
        if _ACTUAL.search(src.lower):
            act = True
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
