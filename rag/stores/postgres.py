"""Store backend `postgresql://…`: the index in a PostgreSQL database, dense search by pgvector (HNSW),
lexical search by PostgreSQL's French full-text search (GIN). rag/retrieve.py fuses the two as for
any store.

    rag_generations   id, manifest            one row per committed generation
    rag_current       generation              one row: the live generation
    rag_chunks_<id>   position, id, source, title, start_char, end_char, text,
                      embedding vector(dim)   HNSW, inner product (FAISS's IndexFlatIP on the file store)
                      tsv = to_tsvector('french', text)   GIN
    rag_texts_<id>    source, text            what chunk offsets point into

A generation is written in one transaction — its tables, rows, indexes, manifest and the switch of
rag_current commit together or not at all — so readers never see half an ingest and a killed ingest
leaves nothing behind. One writer at a time: a session advisory lock, released by the server if the
writer dies. The live generation and the one before it are kept, so readers that have not yet
noticed a new generation finish their searches; an Index whose generation is gone follows the live one.

The tables live in the first schema of the connection's search_path: `public` by default, another
with libpq's own URL syntax, postgresql://host/db?options=-csearch_path%3Dmy_index,public (the
schema where the vector extension lives must stay on the path).
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.types.json import Jsonb

from ..errors import BackendError, IndexCorrupt
from ..registry import redact
from ..types import Chunk

log = logging.getLogger("rag")

FORMAT = 1
KEEP = 2  # generations kept: the live one and the previous one, for readers still on it
TEXT_SEARCH = "french"
CACHE = 4096  # rows of recent hits kept for chunk(id)
COLUMNS = "id, source, title, start_char, end_char, text"

_META = """
CREATE TABLE IF NOT EXISTS rag_generations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, manifest jsonb NOT NULL,
    created timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS rag_current (
    one boolean PRIMARY KEY DEFAULT true CHECK (one), generation bigint NOT NULL REFERENCES rag_generations);
