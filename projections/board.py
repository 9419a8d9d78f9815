"""The funding board of one asset: latest funding and ticker per (venue, instrument), and the
tradable pairs ranked by fee-aware net edge (DESIGN §5).

``apply(board, event) -> board`` is a pure fold. A duplicate event (same ``event_id`` as the
one a feed holds) returns the board unchanged; an event older than what a feed holds raises
:class:`OutOfOrderError` (the agent dead-letters it; nothing is touched).

Pairs: perp–perp across venues (short the higher rate/h, long the lower) and spot–perp on one
venue (long spot / short perp; short spot on margin / long perp when allowed). A pair with a
stale or missing leg, or a leg whose funding interval is unknown, is excluded with a reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast, overload

from projections.funding import (
    HOURS_PER_YEAR,
    MS_PER_HOUR,
    UnknownFundingIntervalError,
    effective_rate_h,
    rate_per_hour,
    resolve_interval_h,
    slippage_frac,
    venue_fees,
)
from projections.slots import SlotsState
from schemas.config import FeeConfig, StrategyConfig
from schemas.events import Event, FundingRateObserved, TickerObserved
from schemas.types import base_asset, is_spot

FeedKey = tuple[str, str]  # (venue, instrument)
HISTORY = 4  # settlement times kept per feed for interval inference
#: settled (funding_time, funding_rate) points kept per feed for the forecast: two weeks of an
#: hourly venue (ForecastConfig.window_h is at most 2000 h; an hourly leg keeps the latest 336)
RATE_HISTORY = 336


class OutOfOrderError(ValueError):
    """An event older than the state it would update (dead-letter it)."""


RatePoint = tuple[int, Decimal]  # (funding_time ms, settled rate per interval)


class RateHistory(Sequence[RatePoint]):
    """The latest ``limit`` settled points of one feed, oldest first: an immutable sequence
    equal to the tuple it stands for (``==`` with a tuple, iteration, indexing, slicing).

    Why not a tuple (issue 18): every settled funding observation appended one point and
    copied the whole window (``(*rates, point)[-336:]``, ~4.6 µs at 336 points, on each of the
    bundled window's 40k funding events, and more as the window fills). Here a feed's history
    is a view ``[start, end)`` of an append-only list shared with the feeds it extends:
    :meth:`appended` on the newest view appends to the list in O(1) (older views end before
    the new point, so they are unchanged); on an older view (a board reverted by
    ``fold_market``) it copies the window, as the tuple did. The list is compacted to the
    window once it holds ``4 × limit`` points (memory stays flat over the run).

    Pickles as a plain tuple and the snapshot codec writes it as one, so snapshots are
    unchanged; a feed restored from one holds a tuple, which :meth:`appended` accepts.
    """

    __slots__ = ("_end", "_log", "_start", "_tuple")

    def __init__(self, points: Sequence[RatePoint] = (), limit: int = RATE_HISTORY) -> None:
        self._log: list[RatePoint] = list(points)[-limit:] if limit > 0 else []
        self._start = 0
        self._end = len(self._log)
        self._tuple: tuple[RatePoint, ...] | None = None

    def points(self) -> tuple[RatePoint, ...]:
        """The window as a tuple, built on the first read (the forecast reads a feed's history
        once per feed, the fold appends on every settlement)."""
        t = self._tuple
        if t is None:
            t = self._tuple = tuple(self._log[self._start : self._end])
        return t

    @staticmethod
    def appended(
        points: Sequence[RatePoint], point: RatePoint, limit: int = RATE_HISTORY
    ) -> RateHistory:
        """``(*points, point)[-limit:]`` as a :class:`RateHistory` (``points``: a
        :class:`RateHistory` or a tuple); ``points`` itself is unchanged."""
        if isinstance(points, RateHistory):
            log, end = points._log, points._end
            if end == len(log) and end < 4 * limit:  # the newest view: extend in place
                log.append(point)
                new = RateHistory.__new__(RateHistory)
                new._log, new._end, new._tuple = log, end + 1, None
                new._start = max(points._start, new._end - limit)
                return new
        return RateHistory((*points[-limit:], point), limit)

    def __len__(self) -> int:
        return self._end - self._start

    @overload
    def __getitem__(self, i: int) -> RatePoint: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[RatePoint, ...]: ...

    def __getitem__(self, i: int | slice) -> RatePoint | tuple[RatePoint, ...]:
        if isinstance(i, slice):
            return self.points()[i]
        n = self._end - self._start
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("rate history index out of range")
        return self._log[self._start + i]

    def __iter__(self) -> Iterator[RatePoint]:
        return iter(self.points())

    def __reversed__(self) -> Iterator[RatePoint]:
        return reversed(self.points())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RateHistory):
            return self.points() == other.points()
        if isinstance(other, tuple):
            return self.points() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.points())

    def __repr__(self) -> str:
        return repr(self.points())

    def __reduce__(self) -> tuple[object, ...]:
        return (tuple, (self.points(),))


@dataclass(slots=True)
class FundingFeed(SlotsState):
    """Latest funding of one (venue, instrument). Rates are per interval (fractions).

    Read-only by convention (a slots class, :mod:`projections.slots`). The board replaces a
    feed, never changes one: the leg caches check feeds by identity.
    """

    venue: str
    instrument: str
    funding_rate: Decimal
    funding_time: int
    next_funding_time: int
    reported_interval_h: int
    settlement_times: tuple[int, ...]
    mark_price: Decimal | None
    observed_at: int
    event_id: str
    # settled (funding_time, funding_rate per interval), oldest first (funding_arb/forecast.py)
    rates: Sequence[RatePoint] = ()  # a tuple or a RateHistory, equal as sequences
    # the venue's estimate for the next settlement: its predicted rate, or the live (not yet
    # settled) rate of the latest observation; None when the latest observation was settled
    predicted_rate: Decimal | None = None


@dataclass(slots=True)
class TickerFeed(SlotsState):
    """Latest top of book of one (venue, instrument); prices quote per base. Read-only by
    convention, as :class:`FundingFeed`."""

    bid: Decimal
    ask: Decimal
    mark_price: Decimal | None
    quote_volume_24h: Decimal | None
    observed_at: int
    event_id: str

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(slots=True)
class AssetBoard(SlotsState):
    """Everything known about one asset's markets. Immutable by convention (a slots class,
    :mod:`projections.slots`); ``apply`` returns a new one."""

    asset: str
    funding: Mapping[FeedKey, FundingFeed] = field(default_factory=dict)
    tickers: Mapping[FeedKey, TickerFeed] = field(default_factory=dict)
    event_time: int = 0  # latest event time applied (the board's clock)


def _with(
    mapping: Mapping[FeedKey, object], key: FeedKey, value: object
) -> Mapping[FeedKey, object]:
    new = dict(mapping)
    if key in new:  # replacing a value keeps the (sorted) order: no re-sort per update
        new[key] = value
        return new
    new[key] = value
    return dict(sorted(new.items()))  # sorted: no dict-order dependence


def apply(board: AssetBoard, event: Event) -> AssetBoard:
    """Fold one market-data event into the board.

    Raises
    ------
    OutOfOrderError
        The event is older than the feed's latest state.
    ValueError
        The event is about another asset.
    """
    if base_asset(event.instrument) != board.asset:
        raise ValueError(f"{event.instrument} is not {board.asset}")
    key = (event.venue, event.instrument)
    if isinstance(event, FundingRateObserved):
        return _apply_funding(board, key, event)
    if isinstance(event, TickerObserved):
        return _apply_ticker(board, key, event)
    return board  # other events do not move the board (explicitly ignored)


def apply_own(board: AssetBoard, event: FundingRateObserved | TickerObserved) -> AssetBoard:
    """:func:`apply` for a market event the caller already keyed by ``board.asset`` (the
    engine's batch fold: the asset check ran once, where the board was looked up). Raises
    :class:`OutOfOrderError` as :func:`apply` does."""
    key = (event.venue, event.instrument)
    if event.__class__ is TickerObserved:
        return _apply_ticker(board, key, event)
    if event.__class__ is FundingRateObserved:
        return _apply_funding(board, key, event)
    return apply(board, event)


def _apply_funding(board: AssetBoard, key: FeedKey, e: FundingRateObserved) -> AssetBoard:
    old = board.funding.get(key)
    if old is not None:
        if old.event_id == e.event_id:
            return board
        if e.funding_time < old.funding_time or (
            e.funding_time == old.funding_time and e.event_time < old.observed_at
        ):
            raise OutOfOrderError(
                f"funding for {key[0]} {key[1]} at {e.funding_time} is older than the "
                f"board's {old.funding_time}"
            )
    times = old.settlement_times if old else ()
    if e.settled and (not times or e.funding_time > times[-1]):
        times = (*times, e.funding_time)[-HISTORY:]
    rates: Sequence[RatePoint] = old.rates if old else ()
    if e.settled and (not rates or e.funding_time > rates[-1][0]):
        rates = RateHistory.appended(rates, (e.funding_time, e.funding_rate))
    feed = FundingFeed(  # positional, in FundingFeed's field order: one per funding event
        e.venue,
        e.instrument,
        e.funding_rate,
        e.funding_time,
        e.next_funding_time,
        e.funding_interval_h,
        times,
        e.mark_price,
        e.event_time,
        e.event_id,
        rates,
        e.predicted_rate
        if e.predicted_rate is not None
        else (None if e.settled else e.funding_rate),
    )
    return AssetBoard(  # not dataclasses.replace: this runs on every market event
        board.asset,
        _with(board.funding, key, feed),  # type: ignore[arg-type]  # feed is a funding feed here
        board.tickers,
        max(board.event_time, e.event_time),
    )


def _apply_ticker(board: AssetBoard, key: FeedKey, e: TickerObserved) -> AssetBoard:
    old = board.tickers.get(key)
    if old is not None:
        if old.event_id == e.event_id:
            return board
        if e.event_time < old.observed_at:
            raise OutOfOrderError(
                f"ticker for {key[0]} {key[1]} at {e.event_time} is older than {old.observed_at}"
            )
    feed = TickerFeed(  # positional, in TickerFeed's field order: one per ticker
        e.bid, e.ask, e.mark_price, e.quote_volume_24h, e.event_time, e.event_id
    )
    return AssetBoard(
        board.asset,
        board.funding,
        _with(board.tickers, key, feed),  # type: ignore[arg-type]  # feed is a ticker feed here
        max(board.event_time, e.event_time),
    )


# ---- reading the board ---------------------------------------------------------------------
@dataclass(slots=True)
class LegView:
    """One leg as the strategy sees it at ``now``. Read-only by convention (a slots class, not
    frozen: built on every feed update, shared by every pair and call that sees the same feed).
    """

    venue: str
    instrument: str
    spot: bool
    rate_h: Decimal  # effective funding rate per hour for the side this leg takes
    interval_h: int
    bid: Decimal
    ask: Decimal
    mark: Decimal
    quote_volume_24h: Decimal | None
    funding_time: int
    # (fees, this leg's round-trip cost term, ``Decimal(0) + term``: the start of a pair's
    # sum when this leg is long) once a pair quote needed it (:func:`_cost_term`)
    cost: tuple[FeeConfig, Decimal, Decimal] | None = field(default=None, compare=False, repr=False)


_UNSET = object()  # PairQuote's break-even hours before the first read


@dataclass(slots=True)
class PairQuote:
    """A candidate pair: ``long`` leg and ``short`` leg, their spread and fee-aware edge.
    Read-only by convention (a slots class, not frozen: quotes are rebuilt on every feed
    update and cached while their legs are unchanged).

    ``blocked`` holds why the pair cannot be traded now (stale/missing leg, unknown interval);
    then the numbers may be partial (zero) and must not be used.

    ``break_even_h`` (``cost_frac / spread_h`` hours when the spread is positive, else None,
    :func:`projections.funding.edge`) is computed on first read: a Decimal division is the
    costliest step of a quote, and only the pairs a decision looks at need it (issue 18).
    Same operands, same (default) decimal context, so the same digits.
    """

    long: FeedKey
    short: FeedKey
    long_rate_h: Decimal
    short_rate_h: Decimal
    spread_h: Decimal
    spread_apr: Decimal
    cost_frac: Decimal
    net_edge_apr: Decimal
    blocked: str | None = None
    long_leg: LegView | None = None
    short_leg: LegView | None = None
    # break_even_h once read (_UNSET before): derived from the fields above, so not compared
    _break_even_h: object = field(default=_UNSET, compare=False, repr=False)

    @property
    def break_even_h(self) -> Decimal | None:
        be = self._break_even_h
        if be is _UNSET:
            s = self.spread_h
            be = self._break_even_h = self.cost_frac / s if s > 0 else None
        return cast(Decimal | None, be)

    @property
    def label(self) -> str:
        return f"long {self.long[0]} {self.long[1]} / short {self.short[0]} {self.short[1]}"


# Caches of the pure per-leg and per-pair computations, validated by object identity: a feed
# is immutable and replaced on every update, the config is frozen, so the same (config, feed)
# objects always give the same result. Only the staleness checks depend on ``now``; they run
# on every call, in the original order, before a cached value is used. Bounded by the number
# of legs and pairs ever seen (entries are overwritten, never accumulated per event).
_FUNDING_STATIC: dict[
    FeedKey, list[object]
] = {}  # key → [config, feed, interval|reason, ttl, rate_h]
_LEGS: dict[
    tuple[FeedKey, bool], tuple[object, ...]
] = {}  # → (config, funding, ticker, view, valid until (ms))
_QUOTES: dict[
    tuple[FeedKey, FeedKey], tuple[object, ...]
] = {}  # → (config, lv, sv, sort key, quote)


def _funding_static(feed: FundingFeed, key: FeedKey, config: StrategyConfig) -> list[object]:
    """[config, feed, interval or the reason it is unknown, ttl (ms), rate_h or None]."""
    c = _FUNDING_STATIC.get(key)
    if c is not None and c[0] is config and c[1] is feed:
        return c
    intervals = config.feeds.intervals_h
    try:
        interval, _ = resolve_interval_h(
            reported_h=feed.reported_interval_h,
            funding_time=feed.funding_time,
            next_funding_time=feed.next_funding_time,
            history=feed.settlement_times,
            configured_h=intervals.get(f"{key[0]}:{key[1]}", intervals.get(key[0])),
            label=f"{key[0]} {key[1]}",
        )
    except UnknownFundingIntervalError as exc:
        c = [config, feed, str(exc), None, None]
    else:
        c = [
            config,
            feed,
            interval,
            config.feeds.funding_ttl_intervals * interval * MS_PER_HOUR,
            None,
        ]
    _FUNDING_STATIC[key] = c
    return c


def leg_view(
    board: AssetBoard, key: FeedKey, short: bool, config: StrategyConfig, now: int
) -> LegView | str:
    """The leg at ``now`` for the given side, or the reason it cannot be used.

    Checked in this order (the first failure is the reason): a perp's funding is known, its
    interval resolves (:func:`projections.funding.resolve_interval_h`), its funding is not
    older than ``funding_ttl_intervals`` intervals; the leg's prices are known and not older
    than ``ticker_ttl_ms``.

    The view is cached per (leg, side) and reused while the leg's feeds are the same objects
    (a feed update replaces them) and neither is stale at ``now``.
    """
    c = _LEGS.get((key, short))
    if (
        c is not None
        and now <= c[4]  # type: ignore[operator]  # cache slot 4: valid-until ms
        and c[0] is config
        and board.tickers.get(key) is c[2]
        and (c[1] is None or board.funding.get(key) is c[1])
    ):
        # the same feeds, neither stale at ``now``: the slow path below would return this view
        return c[3]  # type: ignore[return-value]  # cache slot 3: the view
    # the funding and ticker checks inline (this runs ~7 times per reaction: the hourly
    # candles replace every leg's ticker every hour)
    spot = is_spot(key[1])
    if spot:
        funding = None
        rate: Decimal = _ZERO
        interval = ftime = 0
        ttl: Decimal = _ZERO  # not read for a spot leg
    else:
        funding = board.funding.get(key)
        if funding is None:
            return f"no funding for {key[0]} {key[1]}"
        fs = _FUNDING_STATIC.get(key)
        if fs is None or fs[0] is not config or fs[1] is not funding:
            fs = _funding_static(funding, key, config)
        resolved = fs[2]
        if isinstance(resolved, str):
            return resolved
        interval = cast(int, resolved)
        ttl = cast(Decimal, fs[3])  # cache slot 3: the ttl (ms; funding_ttl_intervals is a Decimal)
        age = now - funding.observed_at
        if age > ttl:
            return (
                f"stale funding on {key[0]} {key[1]}: "
                f"age {age // 60000} min > ttl {int(ttl) // 60000} min"
            )
        cached = fs[4]
        if cached is None:
            cached = fs[4] = rate_per_hour(funding.funding_rate, interval)
        rate = cast(Decimal, cached)
        ftime = funding.funding_time
    tv = board.tickers.get(key)
    if tv is None:
        return f"no prices for {key[0]} {key[1]}"
    ticker_ttl = config.feeds.ticker_ttl_ms
    age = now - tv.observed_at
    if age > ticker_ttl:
        return (
            f"stale prices on {key[0]} {key[1]}: age {age // 60000} min > ttl "
            f"{ticker_ttl // 60000} min"
        )
    # valid while ``now - observed_at <= ttl`` for both feeds (ints: ``<= floor(ttl)``)
    until = tv.observed_at + ticker_ttl
    if funding is not None:
        until = min(until, funding.observed_at + int(ttl))
    if c is not None and c[0] is config and c[1] is funding and c[2] is tv:
        _LEGS[(key, short)] = (config, funding, tv, c[3], until)
        return c[3]  # type: ignore[return-value]  # cache slot 3: the view
    if spot:
        rate = effective_rate_h(
            Decimal(0), spot=True, short=short, borrow_rate_h=config.entry.borrow_rate_h
        )
    view = LegView(  # positional: the field order of LegView
        key[0],
        key[1],
        spot,
        rate,
        interval,
        tv.bid,
        tv.ask,
        tv.mark_price or tv.mid,
        tv.quote_volume_24h,
        ftime,
    )
    _LEGS[(key, short)] = (config, funding, tv, view, until)
    return view


_COST_TERMS: dict[FeedKey, tuple[object, ...]] = {}  # leg → (fees, bid, ask, cost term)
_ZERO = Decimal(0)


def _cost_term(lv: LegView, fees: FeeConfig) -> Decimal:
    """One leg's part of :func:`projections.funding.round_trip_cost_frac`,
    ``2 × taker + 2 × slippage``, cached while the leg's bid and ask are the same objects."""
    own = lv.cost
    if own is not None and own[0] is fees:
        return own[1]  # this view's term (a leg is in several pairs)
    key = (lv.venue, lv.instrument)
    c = _COST_TERMS.get(key)
    if c is not None and c[0] is fees and c[1] is lv.bid and c[2] is lv.ask:
        term = cast(Decimal, c[3])
    else:
        term = 2 * venue_fees(fees, lv.venue).taker + 2 * slippage_frac(lv.bid, lv.ask, fees)
        _COST_TERMS[key] = (fees, lv.bid, lv.ask, term)
    lv.cost = (fees, term, _ZERO + term)
    return term


def _quote(
    long: FeedKey, short: FeedKey, lv: LegView | str, sv: LegView | str, config: StrategyConfig
) -> PairQuote:
    if lv.__class__ is str or sv.__class__ is str:
        # "; ".join of the reasons, without a generator (a stale leg re-quotes its pairs on
        # every reaction: its reason carries the age in minutes)
        if lv.__class__ is str:
            reason = lv if sv.__class__ is not str else f"{lv}; {sv}"
        else:
            reason = cast(str, sv)
        z = _ZERO
        return PairQuote(long, short, z, z, z, z, z, z, reason)
    lv, sv = cast(LegView, lv), cast(LegView, sv)
    spread_h = sv.rate_h - lv.rate_h  # spread_per_hour
    # round_trip_cost_frac and edge with the same operations in the same order, the per-leg
    # terms computed once per leg update instead of once per pair (_cost_term's own-view
    # check inlined: a leg is in several pairs)
    fees = config.fees
    own = lv.cost
    if own is None or own[0] is not fees:
        _cost_term(lv, fees)
        own = lv.cost
    # Decimal(0) += the long leg's term, as round_trip_cost_frac sums: computed once per view
    cost = own[2]  # type: ignore[index]  # set by _cost_term
    own = sv.cost
    short_term = own[1] if own is not None and own[0] is fees else _cost_term(sv, fees)
    cost = cost + short_term
    horizon = config.entry.holding_horizon_h
    net = spread_h * horizon - cost
    net_edge_apr = net * HOURS_PER_YEAR / horizon  # break_even_h: on first read
    return PairQuote(
        long,
        short,
        lv.rate_h,
        sv.rate_h,
        spread_h,
        spread_h * HOURS_PER_YEAR,
        cost,
        net_edge_apr,
        None,
        lv,
        sv,
    )


def quote_pair(
    board: AssetBoard, long: FeedKey, short: FeedKey, config: StrategyConfig, now: int
) -> PairQuote:
    """Spread and fee-aware edge of one (long, short) pair at ``now``."""
    return _ranked(
        long,
        short,
        leg_view(board, long, False, config, now),
        leg_view(board, short, True, config, now),
        config,
    )[1]


def _ranked(
    long: FeedKey, short: FeedKey, lv: LegView | str, sv: LegView | str, config: StrategyConfig
) -> tuple[tuple[object, ...], PairQuote]:
    """(sort key, quote) of one pair, reused while both leg views are the same (a view is the
    same object while its feeds are, a blocked leg the same reason)."""
    c = _QUOTES.get((long, short))
    if (
        c is not None
        and c[0] is config
        and (c[1] is lv or (lv.__class__ is str and c[1] == lv))
        and (c[2] is sv or (sv.__class__ is str and c[2] == sv))
    ):
        return c[3], c[4]  # type: ignore[return-value]  # untyped cache slots
    q = _quote(long, short, lv, sv, config)
    rank = (q.blocked is not None, -q.net_edge_apr, q.long, q.short)
    _QUOTES[(long, short)] = (config, lv, sv, rank, q)
    return rank, q


def _first(item: tuple[tuple[object, ...], PairQuote]) -> tuple[object, ...]:
    return item[0]


_KEYS: dict[str, tuple[object, ...]] = {}  # asset → (funding keys, ticker keys, keys, perps, spots)


_LAST: dict[str, tuple[object, ...]] = {}  # asset → (board, now, config, ranked, unsorted)


def _legs_of(board: AssetBoard) -> tuple[list[FeedKey], list[FeedKey], list[FeedKey]]:
    """Every leg of the board sorted, its perps and its spots (cached while the feeds' key sets
    are the same: a new feed is rare, an update of a known one is every event)."""
    c = _KEYS.get(board.asset)
    if c is not None and board.funding.keys() == c[0] and board.tickers.keys() == c[1]:
        return c[2], c[3], c[4]  # type: ignore[return-value]  # untyped cache slots
    keys = sorted(set(board.funding) | set(board.tickers))
    perps = [k for k in keys if not is_spot(k[1])]
    spots = [k for k in keys if is_spot(k[1])]
    _KEYS[board.asset] = (frozenset(board.funding), frozenset(board.tickers), keys, perps, spots)
    return keys, perps, spots


def candidate_pairs(board: AssetBoard, config: StrategyConfig, now: int) -> list[PairQuote]:
    """Every pair the config allows, best net edge first (ties by venue/instrument names).

    Perp–perp pairs are oriented by current rate/h (short the higher), spot–perp pairs long
    spot / short perp, or (``allow_spot_short``) short spot / long perp. Each leg's view is
    computed once per call (this runs on every market event), and only pairs with a leg whose
    view changed are quoted again (:func:`_ranked`).
    """
    last = _LAST.get(board.asset)
    if last is not None and last[0] is board and last[1] == now and last[2] is config:
        return list(cast(list[PairQuote], last[3]))  # same board, same time: same pairs
    keys, perps, spots = _legs_of(board)
    # leg_view's cached path inlined (this loop runs on every reaction): the same checks in
    # the same order; anything else goes through leg_view itself
    legs, tickers, funding = _LEGS, board.tickers, board.funding
    as_long: dict[FeedKey, LegView | str] = {}
    for k in keys:
        c = legs.get((k, False))
        if (
            c is not None
            and now <= c[4]  # type: ignore[operator]  # cache slot 4: valid-until ms
            and c[0] is config
            and tickers.get(k) is c[2]
            and (c[1] is None or funding.get(k) is c[1])
        ):
            as_long[k] = c[3]  # type: ignore[assignment]  # cache slot 3: the view
        else:
            as_long[k] = leg_view(board, k, False, config, now)
    # a perp's rate is the same on either side; only spot legs differ when short (borrow)
    as_short = as_long
    if spots:
        as_short = dict(as_long)
        for k in spots:
            as_short[k] = leg_view(board, k, True, config, now)
    previous = cast(list[tuple[tuple[object, ...], PairQuote]], last[4]) if last else None
    if previous is not None and last is not None and last[2] is not config:
        previous = None
    # the pairs to rank, in the order they were always ranked: (long, short, long view, short view)
    todo: list[tuple[FeedKey, FeedKey, LegView | str, LegView | str]] = []
    if config.entry.perp_perp:
        for i, a in enumerate(perps):
            va = as_long[a]
            for b in perps[i + 1 :]:
                if a[0] == b[0]:
                    continue
                vb = as_long[b]
                if not isinstance(va, str) and not isinstance(vb, str) and vb.rate_h > va.rate_h:
                    todo.append((a, b, va, as_short[b]))  # b pays more: short b
                else:
                    todo.append((b, a, vb, as_short[a]))
    if config.entry.spot_perp:
        spot_short = config.entry.allow_spot_short
        for s in spots:
            for p in perps:
                if p[0] != s[0]:
                    continue
                todo.append((s, p, as_long[s], as_short[p]))
                if spot_short:
                    todo.append((p, s, as_long[p], as_short[s]))
    n_previous = len(previous) if previous is not None else -1
    same = previous is not None and len(todo) == n_previous  # every pair as last time, in order
    quotes: list[tuple[tuple[object, ...], PairQuote]] = []
    cache = _QUOTES
    # _ranked inlined (same cache, same checks), one loop instead of a call per pair
    for long, short, lv, sv in todo:
        c = cache.get((long, short))
        if (
            c is not None
            and c[0] is config
            and (c[1] is lv or (lv.__class__ is str and c[1] == lv))
            and (c[2] is sv or (sv.__class__ is str and c[2] == sv))
        ):
            rank = c[3]
            item = (rank, c[4])
        else:  # _ranked's miss
            q = _quote(long, short, lv, sv, config)
            rank = (q.blocked is not None, -q.net_edge_apr, long, short)
            item = (rank, q)
            cache[(long, short)] = (config, lv, sv, rank, q)
        if same:
            same = previous[len(quotes)][0] is rank  # type: ignore[index]  # same implies previous
        quotes.append(item)  # type: ignore[arg-type]  # untyped cache slots
    if same:
        # every pair the same quote in the same place: the same ranking
        ranked_quotes = cast(list[PairQuote], last[3])  # type: ignore[index]  # same implies last
    else:
        unsorted = quotes[:]
        quotes.sort(key=_first)  # stable, as sorting the quotes by the same key was
        ranked_quotes = [q for _, q in quotes]
        quotes = unsorted
    _LAST[board.asset] = (board, now, config, ranked_quotes, quotes)
    return list(ranked_quotes)
