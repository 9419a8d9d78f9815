"""Bybit's recorded funding history is reproduced by the settlement function.

Each `execType: Funding` execution reports the position (`execQty`, `side`), the settlement
price (`execPrice`; `execValue = execQty × execPrice`), the rate (`feeRate`) and what was
charged (`execFee`, > 0 paid). Bybit prints `feeRate` truncated to 6 decimals while `execFee`
(8 decimals) was computed from the full rate: where the rate has ≤ 6 significant decimals the
match is exact to the venue's 8 decimals, otherwise within qty × price × 1e-6.
"""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from projections.funding import funding_payment

PAYLOAD = Path(__file__).resolve().parents[1] / "resources" / "bybit" / "bybit.json"
CASE = json.loads(PAYLOAD.read_text())["methods"]["fetchFundingHistory"][0]
ROWS = CASE["httpResponse"]["result"]["list"]
VENUE_PRECISION = Decimal("0.00000001")


def _settle(row: dict) -> tuple[Decimal, Decimal]:
    qty = Decimal(row["execQty"]) * (1 if row["side"] == "Buy" else -1)
    price, rate = Decimal(row["execPrice"]), Decimal(row["feeRate"])
    ours = funding_payment(qty, price, rate)  # received > 0
    reported = -Decimal(row["execFee"])  # execFee > 0 is paid
    return ours, reported


def test_the_payload_has_the_fourteen_funding_executions() -> None:
    assert len(ROWS) == 14 and all(r["execType"] == "Funding" for r in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["execTime"])
def test_settlement_reproduces_bybit_funding(row: dict) -> None:
    ours, reported = _settle(row)
    assert Decimal(row["execValue"]) == Decimal(row["execQty"]) * Decimal(row["execPrice"])
    if len(row["feeRate"].rstrip("0").split(".")[1]) <= 4:  # an untruncated rate
        assert ours.quantize(VENUE_PRECISION) == reported
    else:
        bound = Decimal(row["execValue"]) * Decimal("0.000001")
        assert abs(ours - reported) <= bound
    assert (ours < 0) == (Decimal(row["feeRate"]) > 0)  # a long pays a positive rate


def test_ccxt_parsed_amounts_agree_with_the_raw_fee() -> None:
    parsed = {p["id"]: Decimal(str(p["amount"])) for p in CASE["parsedResponse"]}
    for row in ROWS:
        if row["execId"] in parsed:
            assert parsed[row["execId"]] == Decimal(row["execFee"])
