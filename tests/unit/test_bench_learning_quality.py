"""The learning-quality bench's own arithmetic: weight dispersion, ledger-style forward excess, 2023-only cutoffs."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "bench" / "learning_quality.py"
_spec = importlib.util.spec_from_file_location("learning_quality", _PATH)
assert _spec is not None and _spec.loader is not None
lq = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lq)


def test_dispersion_is_one_over_n_for_equal_weights_and_one_for_a_single_ticker() -> None:
    n = len(lq.TICKERS)
    equal = np.full((3, n), 0.9 / n)  # 10% cash does not change the HHI of the invested part
    assert lq.weight_dispersion(equal) == pytest.approx((1 / n, 0.9 / n))
    single = np.zeros((2, n))
    single[:, 2] = 0.5
    assert lq.weight_dispersion(single) == pytest.approx((1.0, 0.5))


def test_forward_excess_marks_orders_like_the_ledger() -> None:
    n = len(lq.TICKERS)
    r = np.linspace(-0.02, 0.03, n)
    tilt = np.full(n, 1 / n) + np.linspace(-0.05, 0.05, n)
    rows = [
        {"order": [1 / n] * n, "fwd_returns": r.tolist(), "cost_rate": 0.001},  # 1/N bought from cash
        {"order": tilt.tolist(), "fwd_returns": r.tolist(), "cost_rate": 0.001},  # tilted towards the winners
    ]
    first, second = lq.forward_excess(rows)
    assert first == pytest.approx(-1.0 * 0.001)  # 1/N earns its own 1/N, minus buying in
    turnover = np.abs(tilt - 1 / n).sum()
    assert second == pytest.approx(tilt @ r - turnover * 0.001 - tilt.sum() * r.mean())
    assert second > 0


def test_cutoffs_never_reach_2024() -> None:
    weeks = lq.cutoffs(dt.date(2023, 12, 10), 3)
    assert weeks[-1] == dt.date(2023, 12, 24)
    with pytest.raises(SystemExit, match="2024"):
        lq.cutoffs(dt.date(2023, 12, 10), 4)
    assert lq.t_stat([1.0, 1.0]) != lq.t_stat([1.0, 1.0])  # NaN without dispersion
    assert lq.t_stat([1.0, 2.0, 3.0]) == pytest.approx(2.0 / (1.0 / np.sqrt(3)))


def test_base_variant_is_the_plain_env_whatever_the_preset_sets() -> None:
    from autotest_lib.config import EnvConfig, load_preset

    env = load_preset("recommended").env.model_copy(update={"obs_norm": True, "reward_scale": 100.0, "action_scale": 20.0})
    base = lq.baseline_env(env)
    assert (base.obs_norm, base.reward_scale, base.action_scale, base.reward_mode) == (False, 1.0, EnvConfig().action_scale, "log")
    assert base.max_tickers == env.max_tickers


def test_every_variant_builds_a_valid_env_and_ppo() -> None:
    from autotest_lib.config import load_preset

    preset = load_preset("recommended")
    built = {name: lq.variant_configs(preset, options) for name, options in lq.VARIANTS.items()}
    assert built["big_net"][1].net_arch == (256, 256) and built["base"][1] == preset.ppo
    assert built["ensemble3"][2] == 3 and built["scaled_conv"][2] == 1
    assert built["short_ep"][0].episode_length == 63 and built["scaled_conv"][0].obs_norm
    with pytest.raises(ValueError):
        lq.variant_configs(preset, {"ppo": {"net_arch": ()}})
    with pytest.raises(ValueError):
        lq.variant_configs(preset, {"no_such_option": 1})
