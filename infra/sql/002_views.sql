-- fundarb analytics views, version 2 (documented in docs/sql.md with example output).
-- Reads that must not double-count go through FINAL (redelivered records replace themselves).

CREATE VIEW IF NOT EXISTS v_funding_pnl_daily AS
SELECT run, splitByChar('/', instrument)[1] AS asset, correlation_id AS arb_id,
       toDate(event_time) AS day, count() AS payments, sum(amount) AS funding_usd
FROM funding_payments FINAL
WHERE position(instrument, ':') > 0  -- perps only: spot rows are borrow interest
GROUP BY run, asset, arb_id, day;

CREATE VIEW IF NOT EXISTS v_fill_slippage AS
SELECT f.run AS run, f.event_time AS event_time, f.venue AS venue, f.instrument AS instrument,
       f.correlation_id AS arb_id, f.side AS side, f.qty AS qty, f.price AS price,
       t.bid AS quoted_bid, t.ask AS quoted_ask, f.is_hedge AS is_hedge,
       if(f.side = 'buy', (toFloat64(f.price) - toFloat64(t.ask)) / toFloat64(t.ask),
                          (toFloat64(t.bid) - toFloat64(f.price)) / toFloat64(t.bid)) * 10000
           AS slippage_bps
FROM (SELECT * FROM fills FINAL) AS f
ASOF LEFT JOIN (SELECT * FROM tickers FINAL) AS t
    ON f.run = t.run AND f.venue = t.venue AND f.instrument = t.instrument
   AND f.event_time >= t.event_time;

CREATE VIEW IF NOT EXISTS v_exposure_hourly AS
SELECT run, toStartOfHour(event_time) AS hour, correlation_id AS arb_id,
       argMax(net_delta_usd, (event_time, offset)) AS net_delta_usd
FROM positions FINAL
WHERE correlation_id IS NOT NULL
GROUP BY run, hour, arb_id;

CREATE VIEW IF NOT EXISTS v_decision_latency AS
SELECT i.run AS run, i.arb_id AS arb_id, i.event_type AS intent_type, i.event_time AS intent_time,
       c.event_type AS cause_type, c.event_time AS cause_time,
       dateDiff('millisecond', c.event_time, i.event_time) AS latency_ms
FROM (SELECT * FROM intents FINAL) AS i
INNER JOIN (SELECT run, event_id, event_type, event_time FROM events_raw FINAL) AS c
    ON i.run = c.run AND i.causation_id = c.event_id;

CREATE VIEW IF NOT EXISTS v_fill_causation AS
SELECT f.run AS run, f.fill_id AS fill_id, f.event_time AS fill_time, f.venue AS venue,
       f.instrument AS instrument, f.correlation_id AS arb_id, o.client_order_id AS client_order_id,
       o.event_time AS order_time, i.event_id AS intent_id, i.event_time AS intent_time,
       c.event_type AS cause_type, c.venue AS cause_venue, c.instrument AS cause_instrument,
       c.event_time AS cause_time
FROM (SELECT * FROM fills FINAL) AS f
INNER JOIN (SELECT * FROM orders FINAL WHERE event_type = 'PlaceOrder') AS o
    ON f.run = o.run AND f.client_order_id = o.client_order_id
INNER JOIN (SELECT * FROM intents FINAL WHERE event_type = 'TargetPositionSet') AS i
    ON f.run = i.run AND f.correlation_id = i.arb_id
INNER JOIN (SELECT run, event_id, event_type, event_time, venue, instrument FROM events_raw FINAL) AS c
    ON i.run = c.run AND i.causation_id = c.event_id;
