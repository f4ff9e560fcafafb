"""`python -m services.inference` runs the inference service."""

from services.inference.app import create_app
from shared.kit.running import run_service

run_service(create_app)
