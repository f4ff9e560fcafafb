"""Ingestion's FastStream wiring: documents -> chunks, requests -> requests.accepted."""

from __future__ import annotations

from faststream import FastStream
from faststream.kafka import KafkaResponse

from services.ingestion.config import IngestionSettings
from services.ingestion.handlers import SERVICE, accept_request, chunk_document
from shared.cloudevents import envelope
from shared.events import DocumentChanged, InferenceRequest
from shared.service import ServiceKit
from shared.topics import Topic

__all__ = ["create_app"]


def create_app(settings: IngestionSettings | None = None) -> FastStream:
    """Build the ingestion app; nothing connects until it runs."""
    settings = settings or IngestionSettings()
    kit = ServiceKit(SERVICE, settings)

    @kit.subscriber(Topic.DOCUMENTS)
    @kit.publisher(Topic.CHUNKS)
    async def on_document(event: DocumentChanged) -> KafkaResponse:
        chunked = chunk_document(
            event,
            chunk_size=settings.chunk_size_chars,
            overlap=settings.chunk_overlap_chars,
            max_bytes=settings.max_document_bytes,
        )
        return envelope(chunked, kit.source)

    @kit.subscriber(Topic.REQUESTS)
    @kit.publisher(Topic.REQUESTS_ACCEPTED)
    async def on_request(event: InferenceRequest) -> KafkaResponse:
        return envelope(accept_request(event, experiment=settings.experiment), kit.source)

    return kit.app()
