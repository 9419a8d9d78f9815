"""Field types shared by every event: exact decimals, ms UTC timestamps, ccxt symbols, enums.

Units (DESIGN §4): rates are decimals per funding interval (0.0001 = 1 bp), prices in quote
currency, quantities in base units, notionals in USD, times in ms UTC (``0`` = not applicable).

Decimals travel as **strings** on the wire (one choice for every money, price, quantity and
rate field): exact at any scale, readable in the JSON audit trail, no float anywhere.
They are canonicalised at construction to plain notation (``1.2E-5`` -> ``0.000012``) so an
encode/decode round trip is the identity, byte for byte.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, Strict, StringConstraints

# ms UTC bounds: 2009-01-01 .. 2100-01-01. Seconds (~1.7e9) fall below, microseconds above.
MIN_MS = 1_230_768_000_000
MAX_MS = 4_102_444_800_000

# ccxt unified symbols: BASE/QUOTE (spot), BASE/QUOTE:SETTLE (swap),
# BASE/QUOTE:SETTLE-YYMMDD (future), ...-STRIKE-C|P (option). https://docs.ccxt.com/#/README?id=contract-naming-conventions
_SYMBOL = re.compile(
    r"^(?P<base>[A-Za-z0-9]{1,32})/(?P<quote>[A-Za-z0-9]{1,16})"
    r"(?::(?P<settle>[A-Za-z0-9]{1,16})(?:-(?P<expiry>\d{6})(?:-[0-9.]+-[CP])?)?)?$"
)
_ASSET = re.compile(r"^[A-Za-z0-9]{1,32}$")
_VENUE = re.compile(r"^[a-z][a-z0-9]{1,31}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

#: ``venue`` of events fundarb itself originates that belong to no one venue (intents, alerts).
INTERNAL_VENUE = "fundarb"


_ZERO = Decimal(0)


def canonical_decimal(value: Any) -> Decimal:
    """Parse an exact, finite decimal and return it in plain notation.

    Accepts ``Decimal``, ``int`` and ``str``. Floats are refused: a float has already lost the
    exact value (``0.1`` is not 1/10), so parse the venue's string instead. Plain notation
    means a non-positive exponent (``1E+3`` becomes ``1000``) and one zero (``-0``, ``0E-8``
    become ``0``); digits and scale are otherwise kept, so ``str()`` round-trips.

    Raises
    ------
    ValueError
        Not a number, NaN or infinite, or a float.
    """
    kind = type(value)
    if kind is str:
        try:
            dec = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
        # hot path (decode): a string without an exponent already has a plain scale
        if "E" not in value and "e" not in value:
            if not dec.is_finite():
                raise ValueError(f"{value!r} is not finite (NaN and infinity are refused)")
            return dec if dec else _ZERO
    elif kind is Decimal:
        dec = value
    elif kind is int:
        dec = Decimal(value)
    elif kind is float:
        raise ValueError(f"float {value!r} refused: pass a str or Decimal to keep the exact value")
    elif isinstance(value, Decimal):
        dec = value
    else:
        raise ValueError(f"{kind.__name__} is not a decimal")
    if not dec.is_finite():
        raise ValueError(f"{value!r} is not finite (NaN and infinity are refused)")
    if not dec:
        return _ZERO
    if dec.as_tuple().exponent > 0:  # type: ignore[operator]  # finite: exponent is an int
        return Decimal(format(dec, "f"))
    return dec


def _decimal_to_wire(value: Decimal) -> str:
    return format(value, "f")


#: An exact decimal, on the wire as a plain-notation string.
Dec = Annotated[
    Decimal,
    BeforeValidator(canonical_decimal),
    PlainSerializer(_decimal_to_wire, return_type=str, when_used="json"),
]


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError(f"must be > 0, got {value}")
    return value


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return value


PositiveDec = Annotated[
    Decimal,
    BeforeValidator(lambda v: _positive(canonical_decimal(v))),
    PlainSerializer(_decimal_to_wire, return_type=str, when_used="json"),
]
NonNegativeDec = Annotated[
    Decimal,
    BeforeValidator(lambda v: _non_negative(canonical_decimal(v))),
    PlainSerializer(_decimal_to_wire, return_type=str, when_used="json"),
]


def check_ms(value: Any, *, allow_zero: bool = False) -> int:
    """Validate an epoch-milliseconds UTC timestamp; say which unit it looks like otherwise.

    Raises
    ------
    ValueError
        Not an int, or outside 2009..2100 in ms (with a hint when it looks like s or µs).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"timestamp must be an int of ms UTC, got {type(value).__name__}")
    if value == 0 and allow_zero:
        return 0
    if value < MIN_MS:
        hint = " (looks like seconds: multiply by 1000)" if 1_000_000_000 <= value < 10**11 else ""
        raise ValueError(f"timestamp {value} is not ms UTC{hint}")
    if value > MAX_MS:
        hint = " (looks like microseconds: divide by 1000)" if value < 10**17 else ""
        raise ValueError(f"timestamp {value} is not ms UTC{hint}")
    return value


def _ms_range(value: int) -> int:
    # hot path: the strict int check already ran natively, only the range is left
    if MIN_MS <= value <= MAX_MS:
        return value
    return check_ms(value)


