#!/usr/bin/env bash
# Sets up everything (Debian packages, ./.venv) and runs the whole test suite: lint, type check,
# the Buildbot config check, then pytest. Exit status is non-zero on any failure, including the
# case where pytest collects no tests at all (its exit code 5), which must never pass silently.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests

echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
set +e
.venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "run-tests: pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$rc"
