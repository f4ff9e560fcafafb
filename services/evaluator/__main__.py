"""`python -m services.evaluator` runs the evaluator service."""

from services.evaluator.app import create_app
from shared.kit.running import run_service

run_service(create_app)
