import asyncpg
from pydantic import ValidationError

from shared.deadletter import Rejected, describe, is_transient
from shared.events import InferenceRequest


def test_transient_errors_are_retried_and_bad_input_is_not() -> None:
    assert is_transient(ConnectionRefusedError())
    assert is_transient(asyncpg.CannotConnectNowError())
    assert not is_transient(Rejected("empty document"))
    assert not is_transient(KeyError("bug"))
    try:
        InferenceRequest.model_validate({"tenant": "acme"})
    except ValidationError as exc:
        assert not is_transient(exc)
        assert "request_id" in describe(exc) and "\n" not in describe(exc)
