"""Music Flamingo through llama.cpp (``llama-cpp-python``): GGUF weights, audio heard once.

The language model (any quantisation: IQ3_M, Q4_K_M, Q6_K, Q8_0 …) and the ``mmproj`` audio
projector are loaded once per worker. For a track, the chat prefix up to the audio — the system
turn, the user header and the audio itself — is evaluated **once** into the KV cache of sequence
0 (libmtmd encodes the audio and decodes its embeddings); that cache is then shared, cell for
cell, by one sequence per prompt (``llama_memory_seq_cp`` on a unified cache), each prompt's own
text is decoded on its sequence, and all answers are generated **together**: every step decodes
one token of every unfinished prompt in a single batch, each prompt sampled with its own
temperature, top-p, token limit and seed. The old tool started a process and reloaded the model
for every prompt of every file.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mirset.describe.prompts import DescriptionPrompt
from mirset.text import strip_structural_tokens, t5_safe

AUDIO_TOKENS_PER_SECOND = 25  # Whisper-style encoder: 1500 frames per 30 s, pooled by 2
_LOG_SINK: list[Any] = []  # keeps the C log callback alive


def _silence_native_logs() -> None:
    import llama_cpp
    import llama_cpp.mtmd_cpp as mtmd

    if _LOG_SINK:
        return

    @llama_cpp.llama_log_callback
    def _drop(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        return None

    _LOG_SINK.append(_drop)
    llama_cpp.llama_log_set(_drop, ctypes.c_void_p(0))
    mtmd.mtmd_log_set(_drop, ctypes.c_void_p(0))
    mtmd.mtmd_helper_log_set(_drop, ctypes.c_void_p(0))


def gguf_files(folder: Path, names: list[str] | None = None) -> tuple[Path, Path]:
    """The language model and the audio projector among a model's files (``mmproj`` in the
    projector's name)."""
    paths = [folder / n for n in names] if names else sorted(folder.glob("*.gguf"))
    projectors = [p for p in paths if "mmproj" in p.name.lower()]
    models = [p for p in paths if p not in projectors and p.suffix == ".gguf"]
    if len(projectors) != 1 or len(models) != 1:
        raise FileNotFoundError(
            f"expected one language model and one mmproj .gguf in {folder}, found "
            f"{[p.name for p in paths]}"
        )
    return models[0], projectors[0]


@dataclass
class _Sequence:
    name: str
    prompt: DescriptionPrompt
    sampler: Any
    pos: int
    tokens: list[int] = field(default_factory=list)
    done: bool = False


