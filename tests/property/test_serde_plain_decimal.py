"""``schemas.serde.plain_decimal`` (issue 18: ``str`` where it has no exponent, 2-3x faster)
writes every Decimal as ``format(d, "f")`` did: every Avro decimal string of every event is
unchanged."""

from __future__ import annotations

import io
from decimal import Decimal

import fastavro
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.avro import load_avsc
from schemas.serde import HEADER, Serializer, plain_decimal, to_record
from tests import stubs

finite = st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)),
    st.integers(0, 1),
    st.lists(st.integers(0, 9), min_size=1, max_size=60),
    st.integers(-80, 40),
)
special = st.sampled_from(
    [Decimal(x) for x in ("NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "-0", "0E-8", "0E+3")]
)


@settings(max_examples=3000, deadline=None)
@given(value=st.one_of(finite, special, st.decimals(allow_nan=True, allow_infinity=True)))
def test_plain_decimal_is_format_f(value: Decimal) -> None:
    assert plain_decimal(value) == format(value, "f")


def test_at_the_edges_of_str_plain_notation() -> None:
    # str writes an exponent from adjusted exponent -7 down and for any positive exponent
    for text in ("1E-6", "1E-7", "0.000001", "0.0000001", "1.5E-7", "1E+1", "10", "123E-2"):
        value = Decimal(text)
        assert plain_decimal(value) == format(value, "f"), text
    assert plain_decimal(Decimal("1E-7")) == "0.0000001"
    assert plain_decimal(Decimal("1E+3")) == "1000"


def test_a_record_of_every_stub_writes_its_decimals_in_plain_notation() -> None:
    for name, factory in stubs.FACTORIES.items():
        record = to_record(factory())
        for field, value in factory().__dict__.items():
            if type(value) is Decimal:
                assert record[field] == format(value, "f"), (name, field)


def test_the_serializer_writes_what_to_record_gives_on_every_stub() -> None:
    """The per-type converter the serializer generates equals the generic ``to_record``."""
    ser = Serializer()
    for name, factory in stubs.FACTORIES.items():
        event = factory()
        schema = fastavro.parse_schema(load_avsc(type(event).__name__, event.SCHEMA_VERSION))
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, to_record(event))
        assert ser.encode(event)[HEADER.size :] == buf.getvalue(), name
