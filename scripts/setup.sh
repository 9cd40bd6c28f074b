#!/usr/bin/env bash
# Installs everything xentriage needs on a Debian 12 machine, as root: the Debian packages, then a
# virtual environment in ./.venv with the project and its pinned-range dependencies.
#   scripts/setup.sh           the service and the CI farm
#   scripts/setup.sh --tests   the same plus what the test suite needs
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[ "${1:-}" = "--tests" ] && with_tests=1

# Runtime: Python, compilers and emulators for the CI farm (QEMU TCG boots, arm64 cross builds),
# `script` (bsdutils) to give linuxu images a TTY, ccache for rebuilds, git for tree checkouts,
# flex and bison for Unikraft's Kconfig (without them every cell fails at `lex: not found`).
apt_runtime=(
  python3 python3-venv python3-dev build-essential git make ccache bsdutils openssl flex bison
  ca-certificates libpq5
  qemu-system-x86 qemu-system-arm gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu
)
# Tests: real servers on loopback (dovecot for IMAP, PostgreSQL for the store, MediaWiki with
# SQLite served by `php -S` for the wiki page), and Debian's headless Chromium for the web view's
# browser tests (driven by Playwright with executable_path=/usr/bin/chromium; Playwright's own
# browser download is never used), with DejaVu for the state symbols the pages print (installs
# here skip recommended packages).
apt_tests=(dovecot-imapd postgresql
  mediawiki php-cli php-sqlite3 php-mbstring php-xml php-intl
  chromium chromium-driver fonts-dejavu-core)

wanted=("${apt_runtime[@]}")
[ "$with_tests" = 1 ] && wanted+=("${apt_tests[@]}")

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  # Package scripts may try to start dovecot/postgresql system services; the tests start their
  # own private instances on free loopback ports, so those services are neither needed nor used.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [ "$with_tests" = 1 ]; then
  .venv/bin/python -m pip install -q -e '.[test]'
else
  .venv/bin/python -m pip install -q -e .
fi
echo "setup: done ($(.venv/bin/xentriage --version))"
