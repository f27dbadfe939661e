"""A tiny Music Flamingo in llama.cpp's formats: a Q8_0 language model and an f32 audio projector.

The checkpoint is a tiny Audio Flamingo 3 (the class of ``nvidia/music-flamingo-hf``, whose GGUF
conversions users download) with random weights and a byte-level BPE tokenizer that has the real
special tokens; llama.cpp's own ``convert_hf_to_gguf.py`` turns it into ``model.gguf`` and
``mmproj.gguf`` exactly as the community files were made (``--mmproj`` writes the
``musicflamingo`` projector). The converter ships in the ``llama-cpp-python`` source
distribution (``vendor/llama.cpp``), which ``scripts/setup.sh --gguf`` keeps in the cache.

One deviation: llama.cpp recognises a BPE pre-tokenizer by hashing how the tokenizer splits a
fixed text, and a tiny vocabulary cannot reproduce Qwen2's hash; the conversion is told
``qwen2`` — the pre-tokenizer the real tokenizer maps to — instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<sound>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TRAINING_TEXT = [
    "Describe this track in detail: first its genre, tempo and key, then the instruments.",
    "A calm piano piece in C major with soft strings, slow tempo and a warm, intimate mood.",
    "An energetic electronic track with driving drums, deep bass and bright synth leads.",
    "The song opens with an intro, builds through two verses and a chorus, then fades out.",
    "Name the instruments and sounds you hear and their timbre, in fewer than 15 words.",
]
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_CONVERT = """
import sys
sys.path[:0] = [{src!r}, {src!r} + "/gguf-py"]
from conversion import base
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "qwen2"
sys.argv = ["convert_hf_to_gguf.py", *{args!r}]
import runpy
runpy.run_path({src!r} + "/convert_hf_to_gguf.py", run_name="__main__")
"""


def llama_cpp_source() -> Path | None:
    """llama.cpp's source tree (with ``convert_hf_to_gguf.py``), if the setup cached it."""
    env = os.environ.get("MIRSET_LLAMA_CPP_SRC")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mirset"
    candidates = [Path(env)] if env else []
    candidates.append(cache / f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}" / "vendor/llama.cpp")
    return next((c for c in candidates if (c / "convert_hf_to_gguf.py").is_file()), None)


def _tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=384,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(TRAINING_TEXT, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL[1:],
        chat_template=CHAT_TEMPLATE,
    )


def _save_checkpoint(
    folder: Path, seed: int, hidden: int, layers: int, audio_hidden: int, audio_layers: int
) -> None:
    import torch
    from transformers import (
        AudioFlamingo3Config,
        AudioFlamingo3EncoderConfig,
        AudioFlamingo3ForConditionalGeneration,
        Qwen2Config,
    )

    tokenizer = _tokenizer()
    vocab = tokenizer.get_vocab()
    # three encoder layers: llama.cpp's tensor map names conv1/conv2 by block number
    config = AudioFlamingo3Config(
        audio_config=AudioFlamingo3EncoderConfig(
            num_mel_bins=128, num_hidden_layers=max(3, audio_layers),
            num_attention_heads=max(2, audio_hidden // 64), intermediate_size=4 * audio_hidden,
            hidden_size=audio_hidden,
        ),
        text_config=Qwen2Config(
            vocab_size=len(vocab), hidden_size=hidden, intermediate_size=2 * hidden,
            num_hidden_layers=layers, num_attention_heads=max(2, hidden // 64),
            num_key_value_heads=1, max_position_embeddings=8192,
            eos_token_id=vocab["<|im_end|>"], bos_token_id=vocab["<|endoftext|>"],
        ),
        audio_token_id=vocab["<sound>"],
    )  # fmt: skip
    torch.manual_seed(seed)
    model = AudioFlamingo3ForConditionalGeneration(config).eval()
    with torch.no_grad():  # sharper logits, so greedy answers are not ties
        model.lm_head.weight.mul_(8.0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _convert(src: Path, checkpoint: Path, out: Path, *args: str) -> None:
    script = _CONVERT.format(src=str(src), args=[str(checkpoint), "--outfile", str(out), *args])
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0 or not out.is_file():
        raise RuntimeError(f"convert_hf_to_gguf.py failed:\n{done.stderr[-3000:]}")


def save_tiny_flamingo_gguf(
    folder: Path,
    seed: int = 0,
    model_name: str = "model.Q8_0.gguf",
    *,
    hidden: int = 64,
    layers: int = 2,
    audio_hidden: int = 16,
    audio_layers: int = 3,
) -> tuple[Path, Path]:
    """Write ``model_name`` (Q8_0) and ``mmproj.gguf`` into ``folder``; return both paths.
    The sizes default to tiny; benchmarks pass larger ones (random weights either way)."""
    src = llama_cpp_source()
    if src is None:
        raise FileNotFoundError(
            "llama.cpp's converter is not cached: run scripts/setup.sh --gguf "
            "(or set MIRSET_LLAMA_CPP_SRC to a llama.cpp source tree)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    model, mmproj = folder / model_name, folder / "mmproj.gguf"
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "tiny-af3"
        _save_checkpoint(checkpoint, seed, hidden, layers, audio_hidden, audio_layers)
        _convert(src, checkpoint, model, "--outtype", "q8_0")
        _convert(src, checkpoint, mmproj, "--mmproj", "--outtype", "f32")
    return model, mmproj
