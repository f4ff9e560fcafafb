"""Ingestion's FastStream wiring: documents -> chunks, requests -> requests.accepted."""

from __future__ import annotations

import asyncpg
from faststream import FastStream
from faststream.kafka import KafkaResponse

from services.ingestion.adapters.model_tokenizer import ModelTokenizer
from services.ingestion.adapters.pg_assignments import PgAssignments
from services.ingestion.config import IngestionSettings
from services.ingestion.handlers import SERVICE, accept_request, chunk_document
from services.ingestion.ports import Assignments
from shared.contracts.events import DocumentChanged, InferenceRequest
from shared.contracts.topics import Topic
from shared.encoders.model_folder import max_sequence_length, model_folder
from shared.kit.openinference import annotate_current_span
from shared.kit.publishing import envelope
from shared.kit.service import ServiceKit

__all__ = ["create_app"]


def create_app(settings: IngestionSettings | None = None) -> FastStream:
    """Build the ingestion app; nothing connects until it runs."""
    settings = settings or IngestionSettings()
    kit = ServiceKit(SERVICE, settings)
    tokenizers: list[ModelTokenizer] = []  # loaded at start-up, not at import

    async def load_tokenizer() -> None:
        folder = model_folder(settings.embedding_model_path)
        window = max_sequence_length(folder) - 2  # [CLS] and [SEP] take two
        if settings.chunk_size_tokens > window:
            raise RuntimeError(
                f"PILLARS_CHUNK_SIZE_TOKENS={settings.chunk_size_tokens} exceeds what the model "
                f"at {folder} reads ({window} tokens besides its special ones): lower it"
            )
        tokenizers.append(ModelTokenizer(folder))

    @kit.subscriber(Topic.DOCUMENTS)
    @kit.publisher(Topic.CHUNKS)
    async def on_document(event: DocumentChanged) -> KafkaResponse:
        annotate_current_span(event)
        chunked = chunk_document(
            event,
            tokens=tokenizers[0],
            chunk_size=settings.chunk_size_tokens,
            overlap=settings.chunk_overlap_tokens,
            max_bytes=settings.max_document_bytes,
        )
        return envelope(chunked, kit.source)

    @kit.subscriber(Topic.REQUESTS)
    @kit.publisher(Topic.REQUESTS_ACCEPTED)
    async def on_request(event: InferenceRequest) -> KafkaResponse:
        assignments: Assignments = kit.built("assignments")
        accepted = await accept_request(
            event, experiment=settings.experiment, assignments=assignments
        )
        annotate_current_span(accepted)
        return envelope(accepted, kit.source)

    async def adapters(pool: asyncpg.Pool) -> dict[str, object]:
        assignments = PgAssignments(pool)
        await assignments.create_schema()
        return {"assignments": assignments}

    return kit.app(on_startup=[load_tokenizer], lifespan=kit.database_lifespan(adapters))
