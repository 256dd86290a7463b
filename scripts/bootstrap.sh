# Sourced by the other scripts: a project venv at .venv with egoget and its test tools installed
# from this checkout. Re-installs only when pyproject.toml changes.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EGOGET_VENV:-$REPO_ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.egoget-installed"
# The C helper is compiled at install: a change to it re-installs too.
want="$(cat "$REPO_ROOT/pyproject.toml" "$REPO_ROOT"/egoget/_md5lanes.c "$REPO_ROOT"/egoget/_md5lanes_kernel.h | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing egoget[test] into $VENV" >&2
  log="$VENV/pip-install.log"
  if ! { "$VENV/bin/python" -m pip install --disable-pip-version-check --upgrade pip &&
         "$VENV/bin/python" -m pip install --disable-pip-version-check -e "$REPO_ROOT[test]"; } \
       > "$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "bootstrap: installing failed; full log in $log" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
# From Debian's packages when this shell may install them; otherwise the tests that need them
# are skipped, with a reason: ffmpeg for `egoget prepare egovlp`, `--cut-clips` and their
# tests; tinyproxy, a real forward proxy for the network tests; slurm-wlm and munge, a real
# single-node cluster for the job-array test of scripts/slurm_sharded_download.sh.
missing=""
command -v ffmpeg >/dev/null 2>&1 || missing="$missing ffmpeg"
command -v tinyproxy >/dev/null 2>&1 || missing="$missing tinyproxy"
command -v slurmctld >/dev/null 2>&1 || missing="$missing slurm-wlm"
command -v munged >/dev/null 2>&1 || missing="$missing munge"
if [ -n "$missing" ]; then
  apt_get=""
  if [ "$(id -u)" = 0 ]; then apt_get="apt-get"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then apt_get="sudo -n apt-get"
  fi
  if [ -n "$apt_get" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing$missing from Debian's packages" >&2
    # shellcheck disable=SC2086 # one word per package
    if ! { $apt_get update -qq && DEBIAN_FRONTEND=noninteractive $apt_get install -y -qq \
           --no-install-recommends $missing; } > "$VENV/apt-install.log" 2>&1; then
      tail -n 30 "$VENV/apt-install.log" >&2
      echo "bootstrap: installing$missing failed; full log in $VENV/apt-install.log" >&2
      exit 1
    fi
  else
    echo "bootstrap:$missing not found and cannot install here; their tests will be skipped" >&2
  fi
fi
# The official ego4d/egoexo CLIs, in a venv of their own, for the parity tests and benchmarks.
OFFICIAL_VENV="${EGOGET_OFFICIAL_VENV:-$REPO_ROOT/.venv-official}"
if [ ! -x "$OFFICIAL_VENV/bin/ego4d" ]; then
  echo "bootstrap: installing the official ego4d CLI into $OFFICIAL_VENV" >&2
  "$PYTHON" -m venv "$OFFICIAL_VENV"
  if ! "$OFFICIAL_VENV/bin/python" -m pip install --disable-pip-version-check ego4d==1.7.3 \
       > "$OFFICIAL_VENV/pip-install.log" 2>&1; then
    tail -n 30 "$OFFICIAL_VENV/pip-install.log" >&2
    exit 1
  fi
fi
export EGOGET_OFFICIAL_VENV="$OFFICIAL_VENV"
export PATH="$VENV/bin:$PATH"
