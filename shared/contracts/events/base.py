"""What every event carries, and the small types many events share."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

__all__ = [
    "Contract",
    "EntityId",
    "Event",
    "ModelRef",
    "Stage",
    "TenantId",
    "derived_id",
    "utcnow",
]

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


# What a 64-bit signed integer holds: Postgres' bigint, Java's long, most JSON readers.
_INT64 = range(-(2**63), 2**63)


def _portable(value: Any) -> None:
    """Raise ValueError where `value` holds what the platform cannot carry or store: a NUL
    character (no Postgres text or jsonb holds one) or an integer beyond 64 bits."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a NUL character (U+0000) in text: Postgres cannot store it")
    elif isinstance(value, int) and not isinstance(value, bool):
        if value not in _INT64:
            raise ValueError(f"{value} is beyond a 64-bit integer")
    elif isinstance(value, dict):
        for key, item in value.items():
            _portable(key)
            _portable(item)
    elif isinstance(value, list | tuple) and not (value and isinstance(value[0], float)):
        for item in value:  # a vector of floats is skipped: NaN is refused as it is parsed
            _portable(item)


class Contract(BaseModel):
    """What every model on the wire refuses: NaN and infinities (JSON has neither), NUL
    characters and integers beyond 64 bits, so a bad value is refused where it arrives
    rather than by a database or a metric further on."""

    model_config = ConfigDict(allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_unportable(cls, value: Any) -> Any:
        _portable(value)
        return value


class Event(Contract):
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


class Stage(Contract):
    """One service's work on a request: when it started and finished."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    service: str
    started_at: AwareDatetime
    finished_at: AwareDatetime

    @property
    def duration_ms(self) -> float:
        """Return the stage's duration in milliseconds."""
        return (self.finished_at - self.started_at).total_seconds() * 1000


class ModelRef(Contract):
    """Which model produced something, by name and version."""

    model_config = ConfigDict(extra="ignore", frozen=True, protected_namespaces=())

    name: str
    version: str
