"""Strategy, fee, risk and execution configuration (validated; loaded from TOML by the CLI).

Units are in the names: ``*_frac`` is a fraction (0.0005 = 5 bp), ``*_apr`` a fraction per
year, ``*_h`` hours, ``*_ms`` milliseconds, ``*_usd`` US dollars (stablecoin quotes at par).
Defaults follow the requirement documents (``shared/seeds``): 1 bp limit offset, IOC first
legs, exits on funding flip, profit erosion, time limit, better opportunity, basis stop,
take profit and risk breakers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from decimal import Decimal
from typing import Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from producers.venues import VENUES
from schemas.catalog import ASSET_PARTITIONS
from schemas.strategy_specs import StrategySpec, check_strategies, default_strategies
from schemas.types import Dec, NonNegativeDec, PositiveDec
from schemas.venues import VenueFees as VenueFees  # the model lives beside the venue specs


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


#: Each venue's published base-tier fees (fractions of notional), read from its package
#: (``producers/venues/<venue>/``: ``SPEC.fees``, with the fee page they come from).
DEFAULT_FEES: dict[str, VenueFees] = {v: spec.fees.config() for v, spec in VENUES.items()}


#: Fee fractions outside this range are refused at load: a typo, not a fee schedule.
MAX_FEE_FRAC = Decimal("0.01")
#: Price offsets and slippage are fractions of a price: beyond 5 % is a typo (``5`` for 5 bp),
#: not an execution setting (a 5 % cross on a hedge is already a broken market).
MAX_PRICE_FRAC = Decimal("0.05")
#: Margin borrow costs beyond 1 % per hour (~88x a year) are a unit slip (per year, per day).
MAX_BORROW_RATE_H = Decimal("0.01")


class FeeConfig(_Frozen):
    """Fee table per venue plus the slippage model used for expected costs.

    One table serves the strategy's cost model and the paper venue's charges. A ``[fees.venues]``
    table in a config file is merged over :data:`DEFAULT_FEES` per venue (naming one venue
    does not drop the others). ``slippage_frac`` None means half the quoted bid/ask spread per
    trade (the default). Raises ``ValueError`` (at load) for a fee outside
    ``[-MAX_FEE_FRAC, MAX_FEE_FRAC]`` or a ``slippage_frac`` above :data:`MAX_PRICE_FRAC`.
    """

    venues: dict[str, VenueFees] = Field(default_factory=lambda: dict(DEFAULT_FEES))
    slippage_frac: NonNegativeDec | None = Field(default=None, le=MAX_PRICE_FRAC)

    @field_validator("venues", mode="before")
    @classmethod
    def _merge_defaults(cls, value: object) -> object:
        if isinstance(value, dict):
            return {**DEFAULT_FEES, **value}
        return value

    @field_validator("venues")
    @classmethod
    def _bounded(cls, value: dict[str, VenueFees]) -> dict[str, VenueFees]:
        for venue, fees in value.items():
            for side in ("maker", "taker"):
                frac = getattr(fees, side)
                if not -MAX_FEE_FRAC <= frac <= MAX_FEE_FRAC:
                    raise ValueError(
                        f"fees.venues.{venue}.{side} = {frac} is outside "
                        f"[-{MAX_FEE_FRAC}, {MAX_FEE_FRAC}] (a fraction: 0.0005 = 5 bp)"
                    )
        return value

    def require(self, venues: Iterable[str]) -> None:
        """Raise ``ValueError`` naming every venue of ``venues`` the table has no fees for."""
        missing = sorted(set(venues) - set(self.venues))
        if missing:
            raise ValueError(
                f"no fees for traded venue(s) {', '.join(missing)}: add them under "
                f'[fees.venues], e.g. {missing[0]} = {{ maker = "0.0002", taker = "0.0005" }}'
            )


class EntryConfig(_Frozen):
    """When to open an arb.

    ``holding_horizon_h``: hours over which the net edge is judged; ``min_net_apr``: net edge
    (after round-trip fees and slippage) per year that must be cleared; ``max_break_even_h``:
    hours of spread needed to pay the costs must not exceed this. ``borrow_rate_h`` is a
    fraction per hour in ``[0, MAX_BORROW_RATE_H]``.
    """

    min_net_apr: Dec = Decimal("0.20")
    max_break_even_h: PositiveDec = Decimal("72")
    holding_horizon_h: PositiveDec = Decimal("168")
    min_quote_volume_24h_usd: NonNegativeDec = Decimal("0")
    perp_perp: bool = True
    spot_perp: bool = True
    allow_spot_short: bool = False
    borrow_rate_h: NonNegativeDec = Field(  # margin borrow cost, fraction/hour
        default=Decimal("0.000005"), le=MAX_BORROW_RATE_H
    )
    # ---- forecast-based entry (strategies/funding_arb/policy.py); "current" keeps the rule above
    decide_on: Literal["current", "forecast"] = "current"
    expected_hold_h: PositiveDec = Decimal("72")  # hold the forecast net edge is judged over
    # execution cost as the paper venue charges it, beyond taker fee and half-spread, per
    # trade: slippage (PaperConfig.slippage_bps) and impact per million USD of notional
    slippage_frac: NonNegativeDec = Field(default=Decimal("0.0001"), le=Decimal("0.1"))
    impact_frac_per_musd: NonNegativeDec = Field(default=Decimal("0.0005"), le=Decimal("0.1"))


class CapacityConfig(_Frozen):
    """Limits: open arbs, new arbs per decision, notional per arb/asset/venue (USD)."""

    max_open_arbs: int = Field(default=5, ge=0)
    max_new_per_round: int = Field(default=1, ge=0)
    notional_per_arb_usd: PositiveDec = Decimal("10000")
    max_notional_per_asset_usd: PositiveDec = Decimal("20000")
    max_notional_per_venue_usd: PositiveDec = Decimal("50000")
    # how the global limits (open arbs, notional per venue) are split over the asset
    # partitions, one weight per partition (projections/budget.py): what each worker of a
    # consumer group may use without asking the others
    partition_weights: tuple[int, ...] = (1,) * ASSET_PARTITIONS

    @field_validator("partition_weights")
    @classmethod
    def _weights(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if len(v) != ASSET_PARTITIONS:
            raise ValueError(f"needs one weight per asset partition ({ASSET_PARTITIONS})")
        if any(w < 0 or w > 1000 for w in v) or sum(v) == 0:
            raise ValueError("weights must be in 0..1000 and not all 0")
        return v


#: Exit keys counted in funding intervals before they were expressed in hours: an interval
#: is 1 h on one venue and 8 h on another, so "8 intervals" meant 8 h or 64 h by pair.
RENAMED_EXIT_KEYS = {
    "flip_intervals": "flip_h",
    "erosion_intervals": "erosion_h",
    "basis_stop_intervals": "basis_stop_h",
}


class ExitConfig(_Frozen):
    """When to close an arb (each exit has its own reason). Durations are in hours.

    ``flip_h``: the spread has been against us at every settlement of either leg for this long;
    ``erosion_ratio``: exit when current spread / entry spread stays below it for
    ``erosion_h``; ``max_hold_h``: time limit; ``better_improvement_apr``: a better pair must
    beat the current spread by this (net of switching costs); ``basis_stop_frac`` /
    ``basis_stop_h``: spot-perp basis moved against us by this fraction for that long;
    ``take_profit_frac``: cumulative funding / notional. ``basis_stop_frac`` is in ``(0, 1]``.

    Raises ``ValueError`` naming the new key when a config uses a retired ``*_intervals`` key.
    """

    flip_h: PositiveDec = Decimal("24")
    erosion_ratio: Dec = Decimal("0.25")
    erosion_h: PositiveDec = Decimal("48")
    max_hold_h: PositiveDec = Decimal("720")
    better_opportunity: bool = True
    better_improvement_apr: NonNegativeDec = Decimal("0.20")
    basis_stop_frac: PositiveDec = Field(default=Decimal("0.02"), le=1)
    basis_stop_h: PositiveDec = Decimal("16")
    take_profit_frac: PositiveDec | None = None
    # ---- forecast-based holding (entry.decide_on = "forecast"; funding_arb/policy.py)
    exit_apr: Dec = Decimal("0.05")  # after break-even: exit when forecast spread APR < this
    flip_apr: NonNegativeDec = Decimal("0.30")  # before it: exit only below −flip_apr
    min_hold_break_even: bool = True  # hold until funding has paid the round trip
    switch_cost_multiple: PositiveDec = Decimal("2")  # gain over the hold ≥ this × switch cost

    @model_validator(mode="before")
    @classmethod
    def _retired_keys(cls, data: object) -> object:
        if isinstance(data, dict):
            for old, new in RENAMED_EXIT_KEYS.items():
                if old in data:
                    raise ValueError(
                        f"exits.{old} is retired: use exits.{new} (hours; a funding interval is "
                        f"1 h on some venues and 8 h on others, so counts of intervals meant "
                        f"different durations per pair)"
                    )
        return data


class ForecastConfig(_Frozen):
    """The funding forecast (:mod:`projections.strategies.funding_arb.forecast`): expected
    rate per hour of one leg.

    ``half_life_h``: EWMA half-life over the leg's settlements in hours (0 = plain trailing
    mean); ``window_h``: settlements older than this (from the leg's latest) are ignored;
    ``shrink`` in ``[0, 1]``: weight of the prior (``zero`` or the leg's ``long_mean``, the
    plain mean of every settlement kept); ``use_predicted``: the venue's predicted rate, when
    the feed carries one, stands in for the next interval of the horizon.
    """

    half_life_h: NonNegativeDec = Field(default=Decimal("24"), le=Decimal("10000"))
    window_h: PositiveDec = Field(default=Decimal("168"), le=Decimal("2000"))
    shrink: NonNegativeDec = Field(default=Decimal("0"), le=1)
    prior: Literal["zero", "long_mean"] = "zero"
    use_predicted: bool = True


class FeedConfig(_Frozen):
    """Staleness: a feed older than its TTL blocks decisions on that leg (never counts as 0).

    ``funding_ttl_intervals``: funding is stale after this many of its venue's intervals;
    ``ticker_ttl_ms``: ticker TTL. ``intervals_h`` gives the configured interval per
    ``venue`` or ``venue:symbol`` when it cannot be inferred from the data (never a silent 8h).
    """

    funding_ttl_intervals: PositiveDec = Decimal("1.5")
    ticker_ttl_ms: int = Field(default=2 * 3_600_000, ge=1)
    intervals_h: dict[str, int] = Field(default_factory=dict)


class ExecutionConfig(_Frozen):
    """How the executor turns targets into orders (DESIGN §6, seeds: atomic execution notes).

    ``first_leg``: ``ioc`` (limit IOC at the offset) or ``limit`` (GTC limit, canceled after
    ``leg_timeout_ms``). ``limit_offset_frac`` is measured from the opposite touch (ask for
    buys, bid for sells): positive rests inside/behind it, negative crosses by that much.
    Hedges are IOC limits crossing by ``hedge_cross_frac``. ``maker_first`` (off by default;
    issue 19, seeds/002): the first leg is a post-only limit at its own touch (bid for buys,
    ask for sells) on the venue with the cheaper maker fee, canceled after ``leg_timeout_ms``
    and re-placed up to ``max_entry_attempts`` times; the other leg is hedged as taker as it
    fills (``first_leg`` and ``limit_offset_frac`` then do not apply to the first leg).
    ``qty_step`` rounds quantities down (base units). Bounds: ``limit_offset_frac`` in
    ``[-MAX_PRICE_FRAC, MAX_PRICE_FRAC]``, ``hedge_cross_frac`` in ``[0, MAX_PRICE_FRAC]``
    (5 %); a pydantic ``ValidationError`` names the key otherwise.
    """

    first_leg: Literal["ioc", "limit"] = "ioc"
    maker_first: bool = False
    limit_offset_frac: Dec = Field(
        default=Decimal("-0.0005"), ge=-MAX_PRICE_FRAC, le=MAX_PRICE_FRAC
    )
    hedge_cross_frac: NonNegativeDec = Field(default=Decimal("0.002"), le=MAX_PRICE_FRAC)
    leg_timeout_ms: int = Field(default=60_000, ge=1)
    hedge_timeout_ms: int = Field(default=10_000, ge=1)
    max_entry_attempts: int = Field(default=3, ge=1)
    max_hedge_attempts: int = Field(default=3, ge=1)
    qty_step: PositiveDec = Decimal("0.000001")


class RiskConfig(_Frozen):
    """Circuit breakers (risk agent). ``max_margin_ratio`` (1 = liquidation) and
    ``min_liquidation_distance_frac`` are fractions in ``(0, 1]``."""

    stale_feed_ms: int = Field(default=3 * 3_600_000, ge=1)
    max_order_failures: int = Field(default=5, ge=1)
    order_failure_window_ms: int = Field(default=3_600_000, ge=1)
    max_margin_ratio: PositiveDec = Field(default=Decimal("0.8"), le=1)
    min_liquidation_distance_frac: PositiveDec = Field(default=Decimal("0.10"), le=1)
    one_legged_max_usd: NonNegativeDec = Decimal("100")
    one_legged_max_ms: int = Field(default=60_000, ge=1)
    max_drawdown_usd: PositiveDec | None = None


class StrategyConfig(_Frozen):
    """Everything the strategy, executor and risk functions need.

    ``capital_usd`` is bounded like every decimal (``schemas.types.MAX_MAGNITUDE``, 10^15 USD),
    and a decimal string is checked for length and exponent before it is parsed.
    """

    fees: FeeConfig = Field(default_factory=FeeConfig)
    entry: EntryConfig = Field(default_factory=EntryConfig)
    capacity: CapacityConfig = Field(default_factory=CapacityConfig)
    exits: ExitConfig = Field(default_factory=ExitConfig)
    feeds: FeedConfig = Field(default_factory=FeedConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    forecast: ForecastConfig = Field(default_factory=ForecastConfig)
    capital_usd: PositiveDec = Decimal("100000")
    # the strategies run side by side, in this order ([[strategies]]; schemas/strategy_specs.py)
    strategies: list[StrategySpec] = Field(
        default_factory=default_strategies, min_length=1, max_length=32
    )

    @model_validator(mode="after")
    def _capacity_consistent(self) -> StrategyConfig:
        check_strategies(self.strategies, set(self.fees.venues))
        if self.capacity.notional_per_arb_usd > self.capacity.max_notional_per_asset_usd:
            raise ValueError("notional_per_arb_usd exceeds max_notional_per_asset_usd")
        if self.entry.decide_on == "forecast" and self.exits.exit_apr >= self.entry.min_net_apr:
            raise ValueError(
                "exits.exit_apr must be below entry.min_net_apr (hysteresis: the exit "
                "threshold sits below the entry one, or an arb would exit as it enters)"
            )
        return self


class AlertRules(_Frozen):
    """Thresholds of the alert rules (units in names; times are event time)."""

    stale_feed_ms: int = Field(default=3 * 3_600_000, ge=1)  # the floor of a feed's limit
    # a feed is stale after this many of its own intervals (funding interval, or candle /
    # poll period), and never before stale_feed_ms
    stale_feed_intervals: int = Field(default=6, ge=1, le=1000)
    # an open arb's spread against it on every funding observation for this long (the
    # strategy's own flip exit waits exits.flip_h); 0 alerts on the first one
    funding_flip_ms: int = Field(default=12 * 3_600_000, ge=0, le=30 * 86_400_000)
    one_legged_usd: NonNegativeDec = Decimal("500")
    one_legged_ms: int = Field(default=60_000, ge=0)
    drawdown_usd: PositiveDec = Decimal("2000")
    rejections: int = Field(default=3, ge=1)
    rejections_window_ms: int = Field(default=600_000, ge=1)
    dedup_ms: int = Field(default=3_600_000, ge=0)
    max_per_rule_per_hour: int = Field(default=20, ge=1)
    # funding reconciliation (consumers/funding_recon.py), off by default (the alerts
    # consumer now merges its topics in event-time order, but a payment and the position it
    # explains can share a time); for a finished run the SQL view v_funding_reconciliation is
    # exact. A settlement matches when
    # |paid − expected| ≤ max(funding_tolerance_usd, funding_tolerance_frac × |expected|);
    # no payment funding_grace_ms after a held settlement is a missed payment
    funding_recon: bool = False
    funding_tolerance_usd: NonNegativeDec = Decimal("0.0001")
    funding_tolerance_frac: NonNegativeDec = Field(default=Decimal("0.05"), le=1)
    funding_grace_ms: int = Field(default=3_600_000, ge=0, le=7 * 86_400_000)


_HTTP_URL = TypeAdapter(AnyHttpUrl)
#: Cloud instance-metadata hosts by name (the literal addresses are link-local or listed below).
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
#: AWS's IPv6 instance-metadata address (unique-local, so not caught as link-local).
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("fd00:ec2::254")})


def check_sink_url(url: str, what: str) -> str:
    """An alert sink URL: ``http``/``https`` only, never link-local or instance metadata.

    Literal hosts are checked with :mod:`ipaddress` (after the URL parser normalised them, so
    ``http://2852039166/`` is 169.254.169.254): link-local (169.254.0.0/16, fe80::/10),
    unspecified, multicast, reserved and the metadata addresses are refused; so are the
    metadata host names. Loopback and private networks stay allowed (a local relay).

    Raises
    ------
    ValueError
        Naming ``what`` (a key or an environment variable), never the URL: it is a secret.
    """
    try:
        host = (_HTTP_URL.validate_python(url).host or "").lower()
    except ValidationError:
        raise ValueError(f"{what} is not an http(s) URL") from None
    if host.rstrip(".") in METADATA_HOSTS:
        raise ValueError(f"{what} points at a cloud instance-metadata host")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return url  # a host name
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if (
        ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
        or ip in METADATA_ADDRESSES
    ):
        raise ValueError(
            f"{what} points at a link-local, metadata or reserved address (refused: an alert "
            "sink is never the machine's own metadata service)"
        )
    return url


class SinkConfig(_Frozen):
    """Where alerts go. ``kind``: console, webhook (JSON POST), slack (incoming webhook) or
    telegram (bot API). ``url`` / ``token`` are secrets: give them directly or, better, name an
    environment variable in ``url_env`` / ``token_env``; either way they never reach logs,
    topics or ClickHouse.

    ``url``, ``api_base`` and the value of ``url_env`` must pass :func:`check_sink_url`; the
    variable is checked when the loader passes ``context={"environ": os.environ}`` to
    ``model_validate`` (the CLI does). Errors name the key, never the URL.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    kind: Literal["console", "webhook", "slack", "telegram"]
    name: str = ""
    url: SecretStr | None = None
    url_env: str | None = None
    token: SecretStr | None = None
    token_env: str | None = None
    chat_id: str | None = None
    api_base: str = "https://api.telegram.org"
    min_severity: Literal["info", "warning", "critical"] = "info"

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_sink_url(value.get_secret_value(), "url")
        return value

    @field_validator("api_base")
    @classmethod
    def _api_base_is_http(cls, value: str) -> str:
        return check_sink_url(value, "api_base")

    @model_validator(mode="after")
    def _url_env_is_http(self, info: ValidationInfo) -> SinkConfig:
        # the sink reads the variable when it sends; the loader passes the environment as
        # validation context (schemas stay free of os) so a bad value fails at load instead
        environ = (info.context or {}).get("environ", {})
        env_url = environ.get(self.url_env) if self.url_env else None
        if env_url:
            check_sink_url(env_url, f"url_env {self.url_env}")
        return self


class AlertsConfig(_Frozen):
    """``[rules]`` thresholds and ``[[sinks]]`` (config/alerts.toml).

    Errors hide their inputs: a sink's URL or token is a secret (pydantic shows the input of
    the outermost model's config, so the flag is set here too).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    rules: AlertRules = Field(default_factory=AlertRules)
    sinks: list[SinkConfig] = Field(default_factory=lambda: [SinkConfig(kind="console")])
