"""Explorer sampling and PBT perturbation over the declared search space (pure, no SB3)."""

from __future__ import annotations

import numpy as np
import pytest

from autotest_lib.config import SearchSpace, load_preset
from autotest_lib.train.search_space import SEARCHED, hyperparameter_diff, perturb_hyperparameters, sample_hyperparameters

PRESET = load_preset("recommended")
SPACE = PRESET.search_space


def test_sampling_is_seeded_and_inside_the_space() -> None:
    a = [sample_hyperparameters(SPACE, PRESET.ppo, np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1]
    draws = [sample_hyperparameters(SPACE, PRESET.ppo, np.random.default_rng(s)) for s in range(200)]
    for p in draws:
        assert SPACE.learning_rate.low <= p.learning_rate <= SPACE.learning_rate.high
        assert SPACE.gamma.low <= p.gamma <= SPACE.gamma.high
        assert p.n_steps in SPACE.n_steps and p.batch_size in SPACE.batch_size
        assert p.net_arch in SPACE.net_arch
        assert p.batch_size <= p.n_steps * p.n_envs
        assert p.n_epochs == PRESET.ppo.n_epochs  # not searched: from the preset
    # log-uniform learning rate: about half the draws fall below the geometric midpoint
    mid = np.sqrt(SPACE.learning_rate.low * SPACE.learning_rate.high)
    share = np.mean([p.learning_rate < mid for p in draws])
    assert 0.35 < share < 0.65
    assert len({p.learning_rate for p in draws}) == 200


def test_perturb_scales_by_08_or_12_and_clips() -> None:
    base = PRESET.ppo.model_copy(update={"learning_rate": 3e-4, "gamma": 0.97, "clip_range": 0.2, "ent_coef": 1e-3})
    seen = set()
    for s in range(50):
        p = perturb_hyperparameters(base, SPACE, np.random.default_rng(s))
        for name in ("learning_rate", "clip_range", "ent_coef"):
            ratio = getattr(p, name) / getattr(base, name)
            assert ratio == pytest.approx(0.8) or ratio == pytest.approx(1.2), name
            seen.add(round(ratio, 3))
        assert SPACE.gamma.low <= p.gamma <= SPACE.gamma.high  # 0.97 * 1.2 is clipped to 0.999
        assert p.net_arch == base.net_arch
        assert p.batch_size <= p.n_steps * p.n_envs
    assert seen == {0.8, 1.2}


def test_perturb_moves_discrete_choices_to_a_neighbour() -> None:
    space = SearchSpace(n_steps=(64, 128, 256), batch_size=(64, 128))
    base = PRESET.ppo.model_copy(update={"n_steps": 128, "batch_size": 128})
    got = {perturb_hyperparameters(base, space, np.random.default_rng(s)).n_steps for s in range(40)}
    assert got == {64, 256}


def test_resample_probability_one_draws_from_the_space() -> None:
    base = PRESET.ppo
    p = perturb_hyperparameters(base, SPACE, np.random.default_rng(0), resample_probability=1.0)
    ratios = {round(p.learning_rate / base.learning_rate, 6)}
    assert ratios - {0.8, 1.2}, "with resampling the rate is a fresh draw, not a x0.8/x1.2 step"


def test_diff_lists_changed_fields_only() -> None:
    new = PRESET.ppo.model_copy(update={"learning_rate": 1e-4})
    assert hyperparameter_diff(PRESET.ppo, new) == {"learning_rate": [PRESET.ppo.learning_rate, 1e-4]}
    assert hyperparameter_diff(None, new) == {}
    assert set(SEARCHED) <= set(PRESET.ppo.model_dump())
