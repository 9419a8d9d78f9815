-- Version 7: the quote each fill was priced from, in one place (v_fill_quote), read by both
-- v_fill_slippage (same columns as version 6) and v_arb_cost_attribution, whose
-- spread_slippage_usd measured a stood-in leg (projections/stand_in.py) against its stale own
-- quote's mid as version 6's v_fill_slippage did before (demo: -607.95 USD for an arb whose
-- fills paid 7.95 over the mid they were priced from). Rules: 006_fill_slippage_stand_in.sql.
--   v_fill_quote: one row per fill (fill_event_id = its event id) with its fee, the
--   priced-from quoted_bid/quoted_ask (NULL without any own quote), stand_in, quote_age_ms.
CREATE OR REPLACE VIEW v_fill_quote AS
WITH
    7200000 AS ttl_ms,
    f AS (
        SELECT fl.run AS run, fl.event_id AS fill_event_id, fl.event_time AS event_time,
               fl.venue AS venue, fl.instrument AS instrument, fl.correlation_id AS arb_id,
               fl.side AS side, fl.qty AS qty, fl.price AS price, fl.is_hedge AS is_hedge,
               fl.fee AS fee, fl.fee_currency AS fee_currency,
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
SELECT run, fill_event_id, event_time, venue, instrument, arb_id, side, qty, price, is_hedge,
       fee, fee_currency, if(has_quote, q_bid, NULL) AS quoted_bid,
       if(has_quote, q_ask, NULL) AS quoted_ask, stand_in,
       if(has_quote, dateDiff('millisecond', quote_time, event_time), NULL) AS quote_age_ms
FROM priced;

CREATE OR REPLACE VIEW v_fill_slippage AS
SELECT run, event_time, venue, instrument, arb_id, side, qty, price, quoted_bid, quoted_ask,
       is_hedge,
       if(side = 'buy', (toFloat64(price) - quoted_ask) / quoted_ask,
                        (quoted_bid - toFloat64(price)) / quoted_bid) * 10000 AS slippage_bps,
       stand_in, quote_age_ms
FROM v_fill_quote;

-- v_arb_cost_attribution as in version 5 (005_cost_attribution.sql documents every column),
-- spread_slippage_usd over the mid of the quote each fill was priced from (v_fill_quote).
CREATE OR REPLACE VIEW v_arb_cost_attribution AS
WITH
    f AS (
        SELECT run, assumeNotNull(arb_id) AS arb_id, event_time, venue, instrument,
               if(side = 'buy', qty, -qty) AS signed_qty, toFloat64(price) AS price,
               toFloat64(fee) * if(upper(fee_currency) IN ('USD', 'USDT', 'USDC'), 1,
                                   toFloat64(price)) AS fee_usd,
               if(quoted_bid IS NULL, 0,
                  if(side = 'buy', 1, -1) * toFloat64(qty)
                  * (toFloat64(price) - (quoted_bid + quoted_ask) / 2)) AS over_mid_usd
        FROM v_fill_quote
        WHERE arb_id IS NOT NULL
    ),
    marks AS (
        SELECT run, venue, instrument,
               argMax(toFloat64(coalesce(mark_price, (bid + ask) / 2)), event_time) AS last_mark
        FROM tickers FINAL
        GROUP BY run, venue, instrument
    ),
    legs AS (
        SELECT l.run AS run, l.arb_id AS arb_id, l.venue AS venue, l.instrument AS instrument,
               l.net_qty AS net_qty, l.cash_usd AS cash_usd, l.fees_usd AS fees_usd,
               l.over_mid_usd AS over_mid_usd, l.fills AS fills, l.first_fill AS first_fill,
               l.last_fill AS last_fill,
               if(l.net_qty = 0, 0, toFloat64(l.net_qty) * m.last_mark) AS held_usd
        FROM (
            SELECT run, arb_id, venue, instrument, sum(signed_qty) AS net_qty,
                   -sum(toFloat64(signed_qty) * price) AS cash_usd, sum(fee_usd) AS fees_usd,
                   sum(over_mid_usd) AS over_mid_usd, count() AS fills,
                   min(event_time) AS first_fill, max(event_time) AS last_fill
            FROM f
            GROUP BY run, arb_id, venue, instrument
        ) AS l
        LEFT JOIN marks AS m
            ON l.run = m.run AND l.venue = m.venue AND l.instrument = m.instrument
    ),
    arbs AS (
        SELECT run, arb_id, splitByChar('/', any(instrument))[1] AS asset,
               arrayStringConcat(arraySort(groupArray(concat(venue, ' ', instrument))), ', ')
                   AS legs,
               sum(fills) AS fills, min(first_fill) AS opened_at, max(last_fill) AS last_fill_at,
               sum(fees_usd) AS fees_usd, sum(over_mid_usd) AS spread_slippage_usd,
               sum(cash_usd + held_usd) AS price_pnl_usd, min(net_qty = 0) AS flat
        FROM legs
        GROUP BY run, arb_id
    ),
    paid AS (
        SELECT run, assumeNotNull(correlation_id) AS arb_id,
               sumIf(toFloat64(amount), position(instrument, ':') > 0) AS funding_usd,
               -sumIf(toFloat64(amount), position(instrument, ':') = 0) AS borrow_usd
        FROM funding_payments FINAL
        WHERE correlation_id IS NOT NULL
        GROUP BY run, arb_id
    ),
    targets AS (
        SELECT run, arb_id, argMin(toFloat64(target_notional_usd), revision) AS notional_usd,
               argMin(toFloat64(expected_apr), revision) AS expected_apr,
               count() - 1 AS switches
        FROM intents FINAL
        WHERE event_type = 'TargetPositionSet'
        GROUP BY run, arb_id
    ),
    entry AS (
        SELECT run, assumeNotNull(correlation_id) AS arb_id,
               argMin(toFloat64OrNull(JSONExtractString(payload, 'entry_spread_apr')),
                      JSONExtractUInt(payload, 'revision')) AS entry_spread_apr
        FROM events_raw FINAL
        WHERE event_type = 'TargetPositionSet' AND correlation_id IS NOT NULL
        GROUP BY run, arb_id
    ),
    exits AS (
        SELECT run, arb_id, argMax(exit_reason, revision) AS exit_reason
        FROM intents FINAL
        WHERE event_type = 'ExitRequested'
        GROUP BY run, arb_id
    ),
    ends AS (
        SELECT run, max(event_time) AS run_end FROM events_raw FINAL GROUP BY run
    ),
    joined AS (
        SELECT a.run AS run, a.arb_id AS arb_id, a.asset AS asset, a.legs AS legs,
               a.fills AS fills, a.opened_at AS opened_at, a.last_fill_at AS last_fill_at,
               a.fees_usd AS fees_usd, a.spread_slippage_usd AS spread_slippage_usd,
               a.price_pnl_usd AS price_pnl_usd, coalesce(p.funding_usd, 0) AS funding_usd,
               coalesce(p.borrow_usd, 0) AS borrow_usd, t.notional_usd AS notional_usd,
               t.expected_apr AS expected_apr, t.switches AS switches,
               e.entry_spread_apr AS entry_spread_apr,
               if(a.flat, coalesce(nullIf(x.exit_reason, ''), 'entry_failed'), 'open')
                   AS outcome,
               dateDiff('millisecond', a.opened_at, if(a.flat, a.last_fill_at, r.run_end))
                   / 3600000 AS held_h
        FROM arbs AS a
        LEFT JOIN paid AS p ON a.run = p.run AND a.arb_id = p.arb_id
        LEFT JOIN targets AS t ON a.run = t.run AND a.arb_id = t.arb_id
        LEFT JOIN entry AS e ON a.run = e.run AND a.arb_id = e.arb_id
        LEFT JOIN exits AS x ON a.run = x.run AND a.arb_id = x.arb_id
        LEFT JOIN ends AS r ON a.run = r.run
    )
SELECT run, arb_id, asset, legs, outcome, switches, opened_at, last_fill_at, held_h, fills,
       notional_usd, funding_usd, fees_usd, spread_slippage_usd, price_pnl_usd, borrow_usd,
       funding_usd + price_pnl_usd - fees_usd - borrow_usd AS total_usd,
       funding_usd >= fees_usd AS funding_covered_fees,
       if(outcome = 'entry_failed', funding_usd + price_pnl_usd - fees_usd - borrow_usd, 0)
           AS failed_entry_churn_usd,
       entry_spread_apr, expected_apr,
       if(held_h > 0 AND notional_usd > 0, funding_usd / notional_usd * 8760 / held_h, NULL)
           AS realised_funding_apr,
       if(held_h > 0 AND notional_usd > 0,
          (funding_usd + price_pnl_usd - fees_usd - borrow_usd) / notional_usd * 8760 / held_h,
          NULL) AS realised_net_apr
FROM joined;
