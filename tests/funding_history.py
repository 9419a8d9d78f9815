"""A held position's funding history for reconciliation tests, from Bybit's recorded reply.

``tests/resources/bybit/bybit.json`` ``fetchFundingHistory`` (ccxt's recorded real response,
v5 execution list, execType Funding): 14 settlements of a 0.1 LTC long on LTCUSDT
(``execQty`` 0.1, side Buy), each with its settlement mark (``execPrice``), rate (``feeRate``)
and fee (``execFee`` > 0 paid). The venue's side is each row through ccxt offline and our
parser (``FundingPaid``). Our side is what the live pipeline would have logged: the position
(one ``PositionChanged``, 0.1 LTC long before the first settlement) and, per settlement, a
``FundingRateObserved`` one minute before it with the row's rate and mark.
"""

from __future__ import annotations

from decimal import Decimal

from producers.parse import parse_funding_payment
from producers.venues import venue_spec
from schemas import events as ev
from tests import stubs
from tests import venues as rv

INSTRUMENT = "LTC/USDT:USDT"
MISSED = 1_710_547_200_000  # feeRate "-0.000076", execFee "-0.00068346": removed
MIS_SIGNED = 1_710_806_400_000  # feeRate "-0.001472", execFee "-0.01272213": sign flipped
H = 3_600_000


def payments() -> list[ev.FundingPaid]:
    spec = venue_spec("bybit")
    case = rv.case("bybit", "fetchFundingHistory")  # recorded with limit 2: ask for all 14
    args = [case["input"][0], None, None]
    rows = rv.run_raw("bybit", "fetch_funding_history", args, case["httpResponse"])
    assert len(rows) == 14
    return [parse_funding_payment(spec, r, ingest_time=r["timestamp"] + 1000) for r in rows]


def history() -> list[ev.Event]:
    """Our log and the venue's payments, one missed and one mis-signed, in event-time order."""
    paid = sorted(payments(), key=lambda e: e.funding_time)
    first = paid[0].funding_time
    out: list[ev.Event] = [
        stubs.position_changed(
            event_id=stubs.eid("pos/ltc"),
            event_time=first - 2 * H,
            ingest_time=first - 2 * H,
            venue="bybit",
            instrument=INSTRUMENT,
            qty=Decimal("0.1"),
            avg_entry_price=Decimal("97"),
            correlation_id="arb-ltc",
        )
    ]
    for p in paid:
        out.append(
            stubs.funding_observed(
                event_id=stubs.eid(f"rate/{p.funding_time}"),
                event_time=p.funding_time - 60_000,
                ingest_time=p.funding_time - 60_000,
                venue="bybit",
                instrument=INSTRUMENT,
                funding_rate=p.funding_rate,
                funding_interval_h=8,
                funding_time=p.funding_time,
                mark_price=p.mark_price,
            )
        )
        if p.funding_time == MISSED:
            continue
        if p.funding_time == MIS_SIGNED:
            p = p.model_copy(update={"amount": -p.amount})
        out.append(p)
    last = paid[-1].funding_time
    out.append(  # the feed carries on past the last settlement's grace
        stubs.ticker_observed(
            event_id=stubs.eid("tick/after"),
            event_time=last + 2 * H,
            ingest_time=last + 2 * H,
            venue="bybit",
            instrument=INSTRUMENT,
            bid=Decimal("80"),
            ask=Decimal("80.02"),
        )
    )
    return sorted(out, key=lambda e: e.event_time)
