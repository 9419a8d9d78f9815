"""Sweep helpers: the parameter grid and the walk-forward splits (pure)."""

from decimal import Decimal as D

import pytest

from streams import sweep

H = 3_600_000


def test_grid_is_the_cartesian_product_in_key_order_and_validated() -> None:
    grid = sweep.parse_params(["forecast.half_life_h=24,72", "entry.min_net_apr=0.1,0.2"])
    cands = sweep.candidates({}, grid)
    assert [c for c, _ in cands] == [
        {"entry.min_net_apr": "0.1", "forecast.half_life_h": "24"},
        {"entry.min_net_apr": "0.1", "forecast.half_life_h": "72"},
        {"entry.min_net_apr": "0.2", "forecast.half_life_h": "24"},
        {"entry.min_net_apr": "0.2", "forecast.half_life_h": "72"},
    ]
    assert cands[3][1].forecast.half_life_h == D(72) and cands[3][1].entry.min_net_apr == D("0.2")
    picked = sweep.candidates({}, grid, sample=2, seed=7)
    assert picked == sweep.candidates({}, grid, sample=2, seed=7) and len(picked) == 2
    with pytest.raises(ValueError, match="half_life_h"):
        sweep.candidates({}, sweep.parse_params(["forecast.half_life_h=-1"]))
    with pytest.raises(ValueError, match="KEY=V1"):
        sweep.parse_params(["entry.min_net_apr"])


def test_walk_forward_splits_roll_and_train_until_adds_one() -> None:
    splits = sweep.walk_forward(0, 90 * H, 2, train_until=60 * H)
    assert [(s.train, s.test) for s in splits] == [
        ((0, 30 * H), (30 * H, 60 * H)),
        ((30 * H, 60 * H), (60 * H, 90 * H)),
        ((0, 60 * H), (60 * H, 90 * H)),
    ]
    assert sweep.walk_forward(0, 90 * H, 0, train_until=100 * H) == []
