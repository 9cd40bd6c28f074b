"""Coverage-guided fuzzing (atheris / libFuzzer) of the mail parser, the ``#triage`` command
parser and the address / Authentication-Results parsers.

Targets (``--target``):

* ``mail``: raw bytes → :func:`triage.mailparse.parse_mail`; it must never raise, never hang,
  give a Message-ID of printable ASCII only, read at most ``max_commands`` commands, and name
  bug ids Bugzilla can have.
* ``commands``: text → :func:`triage.mailparse.read_commands` (bounded, ids in range, tokens
  well-formed), :func:`triage.mailauth.strict_from` (one plain lower-case address or a reason)
  and :func:`triage.mailauth.authentication_results`.

The seed corpus is the bundled sample archive plus the recorded Bugzilla mails, copied into a
scratch folder (outside the repository) that libFuzzer grows. A crash leaves ``crash-<sha1>``
in the current folder and exits non-zero; every such input becomes a regression test in
``tests/mail/test_fuzz_regressions.py``.

Run: ``python bench/fuzz_parsers.py --target mail --runs 1000000`` from the repo root (add
``--corpus DIR`` to keep the grown corpus). The summary line gives inputs, seconds and the
libFuzzer exit status; docs/BENCHMARKS.md has the figures.
"""

from __future__ import annotations

import argparse
import mailbox
import re
import sys
import tempfile
import time
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports(include=["triage", "authres", "email"]):
    from triage.mailauth import authentication_results, strict_from
    from triage.mailparse import MAX_BUG_ID, ParseLimits, parse_mail, read_commands

REPO = Path(__file__).resolve().parent.parent
LIMITS = ParseLimits(max_message_bytes=256 * 1024, max_text_chars=16 * 1024, max_commands=10)
_PLAIN_ADDRESS = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9.-]+$")
_TOKEN = re.compile(r"^[A-Z2-7]{26}$")


def _check_commands(commands: tuple[object, ...], limit: int) -> None:
    real = [c for c in commands if getattr(c, "verb", "") != "confirm"]
    assert len(real) <= limit, len(real)
    for c in real:
        assert 1 <= c.bug_id <= MAX_BUG_ID, c.bug_id  # type: ignore[attr-defined]
    for c in commands:
        if getattr(c, "verb", "") == "confirm":
            assert _TOKEN.match(c.token), c.token  # type: ignore[attr-defined]


def fuzz_mail(data: bytes) -> None:
    parsed = parse_mail(data, bot_email="triage-bot@xenproject.org", limits=LIMITS)
    assert all(0x21 <= ord(ch) <= 0x7E for ch in parsed.message_id), parsed.message_id
    if parsed.bug_id is not None:
        assert 1 <= parsed.bug_id <= MAX_BUG_ID
    for event in parsed.events:
        _check_commands(event.commands, LIMITS.max_commands)
        if event.auth is not None and event.auth.address:
            assert _PLAIN_ADDRESS.match(event.auth.address), event.auth.address


def fuzz_commands(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    limit = fdp.ConsumeIntInRange(1, 20)
    subject = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 200))
    header = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 400))
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    commands, dropped = read_commands(text, "dev@example.org", subject, limit)
    assert dropped >= 0
    _check_commands(commands, limit)
    address, problem = strict_from([header])
    assert bool(address) != bool(problem)
    if address:
        assert _PLAIN_ADDRESS.match(address), address
    for result in authentication_results([header, text[:2000]]):
        assert result.method in ("dkim", "spf", "dmarc")


def seed_corpus(folder: Path, target: str) -> None:
    sources = [REPO / "triage" / "data" / "sample_bugs_list.mbox"]
    raws = [m.as_bytes() for src in sources if src.exists() for m in mailbox.mbox(src)]
    raws += [p.read_bytes() for p in sorted((REPO / "tests" / "mail" / "fixtures").glob("*.eml"))]
    raws += [b"#triage claim 12\n#triage review accept 7\n#triage confirm " + b"A" * 26,
             b"Alice <alice@example.org>", b"mx.example.org; dkim=pass header.d=example.org"]
    for i, raw in enumerate(raws[:400]):
        (folder / f"seed-{target}-{i:04d}").write_bytes(raw[: 64 * 1024])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=("mail", "commands"), required=True)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--corpus", type=Path, default=None,
                        help="corpus folder to grow (default: a temporary one)")
    parser.add_argument("--timeout", type=int, default=10, help="seconds per input = a hang")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    corpus = args.corpus or Path(tempfile.mkdtemp(prefix=f"xentriage-fuzz-{args.target}-"))
    corpus.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        seed_corpus(corpus, args.target)
    target = fuzz_mail if args.target == "mail" else fuzz_commands
    started = time.monotonic()
    print(f"fuzz {args.target}: {args.runs} runs, corpus {corpus}", flush=True)
    atheris.Setup([sys.argv[0], f"-runs={args.runs}", f"-timeout={args.timeout}",
                   f"-seed={args.seed}", "-max_len=65536", "-rss_limit_mb=3072",
                   "-print_final_stats=1", str(corpus)], target)
    try:
        atheris.Fuzz()  # exits the process itself on a crash or a hang (non-zero status)
    finally:
        print(f"fuzz {args.target}: finished in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
