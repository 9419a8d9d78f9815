-- fundarb funding reconciliation view, version 3 (docs/sql.md; consumers/funding_recon.py is the
-- same logic on the live topics, raising the funding_recon alert).
-- One row per (run, venue, perp, settlement time) that had a position or a payment:
--   expected = -(position going into the settlement x mark at settlement x rate at settlement)
--   (> 0 received, the sign of FundingPaid.amount, projections/funding.funding_payment);
--   paid = what the venue reported (funding_payments, NULL when nothing);
--   status = matched | mismatch | mis_signed | missed | unexpected | pending, with the alert
--   rule's default tolerance: |paid - expected| <= max(0.0001, 0.05 x |expected|); a settlement
--   without a payment is 'pending' until the run's data is 1 h past it, then 'missed'.
-- Amounts are Float64 (qty x mark x rate overflows Decimal(38, 18)).
CREATE VIEW IF NOT EXISTS v_funding_reconciliation AS
WITH
    settlements AS (
        SELECT run, venue, instrument, funding_time,
               argMax(funding_rate, (settled, event_time)) AS obs_rate,
               argMax(mark_price, (settled, event_time)) AS obs_mark,
               1 AS has_settlement
        FROM funding_observations FINAL
        WHERE position(instrument, ':') > 0 AND toUnixTimestamp64Milli(funding_time) > 0
          AND (event_time <= funding_time OR settled)
        GROUP BY run, venue, instrument, funding_time
    ),
    payments AS (
        SELECT run, venue, instrument, funding_time, toFloat64(sum(amount)) AS paid_amount,
               any(funding_rate) AS paid_rate, any(mark_price) AS paid_mark, 1 AS has_payment
        FROM funding_payments FINAL
        WHERE position(instrument, ':') > 0
        GROUP BY run, venue, instrument, funding_time
    ),
    keyed AS (
        SELECT k.run AS run, k.venue AS venue, k.instrument AS instrument,
               k.funding_time AS funding_time, s.has_settlement AS has_settlement,
               s.obs_rate AS obs_rate, s.obs_mark AS obs_mark, p.has_payment AS has_payment,
               p.paid_amount AS paid_amount, p.paid_rate AS paid_rate, p.paid_mark AS paid_mark
        FROM (SELECT run, venue, instrument, funding_time FROM settlements
              UNION DISTINCT
              SELECT run, venue, instrument, funding_time FROM payments) AS k
        LEFT JOIN settlements AS s
            ON k.run = s.run AND k.venue = s.venue AND k.instrument = s.instrument
           AND k.funding_time = s.funding_time
        LEFT JOIN payments AS p
            ON k.run = p.run AND k.venue = p.venue AND k.instrument = p.instrument
           AND k.funding_time = p.funding_time
    ),
    held AS (
        SELECT kk.*, q.qty AS position_qty
        FROM keyed AS kk
        ASOF LEFT JOIN (SELECT run, venue, instrument, event_time, qty FROM positions FINAL) AS q
            ON kk.run = q.run AND kk.venue = q.venue AND kk.instrument = q.instrument
           AND kk.funding_time > q.event_time
    ),
    marked AS (
        SELECT h.*,
               toFloat64(if(h.has_settlement = 1, h.obs_rate, h.paid_rate)) AS rate,
               toFloat64(coalesce(if(h.has_settlement = 1, h.obs_mark, NULL), t.mark_price,
                                  nullIf((t.bid + t.ask) / 2, 0), h.paid_mark)) AS mark
        FROM held AS h
        ASOF LEFT JOIN (SELECT run, venue, instrument, event_time, bid, ask, mark_price
                        FROM tickers FINAL) AS t
            ON h.run = t.run AND h.venue = t.venue AND h.instrument = t.instrument
           AND h.funding_time >= t.event_time
    ),
    valued AS (
        SELECT m.*, -(toFloat64(m.position_qty) * m.mark * m.rate) AS expected_amount,
               r.run_time AS run_time
        FROM marked AS m
        LEFT JOIN (SELECT run, max(event_time) AS run_time FROM events_raw FINAL GROUP BY run) AS r
            ON m.run = r.run
    )
SELECT run, venue, instrument, funding_time, toFloat64(position_qty) AS position_qty,
       mark AS mark_price, rate AS funding_rate, expected_amount AS expected,
       if(has_payment = 1, paid_amount, NULL) AS paid,
       if(has_payment = 1, paid_amount, 0) - expected_amount AS difference,
       multiIf(
           has_payment = 0,
               if(abs(expected_amount) <= 0.0001, 'matched',
                  if(run_time >= funding_time + INTERVAL 1 HOUR, 'missed', 'pending')),
           abs(expected_amount) <= 0.0001, if(abs(paid_amount) <= 0.0001, 'matched', 'unexpected'),
           abs(paid_amount) > 0.0001 AND (paid_amount > 0) != (expected_amount > 0), 'mis_signed',
           abs(paid_amount - expected_amount) <= greatest(0.0001, 0.05 * abs(expected_amount)),
               'matched',
           'mismatch') AS status
FROM valued
WHERE has_payment = 1 OR position_qty != 0;
