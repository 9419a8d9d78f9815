"""A Confluent-compatible Schema Registry client (used when ``FUNDARB_SCHEMA_REGISTRY_URL`` is set).

Subjects follow the RecordNameStrategy (``fundarb.events.<Type>``) because one topic carries
several event types. REST API: https://docs.confluent.io/platform/current/schema-registry/develop/api.html
(``POST /subjects/{subject}/versions`` registers and returns the id, ``GET /schemas/ids/{id}``
returns the schema). Ids are cached: they never change once assigned.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from schemas.avro import NAMESPACE, load_avsc
from schemas.events import EVENTS_BY_NAME
from schemas.serde import DecodeError, SchemaEntry

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class ConfluentSchemaRegistry:
    """:class:`schemas.serde.SchemaRegistry` over a Confluent-compatible REST registry."""

    def __init__(self, url: str, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(
            base_url=url.rstrip("/"), timeout=10.0, headers={"Content-Type": CONTENT_TYPE}
        )
        self._ids: dict[tuple[str, int], int] = {}
        self._entries: dict[int, SchemaEntry] = {}

    @retry(
        retry=retry_if_exception_type(httpx.TransportError),
        stop=stop_after_attempt(4),
        wait=wait_exponential(multiplier=0.2, max=3),
        reraise=True,
    )
    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        # registering the same schema twice returns the same id: safe to retry
        response = self._client.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def id_for(self, type_name: str, version: int) -> int:
        key = (type_name, version)
        if key not in self._ids:
            schema = json.dumps(load_avsc(type_name, version))
            body = self._request(
                "POST",
                f"/subjects/{NAMESPACE}.{type_name}/versions",
                json={"schema": schema, "schemaType": "AVRO"},
            )
            self._ids[key] = int(body["id"])
        return self._ids[key]

    def entry(self, schema_id: int) -> SchemaEntry:
        if schema_id not in self._entries:
            try:
                body = self._request("GET", f"/schemas/ids/{schema_id}")
            except httpx.HTTPStatusError as exc:
                raise DecodeError(
                    "unknown_schema_id",
                    f"registry has no schema id {schema_id} ({exc.response.status_code})",
                ) from None
            schema = json.loads(body["schema"])
            type_name = schema.get("name", "")
            if type_name not in EVENTS_BY_NAME:
                raise DecodeError(
                    "unknown_schema_id", f"schema id {schema_id} is {type_name!r}, not an event"
                )
            version = _version_of(type_name, schema)
            self._entries[schema_id] = SchemaEntry(schema_id, type_name, version, schema)
        return self._entries[schema_id]


def _version_of(type_name: str, schema: dict[str, Any]) -> int:
    """Which committed version a registry schema is (matched by content)."""
    from schemas.avro import committed_versions

    for version in committed_versions(type_name):
        if load_avsc(type_name, version) == schema:
            return version
    raise DecodeError(
        "unknown_schema_id", f"{type_name} schema from the registry matches no committed version"
    )


def make_serializer(registry_url: str | None) -> Any:
    """A serializer on the Confluent registry when a URL is given, else the file registry."""
    from schemas.serde import Serializer

    return Serializer(ConfluentSchemaRegistry(registry_url) if registry_url else None)