"""

# Okapi BM25 over PostgreSQL's French lexemes, with the parameters and IDF formula of bm25s (the file
# store's BM25), in two passes: the chunks that hold any of the question's lexemes (found through the
# GIN index) are scored as if each lexeme came once (cheap: no tsvector is unpacked); the best
# POOL of them are scored again with their real term frequencies, and the best k returned. In a large
# index, a lexeme found in more than 5 % of the chunks (and over 1000) adds to the score of chunks
# found through the other lexemes but brings in none of its own: scoring half the index for one
# common word would take seconds. (ts_rank, which has no IDF, found the dev set's evidence less
# often.) The OR query is built from the lexemes as they are: nothing is stemmed twice.
BM25 = {"k1": 1.5, "b": 0.75}
POOL = 100
_BM25 = sql.SQL(r"""
WITH terms AS (
    SELECT lexeme, idf, df, ('''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || '''')::tsquery AS q
    FROM {terms} WHERE lexeme = ANY(tsvector_to_array(to_tsvector('french', %(query)s)))
), pool AS (
    SELECT c.position FROM {chunks} c JOIN terms t ON c.tsv @@ t.q
    WHERE c.tsv @@ (SELECT coalesce(string_agg(q::text, ' | ') FILTER (WHERE df <= %(common)s),
                                    string_agg(q::text, ' | '))::tsquery FROM terms)
    GROUP BY c.position
    ORDER BY sum(t.idf) / (1 + %(k1)s * (1 - %(b)s + %(b)s * max(c.tokens) / %(avg)s)) DESC, c.position
    LIMIT %(pool)s
), best AS (
    SELECT c.position, sum(t.idf * f.tf * (%(k1)s + 1)
                           / (f.tf + %(k1)s * (1 - %(b)s + %(b)s * c.tokens / %(avg)s))) AS score
    FROM pool JOIN {chunks} c USING (position)
    CROSS JOIN LATERAL unnest(c.tsv) AS u(lexeme, positions, weights)
    JOIN terms t ON t.lexeme = u.lexeme
    CROSS JOIN LATERAL (SELECT cardinality(u.positions)::float8 AS tf) f
    GROUP BY c.position ORDER BY score DESC, c.position LIMIT %(k)s
)
SELECT c.id, c.source, c.title, c.start_char, c.end_char, c.text, best.score
FROM best JOIN {chunks} c USING (position) ORDER BY best.score DESC, best.position
""")


def _lexical_statistics(conn: psycopg.Connection, chunks: sql.Identifier, terms: sql.Identifier, n: int) -> dict:
    """Each chunk's length in tokens and each lexeme's IDF, computed once per generation."""
    conn.execute(sql.SQL("UPDATE {} SET tokens = (SELECT coalesce(sum(cardinality(positions)), 0) FROM unnest(tsv))"
                         ).format(chunks))
    conn.execute(sql.SQL(
        "CREATE TABLE {} AS SELECT word AS lexeme, ndoc AS df, ln(1 + ({} - ndoc + 0.5) / (ndoc + 0.5))::float8 AS idf "
        "FROM ts_stat({})"
    ).format(terms, sql.Literal(n), sql.Literal(sql.SQL("SELECT tsv FROM {}").format(chunks).as_string(conn))))
    conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (lexeme)").format(terms))
    average = conn.execute(sql.SQL("SELECT avg(tokens)::float8 FROM {}").format(chunks)).fetchone()[0]
    return {**BM25, "avg_tokens": max(average or 1.0, 1.0), "common_df": max(int(0.05 * n), 1000)}


def _tables(generation: int) -> tuple[sql.Identifier, ...]:
    """A generation's tables: chunks, document texts, lexeme statistics."""
    return tuple(sql.Identifier(f"rag_{kind}_{generation}") for kind in ("chunks", "texts", "terms"))


class PostgresStore:
    """rag.stores.Store over one PostgreSQL database (and schema)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.location = redact(url)

    def __repr__(self) -> str:
        return f"PostgresStore({self.location!r})"

    def connect(self, autocommit: bool = True) -> psycopg.Connection:
        try:
            conn = psycopg.connect(self.url, autocommit=autocommit, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise BackendError(f"cannot connect to the index database {self.location} ({_first_line(exc)}); start "
                           f"PostgreSQL or fix RAG_INDEX / --index") from None
        try:
            register_vector(conn)
        except psycopg.ProgrammingError:
            conn.close()
            raise BackendError(f"the index database {self.location} lacks the pgvector extension; run "
                           f"`CREATE EXTENSION vector;` in it as a superuser") from None
        return conn

    # -- reading ------------------------------------------------------------------------------
    def read_manifest(self) -> dict | None:
        with self.connect() as conn:
            live = _live(conn)
        return None if live is None else _checked_manifest(live[1], live[0])

    def load(self) -> PostgresIndex | None:
        conn = self.connect()
        live = _live(conn)
        if live is None:
            conn.close()
            return None
        try:
            return PostgresIndex(self, conn, *live)
        except BaseException:
            conn.close()
            raise

    # -- writing ------------------------------------------------------------------------------
    @contextmanager
    def locked(self):
        """One writer per database and schema: a session advisory lock, which the server releases
        if the writer's connection dies."""
        with self.connect() as conn:
            schema = conn.execute("SELECT current_schema()").fetchone()[0]
            key = int.from_bytes(hashlib.sha256(f"rag-index:{schema}".encode()).digest()[:8], "big", signed=True)
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def write(self, manifest: dict, chunks: list[Chunk], vectors: np.ndarray, texts: dict[str, str]) -> dict[str, float]:
        timings: dict[str, float] = {}
        dim = int(manifest["embedder"]["dim"])
        manifest = {**manifest, "format": FORMAT, "versions": _versions()}
        with self.connect(autocommit=False) as conn:
            started = time.perf_counter()
            conn.execute(_META)
            generation = conn.execute("INSERT INTO rag_generations (manifest) VALUES (%s) RETURNING id",
                                      (Jsonb(manifest),)).fetchone()[0]
            chunk_table, text_table, term_table = _tables(generation)
            # toast_tuple_target: text, vector and tsvector (~3.7 kB a row together) are kept out of line,
            # so a row in the table itself is ~150 bytes. BM25's first pass visits the row of every chunk
            # holding a query lexeme for its position and length only: with 100k chunks that table is
            # 28 MB instead of 249 MB (it stays in shared_buffers) and hybrid p95 is ×0.28 (README).
            conn.execute(sql.SQL(
                "CREATE TABLE {} (position integer PRIMARY KEY, id text NOT NULL UNIQUE, source text NOT NULL, "
                "title text NOT NULL, start_char integer NOT NULL, end_char integer NOT NULL, text text NOT NULL, "
                "embedding vector({}) NOT NULL, tokens integer, "
                "tsv tsvector GENERATED ALWAYS AS (to_tsvector({}, text)) STORED) WITH (toast_tuple_target = 128)"
            ).format(chunk_table, sql.Literal(dim), sql.Literal(TEXT_SEARCH)))
            conn.execute(sql.SQL("CREATE TABLE {} (source text PRIMARY KEY, text text NOT NULL)").format(text_table))
            with conn.cursor().copy(sql.SQL(
                "COPY {} (position, id, source, title, start_char, end_char, text, embedding) FROM STDIN"
            ).format(chunk_table)) as copy:
                for position, (chunk, vector) in enumerate(zip(chunks, vectors)):
                    copy.write_row((position, chunk.id, chunk.source, chunk.title, chunk.start, chunk.end,
                                    chunk.text, vector))
            with conn.cursor().copy(sql.SQL("COPY {} (source, text) FROM STDIN").format(text_table)) as copy:
                for source, text in texts.items():
                    copy.write_row((source, text))
            timings["rows"] = time.perf_counter() - started
            t = time.perf_counter()
            lexical = _lexical_statistics(conn, chunk_table, term_table, len(chunks))
            conn.execute("UPDATE rag_generations SET manifest = manifest || %s WHERE id = %s",
                         (Jsonb({"lexical": lexical}), generation))
            timings["terms"] = time.perf_counter() - t
            t = time.perf_counter()
            conn.execute(sql.SQL("CREATE INDEX ON {} USING hnsw (embedding vector_ip_ops)").format(chunk_table))
            timings["hnsw"] = time.perf_counter() - t
            t = time.perf_counter()
            conn.execute(sql.SQL("CREATE INDEX ON {} USING gin (tsv)").format(chunk_table))
            timings["gin"] = time.perf_counter() - t
            conn.execute("INSERT INTO rag_current (one, generation) VALUES (true, %s) "
                         "ON CONFLICT (one) DO UPDATE SET generation = excluded.generation", (generation,))
            t = time.perf_counter()
            conn.commit()
            timings["commit"] = time.perf_counter() - t
        self._drop_old()
        return timings

    def discard(self) -> None:
        """Forget the live generation (its tables go at the next ingest); the corpus is untouched."""
        with self.connect() as conn:
            if _has_meta(conn):
                conn.execute("DELETE FROM rag_current")

    def _drop_old(self) -> None:
        """Drop every generation but the newest KEEP; also the tables of crashed runs, if any."""
        with self.connect() as conn:
            live = conn.execute("SELECT generation FROM rag_current").fetchone()[0]
            keep = [row[0] for row in conn.execute(
                "SELECT id FROM rag_generations WHERE id <= %s ORDER BY id DESC LIMIT %s", (live, KEEP))]
            stale = [row[0] for row in conn.execute(
                "SELECT id FROM rag_generations WHERE NOT id = ANY(%s)", (keep,))]
            orphans = [int(m.group(1)) for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename ~ '^rag_(chunks|texts|terms)_[0-9]+$'")
                if (m := re.search(r"_(\d+)$", name)) and int(m.group(1)) not in keep]
            for generation in sorted(set(stale) | set(orphans)):
                with conn.transaction():
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}, {}").format(*_tables(generation)))
                    conn.execute("DELETE FROM rag_generations WHERE id = %s", (generation,))


