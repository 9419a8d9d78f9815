"""``schemas.types.canonical_decimal``'s fast path for a ``Decimal`` input (issue 18: it reads
the exponent from ``str()`` instead of ``as_tuple()``, and the default bound from
``adjusted()``) returns what the general path returns: the same value, the same digits and
exponent (``as_tuple()``), the same ``str``, or the same refusal, on any Decimal including
hostile ones (NaN, sNaN, ±infinity, -0, huge and tiny exponents, many digits) and under a
context that writes a lowercase ``e``.

The reference below is the general path as it was before the fast path (an independent copy:
it reads the exponent with ``as_tuple()`` and compares with the bound)."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from schemas import types as T


def reference(dec: Decimal, bound: Decimal = T.MAX_MAGNITUDE) -> Decimal:
    """The pre-issue-18 general path for a Decimal input."""
    if not dec.is_finite():
        raise ValueError("not finite")
    if not -bound < dec < bound:
        raise ValueError("out of bounds")
    if not dec:
        return Decimal(0)
    exponent = dec.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent > 0:
        return Decimal(format(dec, "f"))
    if exponent < -T.MAX_PLACES:
        dec = dec.quantize(Decimal(1).scaleb(-T.MAX_PLACES), context=decimal.Context(prec=60))
        return dec if dec else Decimal(0)
    return dec


def same(value: Decimal, bound: Decimal = T.MAX_MAGNITUDE) -> None:
    try:
        want = reference(value, bound)
    except ValueError:
        with pytest.raises(ValueError):
            T.canonical_decimal(value, bound=bound)
        return
    got = T.canonical_decimal(value, bound=bound)
    assert type(got) is Decimal
    assert got == want
    assert got.as_tuple() == want.as_tuple()  # sign, every digit, exponent
    assert str(got) == str(want) and format(got, "f") == format(want, "f")


digits = st.text(alphabet="0123456789", min_size=1, max_size=70)
decimals = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.builds(
        lambda sign, ds, exp: Decimal((sign, tuple(int(c) for c in ds), exp)),
        st.integers(0, 1),
        digits,
        st.integers(-120, 40),
    ),
    # around MAX_PLACES with a plain str(): 30-45 digits, exponent -38..-44
    st.builds(
        lambda sign, ds, exp: Decimal((sign, tuple(int(c) for c in ds), exp)),
        st.integers(0, 1),
        st.text(alphabet="0123456789", min_size=30, max_size=45),
        st.integers(-44, -38),
    ),
    st.sampled_from(
        [
            Decimal("NaN"),
            Decimal("-NaN"),
            Decimal("sNaN"),
            Decimal("Infinity"),
            Decimal("-Infinity"),
            Decimal("-0"),
            Decimal("0E-50"),
            Decimal("0E+7"),
            Decimal("1E+15"),
            Decimal("-1E+15"),
            Decimal("999999999999999.999999"),
            Decimal("-999999999999999"),
            Decimal("1E-7"),
            Decimal("1.5E-40"),
            Decimal("1E-40"),
            Decimal("1E-41"),
            Decimal("0." + "1" * 40),
            Decimal("0." + "1" * 41),
            Decimal("-7." + "2" * 41),
            Decimal("0.000001" + "3" * 35),
            Decimal("1E+999999"),
            Decimal("1E-999999"),
            Decimal(1) / 3,
            Decimal("0.0001") / 7,
            Decimal("12345.6") / 7,
        ]
    ),
)
bounds = st.sampled_from(
    [T.MAX_MAGNITUDE, Decimal("1e15"), Decimal(1), Decimal("0.5"), Decimal("1e20")]
)


@settings(max_examples=3000, deadline=None)
@given(value=decimals, bound=bounds)
@example(value=Decimal("1E+15"), bound=T.MAX_MAGNITUDE)
@example(value=Decimal("0.00000012345678901234567890123456789012345678"), bound=T.MAX_MAGNITUDE)
def test_the_fast_path_equals_the_general_path(value: Decimal, bound: Decimal) -> None:
    same(value, bound)


@settings(max_examples=300, deadline=None)
@given(value=decimals)
def test_the_same_under_a_context_that_writes_a_lowercase_e(value: Decimal) -> None:
    with decimal.localcontext() as ctx:
        ctx.capitals = 0
        same(value)


def test_the_fast_path_returns_the_very_object_when_it_is_already_canonical() -> None:
    third = Decimal("0.0001") / 3  # 28 digits, exponent -32
    assert T.canonical_decimal(third) is third
    assert T.canonical_decimal(Decimal("1E+3")).as_tuple() == Decimal("1000").as_tuple()
    assert str(T.canonical_decimal(Decimal("1.23E-7"))) == "1.23E-7"  # exponent -9 kept
    with pytest.raises(ValueError):
        T.canonical_decimal(Decimal("1E+15"))
    with pytest.raises(ValueError):
        T.canonical_decimal(Decimal("NaN"))
