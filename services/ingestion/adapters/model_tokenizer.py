"""The embedding model's own tokenizer (Hugging Face `tokenizers`, no torch)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer as HfTokenizer

__all__ = ["ModelTokenizer"]


class ModelTokenizer:
    """Counts and cuts text in the model's tokens, so every chunk fits its window."""

    def __init__(self, model_folder: Path) -> None:
        self._tokenizer = HfTokenizer.from_file(str(model_folder / "tokenizer.json"))
        # The packaged tokenizer.json pads and truncates to 128; chunking needs true lengths.
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()

    def count(self, texts: Sequence[str]) -> list[int]:
        """Return how many tokens each text is, without special tokens."""
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def windows(self, text: str, size: int) -> list[str]:
        """Cut `text` at token boundaries into pieces of at most `size` tokens."""
        offsets = self._tokenizer.encode(text, add_special_tokens=False).offsets
        pieces = []
        for start in range(0, len(offsets), size):
            window = offsets[start : start + size]
            pieces.append(text[window[0][0] : window[-1][1]].strip())
        return [p for p in pieces if p]