def _ms_range_or_zero(value: int) -> int:
    if value == 0 or MIN_MS <= value <= MAX_MS:
        return value
    return check_ms(value)


#: Epoch milliseconds UTC (strict int; seconds or microseconds are refused with a hint).
Millis = Annotated[int, Strict(), AfterValidator(_ms_range)]
#: ms UTC, where ``0`` means "not applicable" (e.g. spot funding times).
MillisOrZero = Annotated[int, Strict(), AfterValidator(_ms_range_or_zero)]


def check_symbol(value: Any) -> str:
    """A ccxt unified market symbol (``BTC/USDT:USDT``, ``BTC/USDT``)."""
    if not isinstance(value, str) or not _SYMBOL.match(value):
        raise ValueError(
            f"instrument {value!r} is not a ccxt unified symbol "
            "(BASE/QUOTE for spot, BASE/QUOTE:SETTLE for perpetuals)"
        )
    return value


def check_instrument(value: Any) -> str:
    """A ccxt unified symbol, or a bare asset/currency code for asset- or account-level events."""
    if isinstance(value, str) and (_SYMBOL.match(value) or _ASSET.match(value)):
        return value
    raise ValueError(
        f"instrument {value!r} is neither a ccxt unified symbol (BASE/QUOTE[:SETTLE]) "
        "nor an asset code"
    )


def check_venue(value: Any) -> str:
    if not isinstance(value, str) or not _VENUE.match(value):
        raise ValueError(f"venue {value!r} is not a lowercase ccxt exchange id")
    return value


def check_uuid(value: Any) -> str:
    if not isinstance(value, str) or not _UUID.match(value):
        raise ValueError(f"{value!r} is not a lowercase canonical UUID")
    return value


Symbol = Annotated[str, BeforeValidator(check_symbol)]
Instrument = Annotated[str, BeforeValidator(check_instrument)]
Venue = Annotated[str, BeforeValidator(check_venue)]
#: lowercase canonical UUID (checked natively: it is on every event's hot path)
EventId = Annotated[str, StringConstraints(pattern=_UUID.pattern)]


def base_asset(instrument: str) -> str:
    """The base asset of a symbol (``BTC/USDT:USDT`` -> ``BTC``) or the code itself.

    This is the Kafka key of every topic an asset's decisions depend on (DESIGN §4).
    """
    return instrument.split("/", 1)[0]


def is_spot(instrument: str) -> bool:
    """A spot symbol has no settle currency (``BTC/USDT``)."""
    return "/" in instrument and ":" not in instrument


def is_inverse(instrument: str) -> bool:
    """A coin-margined (inverse) contract: ccxt ``BASE/QUOTE:SETTLE`` with SETTLE == BASE.

    ``BTC/USD:BTC`` (and dated ``BTC/USD:BTC-240628``) is inverse: margin, fees and PnL are in
    BTC and one contract is worth a fixed amount of USD. ``BTC/USDT:USDT``, ``BTC/USD:USD`` and
    spot ``BTC/USDT`` are not. The money math here is USD-linear only, so callers refuse these.
    """
    if "/" not in instrument or ":" not in instrument:
        return False
    settle = instrument.rsplit(":", 1)[1].split("-", 1)[0]  # drop a future's expiry
    return settle == base_asset(instrument)


class Side(StrEnum):
    """Order/fill side."""

    buy = "buy"
    sell = "sell"


class Liquidity(StrEnum):
    """Who provided liquidity for a fill."""

    maker = "maker"
    taker = "taker"


class OrderType(StrEnum):
    market = "market"
    limit = "limit"


class TimeInForce(StrEnum):
    """GTC good-till-cancel, IOC immediate-or-cancel, FOK fill-or-kill, PO post-only."""

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    PO = "PO"


class MarketType(StrEnum):
    perp = "perp"
    spot = "spot"


class ExitReason(StrEnum):
    """Why an arb is closed (DESIGN §6, strategy exits)."""

    funding_flip = "funding_flip"
    profit_erosion = "profit_erosion"
    time_limit = "time_limit"
    better_opportunity = "better_opportunity"
    basis_stop = "basis_stop"
    take_profit = "take_profit"
    risk_breaker = "risk_breaker"
    manual = "manual"
    end_of_data = "end_of_data"


class RejectReason(StrEnum):
    """Normalised order-rejection causes (venue exceptions map onto these)."""

    insufficient_margin = "insufficient_margin"
    rate_limited = "rate_limited"
    invalid_order = "invalid_order"
    network = "network"
    post_only_would_cross = "post_only_would_cross"
    no_liquidity = "no_liquidity"
    duplicate_client_order_id = "duplicate_client_order_id"
    breaker_open = "breaker_open"
    unknown = "unknown"


class Breaker(StrEnum):
    """Circuit breakers of the risk agent."""

    stale_feed = "stale_feed"
    order_failures = "order_failures"
    margin_ratio = "margin_ratio"
    liquidation_distance = "liquidation_distance"
    one_legged_exposure = "one_legged_exposure"
    drawdown = "drawdown"
    manual = "manual"


class BreakerAction(StrEnum):
    pause_entries = "pause_entries"
    force_exit = "force_exit"


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    critical = "critical"
