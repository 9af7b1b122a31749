-- The raw event log: one row per event, every stream.
-- Idempotency: ReplacingMergeTree keyed by event_id (job_id leads the key for per-job reads;
-- an event's job_id never changes). A redelivered or replayed event lands as a second
-- physical row that merges away; every reader uses FINAL, so it never counts twice.
-- The dedup window also drops a retried insert of the same batch (same token) at once.
CREATE TABLE IF NOT EXISTS events
(
    event_id      String,
    type          LowCardinality(String),
    stream        LowCardinality(String),
    stream_seq    UInt64,
    job_id        String,
    attempt       UInt32,
    occurred_at   DateTime64(6, 'UTC'),
    source        String,
    causation_id  String,
    ref_event_id  String,
    backend_id    LowCardinality(String),
    model         String,
    failure_class LowCardinality(String),
    error_code    LowCardinality(String),
    retryable     Nullable(Bool),
    message       String,
    strategy      LowCardinality(String),
    strategies    Array(LowCardinality(String)),
    outcome       LowCardinality(String),
    terminal      Bool,
    next_attempt  UInt32,
    duration_s    Float64,
    payload       String CODEC(ZSTD(3)),
    ingested_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (job_id, event_id)
SETTINGS non_replicated_deduplication_window = 1000, fsync_after_insert = 1, fsync_part_directory = 1;
