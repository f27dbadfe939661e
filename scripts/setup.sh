#!/usr/bin/env bash
# Set up mirset on a fresh Debian/Ubuntu machine: system packages, a virtualenv in .venv, the package.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --dev    plus test tools and the real-music test corpus sources
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1

apt_pkgs=(ffmpeg libsndfile1)
[ $dev = 1 ] && apt_pkgs+=(fluidsynth fluid-soundfont-gm wesnoth-1.16-music)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" != 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
if [ $dev = 1 ]; then
  python -m pip install -q -e ".[dev]"
else
  python -m pip install -q -e .
fi
echo "mirset is set up: . .venv/bin/activate && mirset --help"
