-- fundarb audit trail, version 1. Applied once by consumers/audit.py (schema_migrations).
-- Every table is deduplicated on (run, topic, partition, offset); run = the topic prefix: a redelivered record replaces
-- itself (ReplacingMergeTree); analytic reads use FINAL (docs/sql.md).
CREATE TABLE IF NOT EXISTS events_raw (
    run LowCardinality(String),
    topic LowCardinality(String),
    partition UInt16,
    offset UInt64,
    key String,
    event_type LowCardinality(String),
    event_id String,
    event_time DateTime64(3, 'UTC'),
    ingest_time DateTime64(3, 'UTC'),
    venue LowCardinality(String),
    instrument LowCardinality(String),
    correlation_id Nullable(String),
    causation_id Nullable(String),
    payload String
) ENGINE = ReplacingMergeTree ORDER BY (run, topic, partition, offset);

CREATE TABLE IF NOT EXISTS funding_observations (
    run LowCardinality(String),
    topic LowCardinality(String), partition UInt16, offset UInt64,
    event_id String, event_time DateTime64(3, 'UTC'),
    venue LowCardinality(String), instrument LowCardinality(String),
    funding_rate Decimal(38, 18), funding_interval_h UInt16,
    funding_time DateTime64(3, 'UTC'), next_funding_time DateTime64(3, 'UTC'),
    predicted_rate Nullable(Decimal(38, 18)), mark_price Nullable(Decimal(38, 18)),
    settled Bool
) ENGINE = ReplacingMergeTree ORDER BY (run, topic, partition, offset);

CREATE TABLE IF NOT EXISTS tickers (
    run LowCardinality(String),
    topic LowCardinality(String), partition UInt16, offset UInt64,
    event_id String, event_time DateTime64(3, 'UTC'),
    venue LowCardinality(String), instrument LowCardinality(String),
    bid Decimal(38, 18), ask Decimal(38, 18), mark_price Nullable(Decimal(38, 18)),
    quote_volume_24h Nullable(Decimal(38, 18))
) ENGINE = ReplacingMergeTree ORDER BY (run, topic, partition, offset);

CREATE TABLE IF NOT EXISTS fills (
    run LowCardinality(String),
    topic LowCardinality(String), partition UInt16, offset UInt64,
    event_id String, event_time DateTime64(3, 'UTC'),
    venue LowCardinality(String), instrument LowCardinality(String),
    correlation_id Nullable(String), causation_id Nullable(String),
    fill_id String, order_id String, client_order_id String,
    side LowCardinality(String), qty Decimal(38, 18), price Decimal(38, 18),
    fee Decimal(38, 18), fee_currency LowCardinality(String), liquidity LowCardinality(String),
    is_hedge Bool
) ENGINE = ReplacingMergeTree ORDER BY (run, topic, partition, offset);

CREATE TABLE IF NOT EXISTS funding_payments (
    run LowCardinality(String),
    topic LowCardinality(String), partition UInt16, offset UInt64,
    event_id String, event_time DateTime64(3, 'UTC'),
    venue LowCardinality(String), instrument LowCardinality(String),
    correlation_id Nullable(String),
    funding_time DateTime64(3, 'UTC'), position_qty Decimal(38, 18),
    funding_rate Decimal(38, 18), mark_price Decimal(38, 18), amount Decimal(38, 18),
    amount_currency LowCardinality(String)
) ENGINE = ReplacingMergeTree ORDER BY (run, topic, partition, offset);

CREATE TABLE IF NOT EXISTS orders (
    run LowCardinality(String),
    topic LowCardinality(String), partition UInt16, offset UInt64,
    event_type LowCardinality(String), event_id String, event_time DateTime64(3, 'UTC'),
    venue LowCardinality(String), instrument LowCardinality(String),
    correlation_id Nullable(String), causation_id Nullable(String),
    client_order_id String, side Nullable(String), qty Nullable(Decimal(38, 18)),
    limit_price Nullable(Decimal(38, 18)), time_in_force Nullable(String),
    is_hedge Nullable(Bool), reason Nullable(String), filled_qty Nullable(Decimal(38, 18))
) ENGINE = ReplacingMergeTree ORDER BY (run, topic, partition, offset);

CREATE TABLE IF NOT EXISTS intents (
    run LowCardinality(String),
    topic LowCardinality(String), partition UInt16, offset UInt64,
    event_type LowCardinality(String), event_id String, event_time DateTime64(3, 'UTC'),
    instrument LowCardinality(String), correlation_id Nullable(String),
    causation_id Nullable(String), arb_id String, revision UInt32,
    target_notional_usd Nullable(Decimal(38, 18)), expected_apr Nullable(Decimal(38, 18)),
    exit_reason Nullable(String), legs String
) ENGINE = ReplacingMergeTree ORDER BY (run, topic, partition, offset);

CREATE TABLE IF NOT EXISTS breakers (
    run LowCardinality(String),
    topic LowCardinality(String), partition UInt16, offset UInt64,
    event_type LowCardinality(String), event_id String, event_time DateTime64(3, 'UTC'),
    instrument LowCardinality(String), breaker LowCardinality(String),
    action Nullable(String), detail String
) ENGINE = ReplacingMergeTree ORDER BY (run, topic, partition, offset);

CREATE TABLE IF NOT EXISTS alerts (
    run LowCardinality(String),
    topic LowCardinality(String), partition UInt16, offset UInt64,
    event_id String, event_time DateTime64(3, 'UTC'), rule LowCardinality(String),
    severity LowCardinality(String), message String, dedup_key String
) ENGINE = ReplacingMergeTree ORDER BY (run, topic, partition, offset);

CREATE TABLE IF NOT EXISTS positions (
    run LowCardinality(String),
    topic LowCardinality(String), partition UInt16, offset UInt64,
    event_id String, event_time DateTime64(3, 'UTC'),
    venue LowCardinality(String), instrument LowCardinality(String),
    correlation_id Nullable(String), qty Decimal(38, 18),
    realised_pnl_usd Decimal(38, 18), fees_usd Decimal(38, 18), funding_usd Decimal(38, 18),
    net_delta_usd Nullable(Decimal(38, 18))
) ENGINE = ReplacingMergeTree ORDER BY (run, topic, partition, offset);
