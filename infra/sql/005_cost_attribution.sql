-- fundarb per-arb cost attribution view, version 5 (docs/sql.md; the summary's
-- cost_attribution and the report's arb table are the same split from the position book).
-- One row per (run, arb) that filled, from the raw fills and funding payments:
--   funding_usd      perp funding received (> 0) by the arb's legs; borrow_usd spot borrow paid;
--   fees_usd         fill fees in USD (a fee in the base asset valued at its fill price);
--   spread_slippage_usd  paid over the mid of the leg's last quote at fill time (buys
--                    (price - mid) x qty, sells (mid - price) x qty): half-spread, slippage and
--                    impact; a part of price_pnl_usd;
--   price_pnl_usd    sells minus buys in cash, plus what the arb still holds at the last mark
--                    (mark price, else mid): realised + unrealised, whatever the cost method;
--   total_usd        funding + price - fees - borrow (the parts sum to it);
--   outcome          the exit reason of its last ExitRequested once every leg is flat,
--                    'entry_failed' when flat without one (a leg filled and was unwound),
--                    'open' otherwise; failed_entry_churn_usd is the total of such an arb;
--   held_h           first fill to last fill (flat) or to the run's last event (open);
--   entry_spread_apr / expected_apr  of the arb's first target; realised_funding_apr and
--                    realised_net_apr: funding / total over notional per year of held_h.
-- Amounts are Float64 (qty x price overflows Decimal(38, 18)); quantities stay Decimal so
-- that "flat" is exact.
CREATE VIEW IF NOT EXISTS v_arb_cost_attribution AS
WITH
    f AS (
        SELECT fl.run AS run, assumeNotNull(fl.correlation_id) AS arb_id,
               fl.event_time AS event_time, fl.venue AS venue, fl.instrument AS instrument,
               if(fl.side = 'buy', fl.qty, -fl.qty) AS signed_qty,
               toFloat64(fl.price) AS price,
               toFloat64(fl.fee) * if(upper(fl.fee_currency) IN ('USD', 'USDT', 'USDC'), 1,
                                      toFloat64(fl.price)) AS fee_usd,
               if(t.event_time = 0, 0,
                  if(fl.side = 'buy', 1, -1) * toFloat64(fl.qty)
                  * (toFloat64(fl.price) - (toFloat64(t.bid) + toFloat64(t.ask)) / 2))
                   AS over_mid_usd
        FROM (SELECT * FROM fills FINAL WHERE correlation_id IS NOT NULL) AS fl
        ASOF LEFT JOIN (SELECT run, venue, instrument, event_time, bid, ask FROM tickers FINAL) AS t
            ON fl.run = t.run AND fl.venue = t.venue AND fl.instrument = t.instrument
           AND fl.event_time >= t.event_time
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

-- v_fill_causation, version 5: an arb has one TargetPositionSet per revision now (a switch
-- that keeps the shared leg is revision 1, 2, ... of the same arb), so each fill is traced to
-- the latest target at or before its order, not to every target of the arb (one row per fill).
CREATE OR REPLACE VIEW v_fill_causation AS
SELECT f.run AS run, f.fill_id AS fill_id, f.event_time AS fill_time, f.venue AS venue,
       f.instrument AS instrument, f.correlation_id AS arb_id, o.client_order_id AS client_order_id,
       o.event_time AS order_time, i.event_id AS intent_id, i.event_time AS intent_time,
       c.event_type AS cause_type, c.venue AS cause_venue, c.instrument AS cause_instrument,
       c.event_time AS cause_time
FROM (SELECT * FROM fills FINAL) AS f
INNER JOIN (SELECT * FROM orders FINAL WHERE event_type = 'PlaceOrder') AS o
    ON f.run = o.run AND f.client_order_id = o.client_order_id
ASOF INNER JOIN (SELECT * FROM intents FINAL WHERE event_type = 'TargetPositionSet') AS i
    ON f.run = i.run AND f.correlation_id = i.arb_id AND o.event_time >= i.event_time
INNER JOIN (SELECT run, event_id, event_type, event_time, venue, instrument FROM events_raw FINAL) AS c
    ON i.run = c.run AND i.causation_id = c.event_id;
