"""Venue credentials for the live adapters, from the environment (never logged or published)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Json, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from producers.venues import VenueSpec


class VenueCredentials(BaseSettings):
    """One venue's credentials from ``FUNDARB_<VENUE>_<NAME>`` environment variables.

    ``API_KEY``, ``SECRET``, ``PASSWORD`` (OKX/Bitget passphrase), ``WALLET_ADDRESS``,
    ``PRIVATE_KEY``, and ``OPTIONS`` (JSON merged into ccxt's options, e.g. Lighter's
    ``accountIndex``). Secrets are ``SecretStr``: their repr is masked.
    """

    model_config = SettingsConfigDict(extra="ignore")

    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    password: SecretStr | None = None
    wallet_address: str | None = None
    private_key: SecretStr | None = None
    options: Json[dict[str, Any]] | None = None

    _CCXT: ClassVar[dict[str, str]] = {
        "apiKey": "api_key",
        "secret": "secret",
        "password": "password",
        "walletAddress": "wallet_address",
        "privateKey": "private_key",
    }

    @classmethod
    def for_venue(cls, venue: str) -> VenueCredentials:
        return cls(_env_prefix=f"FUNDARB_{venue.upper()}_")

    def ccxt_config(self) -> dict[str, str]:
        """The ccxt constructor credentials that are set (secrets revealed only here)."""
        out = {}
        for ccxt_name, ours in self._CCXT.items():
            value = getattr(self, ours)
            if value is not None:
                out[ccxt_name] = value.get_secret_value() if isinstance(value, SecretStr) else value
        return out

    def missing(self, spec: VenueSpec) -> list[str]:
        """Environment variables live trading at ``spec`` still needs."""
        have = self.ccxt_config()
        return [
            f"FUNDARB_{spec.id.upper()}_{self._CCXT[name].upper()}"
            for name in spec.credentials
            if name not in have
        ]
