#!/usr/bin/env bash
# Set up mirset on a fresh Debian/Ubuntu machine: system packages, a virtualenv in .venv, the package.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --stems  plus PyTorch (CPU build here unless TORCH_SPEC says otherwise), Demucs,
#                             the Audiobox Aesthetics model code and transformers (Music Flamingo)
#   scripts/setup.sh --gguf   plus llama-cpp-python, built from source (a few minutes; the wheel and
#                             llama.cpp's converter are cached in ~/.cache/mirset), for Music
#                             Flamingo GGUF models. LLAMA_CMAKE_ARGS="-DGGML_CUDA=on" on a GPU box.
#   scripts/setup.sh --dev    all of it, plus test tools and the real-music test corpus sources
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
stems=0
gguf=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1; stems=1; gguf=1 ;;
    --stems) stems=1 ;;
    --gguf) gguf=1 ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done
# The CPU build of torch by default: a plain `torch` requirement pulls several GB of CUDA
# packages. On a GPU box set TORCH_SPEC="torch" (or a CUDA wheel) before running this script.
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
LLAMA_CPP_PYTHON="${LLAMA_CPP_PYTHON:-0.3.36}"
LLAMA_CMAKE_ARGS="${LLAMA_CMAKE_ARGS:--DGGML_NATIVE=OFF}"

apt_pkgs=(ffmpeg libsndfile1)
[ $dev = 1 ] && apt_pkgs+=(fluidsynth fluid-soundfont-gm wesnoth-1.16-music)
[ $gguf = 1 ] && apt_pkgs+=(build-essential)
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
extras=""
if [ $stems = 1 ]; then
  python -m pip install -q "$TORCH_SPEC"
  extras="stems"
fi
[ $dev = 1 ] && extras="stems,dev,lookup,hf,ray"
[ $stems = 1 ] && extras="$extras,aesthetics,flamingo-hf"
constraints="$(mktemp)"
python -c "import torch; print(f'torch=={torch.__version__.split(\"+\")[0]}')" > "$constraints" 2>/dev/null || true
# torchcodec (datasets' Audio decoding) releases import only against their own torch
grep -q '^torch==2.13' "$constraints" && echo "torchcodec==0.13.0" >> "$constraints"
if [ $gguf = 1 ]; then  # llama-cpp-python has only a source distribution on PyPI
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/mirset"
  src="$cache/llama_cpp_python-$LLAMA_CPP_PYTHON"
  wheels="$cache/wheels/$(echo "$LLAMA_CMAKE_ARGS" | sha1sum | cut -c1-8)"
  if [ ! -f "$src/vendor/llama.cpp/convert_hf_to_gguf.py" ]; then
    tmp="$(mktemp -d)"
    python -m pip download -q --no-deps --no-binary :all: -d "$tmp" "llama-cpp-python==$LLAMA_CPP_PYTHON"
    mkdir -p "$cache" && tar xzf "$tmp"/llama_cpp_python-*.tar.gz -C "$cache" && rm -rf "$tmp"
  fi
  if ! ls "$wheels"/llama_cpp_python-"$LLAMA_CPP_PYTHON"-*.whl >/dev/null 2>&1; then
    echo "building llama-cpp-python $LLAMA_CPP_PYTHON with $LLAMA_CMAKE_ARGS (a few minutes)"
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" python -m pip wheel -q --no-deps -w "$wheels" "$src"
  fi
  python -m pip install -q -c "$constraints" "$wheels"/llama_cpp_python-"$LLAMA_CPP_PYTHON"-*.whl
  extras="${extras:+$extras,}flamingo"
fi
python -m pip install -q -c "$constraints" -e ".${extras:+[$extras]}"
if [ $stems = 1 ]; then  # without its torchaudio requirement: mirset resamples with soxr
  python -m pip install -q --no-deps "audiobox-aesthetics==0.0.4"
fi
if [ $dev = 1 ]; then  # the export tests run Stable Audio Tools' own data loaders: the package
  # without its pinned training stack, and torchaudio's Python code from its wheel (the tests leave
  # out its CUDA-linked extension, which those loaders do not use; torchaudio >= 2.9 decodes with
  # torchcodec)
  python -m pip install -q --no-deps "stable-audio-tools==0.0.19"
  python -m pip download -q --no-deps -d .venv/consumer-wheels "torchaudio==2.11.0"
fi
rm -f "$constraints"
echo "mirset is set up: . .venv/bin/activate && mirset --help"
