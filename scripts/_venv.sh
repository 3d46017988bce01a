# Sourced by scripts/simulate and scripts/test: make .venv with the project installed.
# Works on a fresh Debian bookworm / Raspberry Pi OS: installs python3-venv when missing (as root).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
need_apt=()
python3 -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)
for pkg in "$@"; do
  case "$pkg" in
    mosquitto) command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto) ;;
    poppler-utils) command -v pdftoppm >/dev/null || need_apt+=(poppler-utils) ;;
    faketime) ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || need_apt+=(faketime) ;;
    sqlite3) command -v sqlite3 >/dev/null || need_apt+=(sqlite3) ;;
    openssl) command -v openssl >/dev/null || need_apt+=(openssl) ;;
    postgresql) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql) ;;
    # the dashboard's browser tests drive Debian's Chromium through its chromedriver
    chromium) [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] \
      || need_apt+=(chromium chromium-driver) ;;
    # systemd-analyze (verify, security --offline) is in Debian's `systemd` package
    systemd-analyze) command -v systemd-analyze >/dev/null || need_apt+=(systemd) ;;
    # scripts/try-install (tests/test_try_install.py) builds a fresh bookworm root with it
    debootstrap) command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || need_apt+=(debootstrap) ;;
  esac
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "installing Debian packages: ${need_apt[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing Debian packages: ${need_apt[*]} (run: sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
extras="${EDGED_EXTRAS:-}"
stamp=".venv/.installed${extras:+-$extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  if ! .venv/bin/python -m pip install -q -e ".${extras:+[$extras]}" >.venv/install.log 2>&1; then
    cat .venv/install.log >&2
    exit 1
  fi
  touch "$stamp"
fi
# the gettext catalogues (.po in git) compiled to .mo; edged also compiles a missing or older .mo
# on first use, so this only saves that first command a few milliseconds
.venv/bin/python -m edged.cli.catalogue compile >/dev/null
