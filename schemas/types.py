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
from decimal import Context, Decimal, InvalidOperation
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

# ---- bounds at the edge (validate at the edges, trust inside) ------------------------------
#: Longest decimal string accepted: more characters is a digit-count attack, not a number.
MAX_DECIMAL_CHARS = 64
#: Largest |exponent| in E notation; checked on the text before a Decimal is built, because
#: ``"1E+100000000"`` is 12 bytes that expand into a 100 MB plain-notation number.
MAX_DECIMAL_EXPONENT = 30
#: Every decimal field is below this in magnitude: prices (quote per base), quantities (base
#: units), amounts and notionals (USD or quote) above 10^15 are unit or data errors, and the
#: bound leaves ClickHouse Decimal(38, 18) (20 integer digits) room for sums.
MAX_MAGNITUDE = Decimal("1e15")
#: Decimal places ClickHouse Decimal(38, 18) stores: the audit sink rounds there when it writes.
#: Events keep their exact digits (a payment computed in code may carry 25 places and the
#: shadow ledger re-prices it exactly).
MAX_SCALE = 18
#: Decimal places an event keeps: finer digits (only values below ~1e-12 computed to 28
#: significant digits reach them) are rounded half-even, so every plain wire string is at
#: most 1 + 15 + 1 + 40 = 57 characters and our own events always pass our decoder.
MAX_PLACES = 40
_QUANTUM = Decimal(1).scaleb(-MAX_PLACES)
#: ``adjusted()`` (the exponent of the leading digit) of the smallest finite non-zero value at
#: or above MAX_MAGNITUDE: ``0 < |x| < 10^15`` exactly when ``x.adjusted() < 15``
_MAX_ADJUSTED = MAX_MAGNITUDE.adjusted()
_ROUND = Context(prec=60)  # 15 integer digits + 40 places, exactly
#: Funding rates are fractions per interval within ±100 % (as ``producers/parse.py`` caps).
MAX_ABS_FUNDING_RATE = Decimal("1")
_EXP = re.compile(r"^[+-]?\d{1,6}$")  # the exponent part, read as text before parsing


def _too_long(value: str) -> ValueError:
    return ValueError(
        f"decimal string of {len(value)} characters refused (at most {MAX_DECIMAL_CHARS}): "
        f"{value[:20]!r}..."
    )


def _check_exponent_text(value: str) -> None:
    """Refuse an E-notation exponent outside ±MAX_DECIMAL_EXPONENT, reading only the text."""
    exp = value[max(value.rfind("e"), value.rfind("E")) + 1 :]
    if not _EXP.match(exp) or abs(int(exp)) > MAX_DECIMAL_EXPONENT:
        raise ValueError(
            f"{value[:MAX_DECIMAL_CHARS]!r}: exponent outside ±{MAX_DECIMAL_EXPONENT} refused"
        )


def canonical_decimal(value: Any, *, bound: Decimal = MAX_MAGNITUDE) -> Decimal:
    """Parse an exact, finite, bounded decimal and return it in plain notation.

    Accepts ``Decimal``, ``int`` and ``str``. Floats are refused: a float has already lost the
    exact value (``0.1`` is not 1/10), so parse the venue's string instead. Plain notation
    means a non-positive exponent (``1E+3`` becomes ``1000``) and one zero (``-0``, ``0E-8``
    become ``0``); digits and scale are otherwise kept, so ``str()`` round-trips.

    Bounds (checked on the text first, so nothing huge is ever built): a string has at most
    :data:`MAX_DECIMAL_CHARS` characters and an exponent within ±:data:`MAX_DECIMAL_EXPONENT`;
    ``|value| < bound`` (default :data:`MAX_MAGNITUDE`, 10^15). Digits are kept exactly up to
    :data:`MAX_PLACES` (40) decimal places and rounded half-even beyond (ClickHouse rounds
    further, to :data:`MAX_SCALE`).

    Raises
    ------
    ValueError
        Not a number, NaN or infinite, a float, too long, an absurd exponent, or
        ``|value| >= bound``. The message never echoes more than a prefix of the input.
    """
    kind = type(value)
    if kind is str:
        if len(value) > MAX_DECIMAL_CHARS:
            raise _too_long(value)
        plain = "E" not in value and "e" not in value
        if not plain:
            _check_exponent_text(value)
        try:
            dec = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
        # hot path (decode): a string without an exponent already has a plain scale
        if plain:
            if not dec.is_finite():
                raise ValueError(f"{value!r} is not finite (NaN and infinity are refused)")
            if not -bound < dec < bound:
                raise _out_of_bounds(dec, bound)
            dot = value.find(".")
            if dot >= 0 and len(value) - dot - 1 > MAX_PLACES:
                dec = dec.quantize(_QUANTUM, context=_ROUND)
            return dec if dec else _ZERO
    elif kind is Decimal:
        # hot path (every computed amount a trusted builder checks): the exponent read from
        # str() instead of as_tuple(), which builds a tuple of every digit and a named tuple
        # (~2 µs for 28 digits). str() writes a finite Decimal without an exponent exactly
        # when its exponent is <= 0 (and adjusted >= -6): then -exponent is the number of
        # digits after the point. Anything else takes the general path below.
        dec = value
        if dec.is_finite():
            if not dec:
                return _ZERO
            if (
                dec.adjusted() < _MAX_ADJUSTED  # |value| < 10^15, the default bound
                if bound is MAX_MAGNITUDE
                else -bound < dec < bound
            ):
                text = str(dec)
                if "E" not in text and "e" not in text:
                    dot = text.find(".")
                    if dot < 0 or len(text) - dot - 1 <= MAX_PLACES:
                        return dec  # type: ignore[no-any-return]  # kind is Decimal
    elif kind is int:
        if not -bound < value < bound:  # before building a Decimal of a huge int
            raise _out_of_bounds(value, bound)
        dec = Decimal(value)
    elif kind is float:
        raise ValueError(f"float {value!r} refused: pass a str or Decimal to keep the exact value")
    elif isinstance(value, Decimal):
        dec = value
    else:
        raise ValueError(f"{kind.__name__} is not a decimal")
    if not dec.is_finite():
        raise ValueError(
            f"{str(value)[:MAX_DECIMAL_CHARS]!r} is not finite (NaN and infinity are refused)"
        )
    if not -bound < dec < bound:
        raise _out_of_bounds(dec, bound)
    if not dec:
        return _ZERO
    exponent = dec.as_tuple().exponent
    if exponent > 0:  # type: ignore[operator]  # finite: exponent is an int
        return Decimal(format(dec, "f"))
    if exponent < -MAX_PLACES:  # type: ignore[operator]  # finite: exponent is an int
        dec = dec.quantize(_QUANTUM, context=_ROUND)
        return dec if dec else _ZERO
    return dec