class GGUFDescriber:
    """One loaded GGUF model and projector; ``describe`` answers several prompts about one
    audio window, the audio encoded and prefilled once."""

    backend = "gguf"

    def __init__(
        self,
        model_path: Path,
        mmproj_path: Path,
        *,
        gpu: bool = False,
        n_ctx: int = 8192,
        max_prompts: int = 8,
        threads: int | None = None,
    ) -> None:
        import llama_cpp
        import llama_cpp.mtmd_cpp as mtmd

        _silence_native_logs()
        llama_cpp.llama_backend_init()
        self._lib, self._mtmd = llama_cpp, mtmd
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = 999 if gpu else 0
        self.model = llama_cpp.llama_model_load_from_file(str(model_path).encode(), mparams)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {model_path}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = cparams.n_ubatch = 512
        cparams.n_seq_max = max(1, min(max_prompts, llama_cpp.llama_max_parallel_sequences()))
        cparams.kv_unified = True  # prompts share the audio prefix's cells
        cparams.no_perf = True
        if threads:
            cparams.n_threads = cparams.n_threads_batch = threads
        cparams.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO
        self.ctx = llama_cpp.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a context")
        self.n_ctx, self.n_batch, self.max_prompts = n_ctx, 512, int(cparams.n_seq_max)
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = gpu
        params.print_timings = False
        params.n_threads = threads or cparams.n_threads
        self.mctx = mtmd.mtmd_init_from_file(str(mmproj_path).encode(), self.model, params)
        if not self.mctx:
            raise RuntimeError(f"llama.cpp could not load the audio projector {mmproj_path}")
        if not mtmd.mtmd_support_audio(self.mctx):
            raise RuntimeError(f"{mmproj_path.name} has no audio encoder")
        self.sample_rate = int(mtmd.mtmd_get_audio_sample_rate(self.mctx))
        self.marker = mtmd.mtmd_default_marker().decode()
        self.template = self._chat_template()
        desc = ctypes.create_string_buffer(256)
        llama_cpp.llama_model_desc(self.model, desc, 256)
        self.description = desc.value.decode(errors="replace")
        self.gpu = gpu
        self.encodes = 0  # audio encodings so far (one per described track)
        self.last_tokens: dict[str, list[int]] = {}  # each prompt's generated tokens, last call
        self.ignore_eog = False  # benchmarks: every answer runs to its token limit

    # -- text ---------------------------------------------------------------------------
    def _chat_template(self) -> Any:
        import jinja2.sandbox

        raw = self._lib.llama_model_chat_template(self.model, None)
        if not raw:
            raise RuntimeError("the GGUF model has no chat template")
        env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        return env.from_string(raw.decode())

    def chat(self, prompt: str) -> str:
        """The whole chat text of one prompt, the audio marker first in the user turn."""
        messages = [{"role": "user", "content": f"{self.marker}\n{prompt}"}]
        return self.template.render(messages=messages, add_generation_prompt=True)

    def tokenize(self, text: str) -> list[int]:
        raw = text.encode()
        buf = (self._lib.llama_token * (len(raw) + 8))()
        n = self._lib.llama_tokenize(self.vocab, raw, len(raw), buf, len(buf), False, True)
        if n < 0:
            raise RuntimeError(f"tokenizing {len(raw)} bytes failed")
        return list(buf[:n])

    def detokenize(self, tokens: list[int]) -> str:
        out = bytearray()
        buf = ctypes.create_string_buffer(256)
        for t in tokens:
            n = self._lib.llama_token_to_piece(self.vocab, t, buf, 256, 0, False)
            out += buf.raw[: max(n, 0)]
        return out.decode("utf-8", errors="replace")

    # -- evaluation ---------------------------------------------------------------------
    def _eval_prefix(self, prefix: str, audio: np.ndarray) -> int:
        """Encode the audio and decode the chat up to it into sequence 0; its length."""
        mtmd = self._mtmd
        samples = np.ascontiguousarray(audio, dtype=np.float32)
        bitmap = mtmd.mtmd_bitmap_init_from_audio(
            len(samples), samples.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        )
        chunks = mtmd.mtmd_input_chunks_init()
        try:
            text = mtmd.mtmd_input_text()
            raw = prefix.encode()
            text.text, text.text_len = raw, len(raw)
            text.add_special, text.parse_special = True, True
            bitmaps = (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap)
            if mtmd.mtmd_tokenize(self.mctx, chunks, ctypes.byref(text), bitmaps, 1) != 0:
                raise RuntimeError("libmtmd could not tokenize the audio prompt")
            n_prefix = int(mtmd.mtmd_helper_get_n_pos(chunks))
            if n_prefix >= self.n_ctx:
                raise RuntimeError(f"audio prompt of {n_prefix} positions > context {self.n_ctx}")
            new_n_past = self._lib.llama_pos(0)
            status = mtmd.mtmd_helper_eval_chunks(
                self.mctx, self.ctx, chunks, 0, 0, self.n_batch, False, ctypes.byref(new_n_past)
            )
            if status != 0:
                raise RuntimeError("llama.cpp failed to evaluate the audio prompt")
            self.encodes += 1
            return int(new_n_past.value)
        finally:
            mtmd.mtmd_input_chunks_free(chunks)
            mtmd.mtmd_bitmap_free(bitmap)

    def _sampler(self, p: DescriptionPrompt, seed: int) -> Any:
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if p.temperature <= 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
        else:  # as transformers: temperature, then nucleus, then draw
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(p.temperature))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(p.top_p, 1))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        return chain

    def _decode(self, items: list[tuple[int, int, int, bool]]) -> None:
        """Decode (token, position, sequence, wants logits) items as one batch."""
        lib = self._lib
        batch = lib.llama_batch_init(len(items), 0, 1)
        try:
            for i, (tok, pos, seq, logits) in enumerate(items):
                batch.token[i], batch.pos[i] = tok, pos
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = logits
            batch.n_tokens = len(items)
            if lib.llama_decode(self.ctx, batch) != 0:
                raise RuntimeError("llama_decode failed (context full?)")
        finally:
            lib.llama_batch_free(batch)

    def describe(
        self, audio16k: np.ndarray, prompts: dict[str, DescriptionPrompt], seed: int = 0
    ) -> dict[str, str]:
        """Each prompt's answer, cleaned (chat tokens stripped, T5-safe)."""
        names = list(prompts)
        out: dict[str, str] = {}
        self.last_tokens = {}
        for start in range(0, len(names), self.max_prompts):
            group = {n: prompts[n] for n in names[start : start + self.max_prompts]}
            out |= self._describe_group(audio16k, group, seed)
        return out

    def _describe_group(
        self, audio16k: np.ndarray, prompts: dict[str, DescriptionPrompt], seed: int
    ) -> dict[str, str]:
        lib = self._lib
        chats = {name: self.chat(p.text) for name, p in prompts.items()}
        first = next(iter(chats.values()))
        prefix = first[: first.index(self.marker) + len(self.marker)]
        if not all(c.startswith(prefix) for c in chats.values()):
            raise RuntimeError("the chat template puts prompt text before the audio")
        lib.llama_memory_clear(self.memory, True)
        n_prefix = self._eval_prefix(prefix, audio16k)
        seqs: list[_Sequence] = []
        try:
            for i, (name, p) in enumerate(prompts.items()):
                if i:
                    lib.llama_memory_seq_cp(self.memory, 0, i, 0, n_prefix)
                own = self.tokenize(chats[name][len(prefix) :])
                need = n_prefix + sum(len(s.tokens) + s.prompt.max_tokens for s in seqs)
                if need + len(own) + p.max_tokens > self.n_ctx:
                    raise RuntimeError(
                        f"prompts need {need + len(own) + p.max_tokens} positions; "
                        f"the context holds {self.n_ctx} (raise n_ctx)"
                    )
                seq = _Sequence(name, p, self._sampler(p, seed + i * 7919), n_prefix)
                for j in range(0, len(own), self.n_batch):  # the prompt's own text
                    part = own[j : j + self.n_batch]
                    last = j + len(part) == len(own)
                    self._decode(
                        [
                            (t, seq.pos + k, i, last and k == len(part) - 1)
                            for k, t in enumerate(part)
                        ]
                    )
                    seq.pos += len(part)
                self._accept(seq, lib.llama_sampler_sample(seq.sampler, self.ctx, -1))
                seqs.append(seq)
            while live := [(i, s) for i, s in enumerate(seqs) if not s.done]:
                self._decode([(s.tokens[-1], s.pos - 1, i, True) for i, s in live])
                for b, (_, s) in enumerate(live):
                    self._accept(s, lib.llama_sampler_sample(s.sampler, self.ctx, b))
        finally:
            for s in seqs:
                lib.llama_sampler_free(s.sampler)
            lib.llama_memory_clear(self.memory, True)
        self.last_tokens |= {s.name: s.tokens for s in seqs}
        return {s.name: t5_safe(strip_structural_tokens(self.detokenize(s.tokens))) for s in seqs}

    def _accept(self, seq: _Sequence, token: int) -> None:
        if not self.ignore_eog and self._lib.llama_vocab_is_eog(self.vocab, token):
            seq.done = True
            return
        seq.tokens.append(int(token))
        seq.pos += 1
        seq.done = len(seq.tokens) >= seq.prompt.max_tokens

    def describe_info(self) -> dict[str, Any]:
        quant = re.search(r"\b(I?Q\d\w*|F16|BF16|F32)\b", self.description, re.I)
        return {
            "dtype": quant.group(1) if quant else self.description,
            "device": "gpu" if self.gpu else "cpu",
        }

    def close(self) -> None:
        if getattr(self, "mctx", None):
            self._mtmd.mtmd_free(self.mctx)
            self.mctx = None
        if getattr(self, "ctx", None):
            self._lib.llama_free(self.ctx)
            self.ctx = None
        if getattr(self, "model", None):
            self._lib.llama_model_free(self.model)
            self.model = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
