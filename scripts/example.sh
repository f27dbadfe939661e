#!/usr/bin/env bash
# Set up mirset and build a dataset from a small example collection of real music:
# eight recordings of the Battle for Wesnoth soundtrack (Debian package wesnoth-1.16-music, GPL),
# six as flat files and two in the organised <Track>/full_mix.<ext> layout.
#   scripts/example.sh [OUT_DIR]      (default: example-out)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-example-out}"
scripts/setup.sh
if ! ls /usr/share/games/wesnoth/*/data/core/music/*.ogg >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" != 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends wesnoth-1.16-music >/dev/null
fi
src=$(ls -d /usr/share/games/wesnoth/*/data/core/music | head -n 1)
mkdir -p example-music/Soundtrack example-music/Organised
i=0
for f in "$src"/*.ogg; do
  name=$(basename "$f" .ogg)
  if [ $i -lt 6 ]; then
    cp -n "$f" "example-music/Soundtrack/$name.ogg"
  elif [ $i -lt 8 ]; then
    mkdir -p "example-music/Organised/$name"
    cp -n "$f" "example-music/Organised/$name/full_mix.ogg"
  else
    break
  fi
  i=$((i + 1))
done
.venv/bin/mirset build example-music "$out"
.venv/bin/mirset status "$out"
