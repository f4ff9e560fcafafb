"""The embedding model at run time: every service that turns text into the platform's
vectors (embedding for the index and queries, training for features) uses these, so the
vectors share one space."""

from shared.encoders.loading import EncoderSettings, load_encoder
from shared.encoders.named import load_named_encoder
from shared.encoders.threaded_encoder import ThreadedEncoder

__all__ = ["EncoderSettings", "ThreadedEncoder", "load_encoder", "load_named_encoder"]
