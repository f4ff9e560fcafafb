"""What every event carries, and the small types many events share."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["EntityId", "Event", "ModelRef", "Stage", "TenantId", "derived_id", "utcnow"]

E = TypeVar("E", bound="Event")
# What makes an event itself, never carried over to an event derived from it.
_IDENTITY = frozenset({"event_id", "occurred_at", "schema_version"})

TenantId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$"),
    Field(description="Lower-case tenant slug: letters, digits, '-' and '_', at most 63."),
]
EntityId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256, pattern=r"^[^\s/]+$"),
    Field(description="Caller-chosen identifier: 1-256 characters, no whitespace, no '/'."),
]


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def derived_id(parent: uuid.UUID, stage: str) -> uuid.UUID:
    """Return a deterministic event id for what `stage` derives from event `parent`.

    Replaying an input after a crash re-emits the same id, so consumers can
    deduplicate by `event_id`.
    """
    return uuid.uuid5(parent, stage)


class Event(BaseModel):
    """Fields every event on every topic carries."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    tenant: TenantId
    schema_version: int = Field(default=1, ge=1)

    # The field that, with the tenant, keys the message and so keeps per-entity order.
    key_field: ClassVar[str] = "event_id"

    @property
    def message_key(self) -> bytes:
        """Return the Kafka key: `tenant/<entity id>`."""
        return f"{self.tenant}/{getattr(self, self.key_field)}".encode()

    def derive(self, target: type[E], /, **fields: Any) -> E:
        """Return a `target` event derived from this one: each field the two events share
        (the provenance: tenant, request id, experiment, arm, query, times) is carried
        over, and `fields` set the rest or override what is carried."""
        shared = target.model_fields.keys() & type(self).model_fields.keys()
        carried = {name: getattr(self, name) for name in shared - _IDENTITY - fields.keys()}
        return target(**carried, **fields)


class Stage(BaseModel):
    """One service's work on a request: when it started and finished."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    service: str
    started_at: AwareDatetime
    finished_at: AwareDatetime

    @property
    def duration_ms(self) -> float:
        """Return the stage's duration in milliseconds."""
        return (self.finished_at - self.started_at).total_seconds() * 1000


class ModelRef(BaseModel):
    """Which model produced something, by name and version."""

    model_config = ConfigDict(extra="ignore", frozen=True, protected_namespaces=())

    name: str
    version: str
