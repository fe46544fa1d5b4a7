"""Facts a database keeps about how it was built, checked at start-up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from parley.config import SettingsError
from parley.store.models import Meta
from parley.store.upsert import insert_missing

EMBEDDING_MODEL = "embedding_model"


async def ensure_embedding_model(db: AsyncSession, *, name: str, dimensions: int) -> None:
    """Record the embedding model on first start; refuse a different one later, since vectors
    of different models cannot be compared (re-embedding is a deliberate migration)."""
    wanted: dict[str, Any] = {"name": name, "dimensions": dimensions}
    await insert_missing(db, Meta, [{"key": EMBEDDING_MODEL, "value": wanted}])
    row = await db.get(Meta, EMBEDDING_MODEL)
    if row is None:  # inserted just above, in this transaction
        raise RuntimeError(f"meta row {EMBEDDING_MODEL!r} is missing after its insert")
    stored = row.value
    if stored != wanted:
        raise SettingsError(
            f"this database was built with the embedding model {stored.get('name')} "
            f"({stored.get('dimensions')} dimensions), but the server is configured with "
            f"{name} ({dimensions} dimensions). Use the original embedding settings, or a new "
            "database (PARLEY_DATABASE_URL / PARLEY_DATA_DIR)."
        )
    if db.get_bind().dialect.name == "postgresql":
        # m = 8 (pgvector's default is 16): every stored message inserts into this index, and
        # at 1,536 dimensions the insert was most of the indexer's time; with half the links
        # per node it costs half (bench/indexer.py: PostgreSQL CPU 1.2 -> 0.6 ms a message)
        # for recall@10 0.996 -> 0.990 at 20k vectors (bench/hnsw_recall.py). A database made
        # before keeps its index as built; dropping it makes the next start build this one.
        await db.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS ix_message_embeddings_hnsw_{dimensions} "
                "ON message_embeddings USING hnsw "
                f"((embedding::vector({dimensions})) vector_cosine_ops) WITH (m = 8)"
            )
        )
        await db.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS ix_observations_hnsw_{dimensions} "
                "ON observations USING hnsw "
                f"((embedding::vector({dimensions})) vector_cosine_ops)"
            )
        )
