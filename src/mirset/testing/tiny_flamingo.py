"""A tiny Music Flamingo with random weights, saved with ``save_pretrained`` like the released
checkpoint: the real model and processor classes, a tiny Qwen2 text model and audio encoder, a
word-level tokenizer with the real special tokens and a ChatML-style template."""

from __future__ import annotations

from pathlib import Path

SPECIAL = [
    "<pad>",
    "<unk>",
    "<|im_start|>",
    "<|im_end|>",
    "<sound>",
    "<|sound_bos|>",
    "<|sound_eos|>",
]
WORDS = [
    "a",
    "the",
    "music",
    "track",
    "song",
    "is",
    "with",
    "and",
    "of",
    "in",
    "drums",
    "bass",
    "guitar",
    "piano",
    "synth",
    "vocals",
    "calm",
    "dark",
    "energetic",
    "fast",
    "slow",
    "user",
    "assistant",
    "describe",
    "this",
    "genre",
    "mood",
    "tempo",
    "key",
    "section",
    "<think>",
    "</think>",
]
TEMPLATE = (
    "{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> "
    "{% endfor %}{% if add_generation_prompt %}<|im_start|> assistant{% endif %}"
)


def save_tiny_flamingo(folder: Path, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        AudioFlamingo3EncoderConfig,
        MusicFlamingoConfig,
        MusicFlamingoForConditionalGeneration,
        MusicFlamingoProcessor,
        PreTrainedTokenizerFast,
        Qwen2Config,
        WhisperFeatureExtractor,
    )

    vocab = {t: i for i, t in enumerate(SPECIAL + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(r"(<[^>]+>)", "isolated"), pre_tokenizers.WhitespaceSplit()]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|im_end|>",
        additional_special_tokens=SPECIAL[2:],
    )
    features = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=30)
    processor = MusicFlamingoProcessor(features, tokenizer, chat_template=TEMPLATE)
    config = MusicFlamingoConfig(
        audio_config=AudioFlamingo3EncoderConfig(
            num_mel_bins=128, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
            hidden_size=16,
        ),
        text_config=Qwen2Config(
            vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
        ),
        audio_token_id=vocab["<sound>"],
        audio_bos_token_id=vocab["<|sound_bos|>"],
        audio_eos_token_id=vocab["<|sound_eos|>"],
    )  # fmt: skip
    torch.manual_seed(seed)
    model = MusicFlamingoForConditionalGeneration(config).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
