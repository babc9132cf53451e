#!/usr/bin/env bash
# Installs the Debian packages some tests need, when they are missing (idempotent):
#   tmux          the real-terminal smoke run of `stampside demo` (tests/app/test_demo_tmux.py)
#   librsvg2-bin  rsvg-convert, to render the app's SVG screenshots to PNG
#   chromium      headless rendering of an HTML report to PNG (tests/reports/test_render_png.py)
#   tshark        Wireshark's command line, runs the generated Lua dissector (tests/devicelink/test_wireshark.py)
#   gcc, make, libc6-dev  the C reference implementation of the device side (tests/c/test_c_reference.py)
#   clang, libclang-rt-14-dev  libFuzzer and the sanitizers for the C decoder's fuzz target (tests/protocol/test_fuzz_short.py)
# Installs with apt-get as root, or through sudo when it works without a password. Anywhere
# else (no apt-get, no rights) it prints one line and carries on: those tests skip themselves.
# Usage: scripts/ensure_system_tools.sh        (scripts/test calls it before pytest)
set -uo pipefail

# package:command that proves it is installed (or package:/path of a file it installs)
wanted=("tmux:tmux" "librsvg2-bin:rsvg-convert" "chromium:chromium" "tshark:tshark"
  "gcc:gcc" "make:make" "libc6-dev:/usr/include/stdio.h"
  "clang:clang" "libclang-rt-14-dev:/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a")

missing=()
for item in "${wanted[@]}"; do
  proof="${item#*:}"
  if [ "${proof#/}" != "$proof" ]; then
    [ -e "$proof" ] || missing+=("${item%%:*}")
  else
    command -v "$proof" >/dev/null 2>&1 || missing+=("${item%%:*}")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: ${missing[*]} not installed and no apt-get here; the tests that need them are skipped" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "note: ${missing[*]} not installed (run: sudo apt-get install ${missing[*]}); the tests that need them are skipped" >&2
  exit 0
fi

echo "==> installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if [[ " ${missing[*]} " == *" tshark "* ]] && command -v debconf-set-selections >/dev/null 2>&1; then
  # wireshark-common asks whether non-root users may capture (a setuid dumpcap): they may not.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | "${as_root[@]}" debconf-set-selections
fi
if ! "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  # The package lists may be missing or stale on a fresh machine: refresh them once and retry.
  "${as_root[@]}" apt-get update -qq >/dev/null 2>&1
  if ! "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    echo "note: could not install ${missing[*]} with apt-get; the tests that need them are skipped" >&2
  fi
fi
exit 0