class PostgresIndex:
    """One committed generation, read through one connection (thread-safe: psycopg serialises it)."""

    def __init__(self, store: PostgresStore, conn: psycopg.Connection, generation: int, manifest: dict) -> None:
        self._store, self._conn = store, conn
        self._lock = threading.Lock()
        self._recent: dict[str, Chunk] = {}
        self._pin(generation, manifest)

    def _pin(self, generation: int, manifest: dict) -> None:
        manifest = _checked_manifest(manifest, generation)
        chunks, texts, terms = _tables(generation)
        try:
            n_chunks = self._conn.execute(sql.SQL("SELECT count(*) FROM {}").format(chunks)).fetchone()[0]
            n_texts = self._conn.execute(sql.SQL("SELECT count(*) FROM {}").format(texts)).fetchone()[0]
            dim = self._conn.execute(
                "SELECT atttypmod FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'embedding'",
                (chunks.as_string(self._conn),)).fetchone()[0]
        except psycopg.errors.UndefinedTable:
            raise IndexCorrupt(f"generation {generation} in {self._store.location} has lost its tables") from None
        counts = manifest["counts"]
        if (n_chunks, n_texts) != (counts["chunks"], counts["files"]):
            raise IndexCorrupt(f"index counts disagree in {self._store.location}: manifest {counts['chunks']} chunks "
                               f"of {counts['files']} files, tables {n_chunks} and {n_texts}")
        if dim != manifest["embedder"]["dim"]:
            raise IndexCorrupt(f"vector dimension {dim} != manifest {manifest['embedder']['dim']}")
        self.generation, self.manifest = generation, manifest
        self._tables = {"chunks": chunks, "texts": texts, "terms": terms}
        self._recent.clear()

    def _rows(self, query: sql.Composable, params: tuple) -> list[tuple]:
        """Rows of a query on this generation's tables; if another ingest has dropped them since,
        this index follows the live generation."""
        for attempt in (1, 2):
            try:
                return self._conn.execute(query.format(**self._tables), params).fetchall()
            except psycopg.errors.UndefinedTable:
                if attempt == 2:
                    raise
                self._follow_live()
            except psycopg.OperationalError:  # the server restarted, or the connection dropped
                if attempt == 2 or not self._conn.closed:
                    raise
                self._conn = self._store.connect()
        raise AssertionError("unreachable")

    def _follow_live(self) -> None:
        with self._lock:
            live = _live(self._conn)
            if live is None:
                raise IndexCorrupt(f"the index in {self._store.location} has been discarded; run `rag ingest`")
            log.info("index generation %s is gone; following the live one, %s", self.generation, live[0])
            self._pin(*live)

    # -- the Index interface (rag.stores.Index) ------------------------------------------------
    def __len__(self) -> int:
        return self.manifest["counts"]["chunks"]

    def dense(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        rows = self._rows(sql.SQL(
            f"SELECT {COLUMNS}, -(embedding <#> %s) FROM {{chunks}} ORDER BY embedding <#> %s LIMIT %s"
        ), (vector, vector, k))
        return self._hits(rows)

    def lexical(self, query: str, k: int) -> list[tuple[str, float]]:
        stats = self.manifest["lexical"]
        params = {"query": query, "k": k, "k1": stats["k1"], "b": stats["b"], "avg": stats["avg_tokens"],
                  "common": stats["common_df"], "pool": max(POOL, k)}
        return self._hits(self._rows(_BM25, params))

    def _hits(self, rows: list[tuple]) -> list[tuple[str, float]]:
        if len(self._recent) > CACHE:
            self._recent.clear()
        for row in rows:
            self._recent[row[0]] = Chunk(*row[:6])
        return [(row[0], float(row[6])) for row in rows]

    def chunk(self, chunk_id: str) -> Chunk:
        if chunk_id in self._recent:
            return self._recent[chunk_id]
        rows = self._rows(sql.SQL(f"SELECT {COLUMNS} FROM {{chunks}} WHERE id = %s"), (chunk_id,))
        if not rows:
            raise KeyError(chunk_id)
        return Chunk(*rows[0])

    def document_text(self, source: str) -> str:
        rows = self._rows(sql.SQL("SELECT text FROM {texts} WHERE source = %s"), (source,))
        if not rows:
            raise KeyError(source)
        return rows[0][0]

    def stored(self) -> Iterator[tuple[Chunk, np.ndarray]]:
        for row in self._rows(sql.SQL(f"SELECT {COLUMNS}, embedding FROM {{chunks}} ORDER BY position"), ()):
            yield Chunk(*row[:6]), row[6].to_numpy()

    def close(self) -> None:
        self._conn.close()


def _has_meta(conn: psycopg.Connection) -> bool:
    # in the index's own schema: another index further down the search_path is not this one
    return conn.execute("SELECT to_regclass(format('%I.rag_current', current_schema())) IS NOT NULL").fetchone()[0]


def _live(conn: psycopg.Connection) -> tuple[int, dict] | None:
    """(generation, manifest) of the live generation; None when there is no index yet."""
    if not _has_meta(conn):
        return None
    row = conn.execute("SELECT g.id, g.manifest FROM rag_current c JOIN rag_generations g ON g.id = c.generation"
                       ).fetchone()
    return None if row is None else (row[0], row[1])


def _checked_manifest(manifest, generation: int) -> dict:
    if not isinstance(manifest, dict) or not all(
        isinstance(manifest.get(key), dict) for key in ("embedder", "chunking", "files", "counts", "lexical")
    ):
        raise IndexCorrupt(f"index generation {generation} has no valid manifest")
    if manifest.get("format") != FORMAT:
        raise IndexCorrupt(f"index format {manifest.get('format')} is not {FORMAT}")
    return manifest


def _versions() -> dict[str, str]:
    from importlib import metadata

    return {name: metadata.version(name) for name in ("psycopg", "pgvector")}


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def open_store(spec: str) -> PostgresStore:
    return PostgresStore("postgresql:" + spec)
