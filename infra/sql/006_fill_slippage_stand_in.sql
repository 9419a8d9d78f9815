-- v_fill_slippage, version 6: each fill against the quote it was priced from.
-- A taker leg whose own last quote is older than the ticker TTL is priced by the executor and
-- filled by the paper venue against a stand-in (projections/stand_in.py): the median mid of the
-- OTHER venues' quotes of the same base asset and market type (perp/spot) at most the TTL old
-- (mean of the two middle ones for an even count), with the own last quote's relative
-- half-spread around it; with no fresh quote elsewhere the own last quote stands. Version 2
-- compared such fills to the stale own quote (hours old, the market moved since) and showed
-- hundreds of bp no venue charged. The TTL here is 7,200,000 ms, `feeds.ticker_ttl_ms` of every
-- shipped config (the audit store does not record a run's config).
--   quoted_bid/quoted_ask  the quote the fill was priced from (own last quote, or stand-in);
--   stand_in               true when that was the stand-in;
--   quote_age_ms           age of the leg's own last quote at the fill (NULL: none).
CREATE OR REPLACE VIEW v_fill_slippage AS
WITH
    7200000 AS ttl_ms,
    f AS (
        SELECT fl.run AS run, fl.event_id AS fill_event_id, fl.event_time AS event_time,
               fl.venue AS venue, fl.instrument AS instrument, fl.correlation_id AS arb_id,
               fl.side AS side, fl.qty AS qty, fl.price AS price, fl.is_hedge AS is_hedge,
               splitByChar('/', fl.instrument)[1] AS base,
               position(fl.instrument, ':') = 0 AS spot,
               t.event_time AS quote_time, toFloat64(t.bid) AS own_bid,
               toFloat64(t.ask) AS own_ask, t.event_id != '' AS has_quote
        FROM (SELECT * FROM fills FINAL) AS fl
        ASOF LEFT JOIN (SELECT run, venue, instrument, event_id, event_time, bid, ask
                        FROM tickers FINAL) AS t
            ON fl.run = t.run AND fl.venue = t.venue AND fl.instrument = t.instrument
           AND fl.event_time >= t.event_time
    ),
    markets AS (
        SELECT DISTINCT run, venue, instrument, splitByChar('/', instrument)[1] AS base,
               position(instrument, ':') = 0 AS spot
        FROM tickers FINAL
    ),
    elsewhere AS (
        SELECT f.run AS run, f.fill_event_id AS fill_event_id, f.event_time AS event_time,
               m.venue AS venue, m.instrument AS instrument
        FROM f INNER JOIN markets AS m ON f.run = m.run AND f.base = m.base AND f.spot = m.spot
        WHERE m.venue != f.venue
          AND f.has_quote AND dateDiff('millisecond', f.quote_time, f.event_time) > ttl_ms
    ),
    fresh AS (
        SELECT e.run AS run, e.fill_event_id AS fill_event_id,
               (toFloat64(q.bid) + toFloat64(q.ask)) / 2 AS mid
        FROM elsewhere AS e
        ASOF INNER JOIN (SELECT run, venue, instrument, event_time, bid, ask
                         FROM tickers FINAL) AS q
            ON e.run = q.run AND e.venue = q.venue AND e.instrument = q.instrument
           AND e.event_time >= q.event_time
        WHERE dateDiff('millisecond', q.event_time, e.event_time) <= ttl_ms
    ),
    medians AS (
        SELECT run, fill_event_id, arraySort(groupArray(mid)) AS mids, length(mids) AS n,
               if(n % 2 = 1, mids[intDiv(n, 2) + 1],
                  (mids[intDiv(n, 2)] + mids[intDiv(n, 2) + 1]) / 2) AS median_mid
        FROM fresh
        GROUP BY run, fill_event_id
    ),
    priced AS (
        SELECT f.*, m.n > 0 AS stand_in,
               (f.own_ask - f.own_bid) / (f.own_bid + f.own_ask) AS half,
               if(stand_in, m.median_mid * (1 - half), f.own_bid) AS q_bid,
               if(stand_in, m.median_mid * (1 + half), f.own_ask) AS q_ask
        FROM f LEFT JOIN medians AS m ON f.run = m.run AND f.fill_event_id = m.fill_event_id
    )
SELECT run, event_time, venue, instrument, arb_id, side, qty, price,
       if(has_quote, q_bid, NULL) AS quoted_bid, if(has_quote, q_ask, NULL) AS quoted_ask,
       is_hedge,
       if(side = 'buy', (toFloat64(price) - q_ask) / q_ask,
                        (q_bid - toFloat64(price)) / q_bid) * 10000 AS slippage_bps,
       stand_in,
       if(has_quote, dateDiff('millisecond', quote_time, event_time), NULL) AS quote_age_ms
FROM priced;
