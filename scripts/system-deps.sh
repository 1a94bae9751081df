#!/usr/bin/env bash
# System packages the tests use: espeak-ng (real speech), chromium (renders the HTML report).
# Installed only when missing, and only where apt-get can run; tests that need them skip otherwise.
set -uo pipefail
need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
# OpenCV's contrib wheel (mediapipe) links libGL and glib
ldconfig -p 2>/dev/null | grep -q 'libGL.so.1' || need+=(libgl1)
ldconfig -p 2>/dev/null | grep -q 'libgthread-2.0.so.0' || need+=(libglib2.0-0)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${need[*]}"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || echo "warning: could not install ${need[*]}; the tests that need them will be skipped"
else
  echo "note: ${need[*]} missing and apt-get unavailable (not root?); the tests that need them will be skipped"
fi
exit 0
