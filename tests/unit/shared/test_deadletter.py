import asyncpg
import pytest
from pydantic import ValidationError

from shared.contracts.events import InferenceRequest
from shared.kit.deadletter import Rejected, describe, is_transient


def test_transient_errors_are_retried_and_bad_input_is_not() -> None:
    assert is_transient(ConnectionRefusedError())
    assert is_transient(asyncpg.CannotConnectNowError())
    assert not is_transient(Rejected("empty document"))
    assert not is_transient(KeyError("bug"))
    assert not is_transient(FileNotFoundError("a bug, not an outage"))  # retrying cannot help


def test_validation_errors_are_dead_lettered_with_a_one_line_reason() -> None:
    with pytest.raises(ValidationError) as caught:
        InferenceRequest.model_validate({"tenant": "acme"})
    assert not is_transient(caught.value)
    assert "request_id" in describe(caught.value)
    assert "\n" not in describe(caught.value)
