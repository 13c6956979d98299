"""Presets: the weekly compute split, validation errors that name the field and value, overrides."""

from __future__ import annotations

import pytest

from autotest_lib.cli import main
from autotest_lib.config import budget_split, list_presets, load_preset, scaled
from autotest_lib.errors import ConfigError


def test_recommended_split_is_22_5m_10m_3m() -> None:
    split = budget_split(load_preset("recommended"))
    assert [(r[0], r[1], r[2], r[3]) for r in split.rows] == [
        ("explorer", 15, 1_500_000, 22_500_000),
        ("refiner", 5, 2_000_000, 10_000_000),
        ("champion", 1, 3_000_000, 3_000_000),
    ]
    assert split.total == 35_500_000
    assert {k: round(v * 100, 1) for k, v in split.shares().items()} == {"explorer": 63.4, "refiner": 28.2, "champion": 8.5}
    text = split.table()
    for expected in ("35.5M", "22.5M", "10M", "3M", "63.4%", "28.2%", "8.5%"):
        assert expected in text


def test_every_preset_validates_with_its_documented_budget() -> None:
    assert set(list_presets()) >= {"demo", "phase1", "recommended", "aggressive"}
    totals = {name: load_preset(name).total_timesteps for name in ("phase1", "recommended", "aggressive")}
    assert totals == {"phase1": 30_000_000, "recommended": 35_500_000, "aggressive": 30_000_000}
    rec = load_preset("recommended")
    assert (rec.refiners.lr_multiplier, rec.refiners.lr_schedule) == (0.5, "constant")
    assert (rec.champion.lr_multiplier, rec.champion.lr_schedule) == (0.3, "constant")
    assert (rec.explorers.lr_schedule, rec.ppo.learning_rate) == ("linear", 3e-4)
    assert rec.windows.recent_fraction == 0.7 and rec.rollback_threshold == 0.10
    assert rec.pbt.population == 20 and rec.pbt.interval_steps == 500_000 and rec.pbt.quantile == 0.2


def test_bad_values_name_the_field_and_the_value() -> None:
    with pytest.raises(ConfigError, match=r"explorers\.count=-1"):
        load_preset("demo", {"explorers": {"count": -1}})
    with pytest.raises(ConfigError, match=r"ppo=.*batch_size=100000 exceeds the rollout n_steps\*n_envs=512"):
        load_preset("demo", {"ppo": {"batch_size": 100_000}})
    with pytest.raises(ConfigError, match=r"env\.cost_bps='lots'"):
        load_preset("demo", {"env": {"cost_bps": "lots"}})
    with pytest.raises(ConfigError, match=r"surprise"):
        load_preset("demo", {"surprise": 1})
    with pytest.raises(ConfigError, match=r"unknown preset 'huge'.*available: .*recommended"):
        load_preset("huge")


def test_bad_yaml_file_is_reported(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("explorers: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_preset(bad)


def test_overrides_and_scale() -> None:
    p = load_preset("recommended", {"explorers": {"count": 5}})
    assert p.explorers.count == 5 and p.explorers.timesteps == 1_500_000
    half = scaled(p, 0.5)
    assert (half.explorers.timesteps, half.refiners.timesteps, half.champion.timesteps) == (750_000, 1_000_000, 1_500_000)


def test_cli_budget(capsys) -> None:
    assert main(["budget", "recommended"]) == 0
    out = capsys.readouterr().out
    assert "63.4%" in out and "28.2%" in out and "8.5%" in out
    assert main(["budget", "recommended", "--json"]) == 0
    assert '"total": 35500000' in capsys.readouterr().out