def _out_of_bounds(value: Decimal | int, bound: Decimal) -> ValueError:
    shown = f"{value:.6E}" if isinstance(value, Decimal) else f"{Decimal(value):.6E}"
    return ValueError(f"|{shown}| is not below {bound:E}: not a plausible amount, price or rate")


def _decimal_to_wire(value: Decimal) -> str:
    return format(value, "f")


#: An exact decimal, |value| < :data:`MAX_MAGNITUDE`, on the wire as a plain-notation string.
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


def check_funding_rate(value: Any) -> Decimal:
    """A funding rate: a fraction per interval with ``|rate| <= MAX_ABS_FUNDING_RATE`` (1).

    Raises
    ------
    ValueError
        Not a bounded decimal (see :func:`canonical_decimal`), or beyond ±100 % per interval.
    """
    dec = canonical_decimal(value)
    if not -MAX_ABS_FUNDING_RATE <= dec <= MAX_ABS_FUNDING_RATE:
        raise ValueError(
            f"funding rate {dec} is beyond ±{MAX_ABS_FUNDING_RATE} per interval (a fraction: "
            "0.0001 = 1 bp)"
        )
    return dec


#: > 0 and < :data:`MAX_MAGNITUDE` (prices in quote per base, quantities in base units).
PositiveDec = Annotated[
    Decimal,
    BeforeValidator(lambda v: _positive(canonical_decimal(v))),
    PlainSerializer(_decimal_to_wire, return_type=str, when_used="json"),
]
#: >= 0 and < :data:`MAX_MAGNITUDE`.
NonNegativeDec = Annotated[
    Decimal,
    BeforeValidator(lambda v: _non_negative(canonical_decimal(v))),
    PlainSerializer(_decimal_to_wire, return_type=str, when_used="json"),
]
#: A funding rate per interval, within ±:data:`MAX_ABS_FUNDING_RATE` (±100 %).
FundingRate = Annotated[
    Decimal,
    BeforeValidator(check_funding_rate),
    PlainSerializer(_decimal_to_wire, return_type=str, when_used="json"),
]

# ---- text bounds: ids and free text from venues or the wire ------------------------------
#: venue trade/order ids, our client order ids, arb ids, correlation ids
MAX_ID_CHARS = 128
#: currency codes (``USDT``) and rule names
MAX_CODE_CHARS = 32
#: free text: messages, details, reasons
MAX_TEXT_CHARS = 2000

#: A non-empty id of at most :data:`MAX_ID_CHARS` characters.
Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]
#: An optional id (envelope correlation/causation ids).
OptId = Annotated[str, StringConstraints(max_length=MAX_ID_CHARS)]
#: A non-empty currency code of at most :data:`MAX_CODE_CHARS` characters.
Code = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CODE_CHARS)]
#: Free text of at most :data:`MAX_TEXT_CHARS` characters.
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]


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


def _shown(value: Any) -> str:
    """A short repr of an input for error messages (a 1 MB id must not become a 1 MB reason)."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:60]}... ({len(text)} chars)"


def check_symbol(value: Any) -> str:
    """A ccxt unified market symbol (``BTC/USDT:USDT``, ``BTC/USDT``)."""
    if not isinstance(value, str) or not _SYMBOL.match(value):
        raise ValueError(
            f"instrument {_shown(value)} is not a ccxt unified symbol "
            "(BASE/QUOTE for spot, BASE/QUOTE:SETTLE for perpetuals)"
        )
    return value


def check_instrument(value: Any) -> str:
    """A ccxt unified symbol, or a bare asset/currency code for asset- or account-level events."""
    if isinstance(value, str) and (_SYMBOL.match(value) or _ASSET.match(value)):
        return value
    raise ValueError(
        f"instrument {_shown(value)} is neither a ccxt unified symbol (BASE/QUOTE[:SETTLE]) "
        "nor an asset code"
    )


def check_venue(value: Any) -> str:
    if not isinstance(value, str) or not _VENUE.match(value):
        raise ValueError(f"venue {_shown(value)} is not a lowercase ccxt exchange id")
    return value


def check_uuid(value: Any) -> str:
    if not isinstance(value, str) or not _UUID.match(value):
        raise ValueError(f"{_shown(value)} is not a lowercase canonical UUID")
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


def settle_currency(instrument: str) -> str:
    """Currency fees and funding are paid in: the settle currency, or the quote for spot
    (``BTC/USDT:USDT`` → ``USDT``, ``BTC/USDC`` → ``USDC``)."""
    quote = instrument.split("/", 1)[1]
    return quote.split(":", 1)[1] if ":" in quote else quote


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
