"""Settings of model admission, shared by every service that loads or registers a model."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from shared.kit.settings import PillarsSettings
from shared.models.allowlist import checked_name

__all__ = ["ModelSettings"]


class ModelSettings(PillarsSettings):
    """`PILLARS_*` settings of what admission lets a model file do."""

    allow_unlicensed_models: bool = Field(
        default=False, description="Load registered models that have no licence recorded."
    )
    allow_pickle_models: bool = Field(
        default=False,
        description="Admit pickle files (protocol 3 or later), loaded by an unpickler that "
        "builds only the allowlist's names; off, only skops, XGBoost, ONNX and safetensors.",
    )
    model_allowed_types: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Fully-qualified names a model file may construct beyond the built-in "
        "allowlist, comma-separated or a JSON list, e.g. `sklearn.svm._classes.NuSVC`; "
        "no wildcards.",
    )
    model_max_bytes: int = Field(
        default=512 * 2**20,
        ge=1,
        description="Largest model file admission reads; a bigger one is refused before "
        "it is read.",
    )

    model_signing_key: SecretStr | None = Field(
        default=None,
        description="Signs each artifact at registration (HMAC-SHA256 of the model name and "
        "the file's SHA-256); set, admission refuses a version unsigned or signed with "
        "another key. Unset = the SHA-256 alone is checked.",
    )

    @property
    def signing_key(self) -> bytes | None:
        """Return the signing key's bytes, if one is set."""
        key = self.model_signing_key
        return None if key is None else key.get_secret_value().encode()

    @field_validator("model_allowed_types", mode="before")
    @classmethod
    def _exact_names(cls, value: object) -> object:
        """Take a comma-separated string or a JSON list; refuse patterns and partial names."""
        try:
            names = value
            if isinstance(value, str):
                listed = value.lstrip().startswith("[")
                names = json.loads(value) if listed else value.split(",")
            if not isinstance(names, list | tuple):
                return value
            return [checked_name(str(name)) for name in names if str(name).strip()]
        except ValueError as exc:  # json's errors included
            raise ValueError(f"PILLARS_MODEL_ALLOWED_TYPES: {exc}") from None
