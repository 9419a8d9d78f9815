-- fundarb audit trail, version 4: typed tables for the three event types that were in events_raw only, so every
-- event type has a typed table (rows registered beside their table in consumers/audit.py, AUDIT_ROWS).
CREATE TABLE IF NOT EXISTS balances (
    run LowCardinality(String),
    topic LowCardinality(String), partition UInt16, offset UInt64,
    event_id String, event_time DateTime64(3, 'UTC'),
    venue LowCardinality(String), instrument LowCardinality(String),
    correlation_id Nullable(String), currency LowCardinality(String),
    total Decimal(38, 18), free Decimal(38, 18), used Decimal(38, 18),
    equity_usd Nullable(Decimal(38, 18)), margin_ratio Nullable(Decimal(38, 18)),
    position_qty Nullable(Decimal(38, 18)), liquidation_price Nullable(Decimal(38, 18))
) ENGINE = ReplacingMergeTree ORDER BY (run, topic, partition, offset);

CREATE TABLE IF NOT EXISTS spreads (
    run LowCardinality(String),
    topic LowCardinality(String), partition UInt16, offset UInt64,
    event_id String, event_time DateTime64(3, 'UTC'),
    instrument LowCardinality(String), causation_id Nullable(String),
    long_venue LowCardinality(String), long_instrument LowCardinality(String),
    short_venue LowCardinality(String), short_instrument LowCardinality(String),
    spread_apr Decimal(38, 18), net_edge_apr Nullable(Decimal(38, 18)),
    break_even_h Nullable(Decimal(38, 18)), blocked_reason Nullable(String)
) ENGINE = ReplacingMergeTree ORDER BY (run, topic, partition, offset);

CREATE TABLE IF NOT EXISTS dead_letters (
    run LowCardinality(String),
    topic LowCardinality(String), partition UInt16, offset UInt64,
    event_id String, event_time DateTime64(3, 'UTC'),
    venue LowCardinality(String), instrument LowCardinality(String),
    causation_id Nullable(String), source_topic String,
    source_partition UInt32, source_offset UInt64,
    error_type LowCardinality(String), reason String,
    raw_size Nullable(UInt64), raw_sha256 Nullable(String)
) ENGINE = ReplacingMergeTree ORDER BY (run, topic, partition, offset);
