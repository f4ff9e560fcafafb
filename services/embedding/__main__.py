"""`python -m services.embedding` runs the embedding service."""

from services.embedding.app import create_app
from shared.kit.running import run_service

run_service(create_app)
