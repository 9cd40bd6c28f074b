"""``python -m workers.provision``: render a worker's buildbot.tac, info files and unit."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from workers.provision import ProvisionError, WorkerSpec, write_worker


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m workers.provision", description=__doc__)
    ap.add_argument("--name", required=True, help="the worker name the master knows")
    ap.add_argument("--master", required=True, metavar="HOST:PORT")
    ap.add_argument("--basedir", required=True, help="the worker directory (created)")
    ap.add_argument("--password-file", help="read the password from this file at start-up; "
                    "without it the worker reads XENTRIAGE_WORKER_PASSWORD")
    ap.add_argument("--unit-dir", type=Path, help="where to write the systemd unit "
                    "(default: the basedir; e.g. /etc/systemd/system)")
    ap.add_argument("--user", help="the unit's User= (default: the current user)")
    ap.add_argument("--buildbot-worker", help="path of the buildbot-worker executable")
    ap.add_argument("--probe", action="store_true",
                    help="also run the capability probe into info/xentriage_capabilities")
    args = ap.parse_args(argv)
    try:
        spec = WorkerSpec.parse(args.name, args.master, args.basedir, args.password_file,
                                args.user, args.buildbot_worker)
    except ProvisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 4
    caps = None
    if args.probe:
        from workers.probe import probe

        caps = probe().to_json()
    for path in write_worker(spec, args.unit_dir, caps):
        print(f"wrote {path}")
    print(f"enable with: systemctl enable --now xentriage-worker@{spec.basedir.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
