"""`python -m services.trainer` runs the trainer service."""

from services.trainer.app import create_app
from shared.kit.running import run_service

run_service(create_app)
