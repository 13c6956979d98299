"""Curriculum learning: stages of growing difficulty, a promotion rule, and continued training across stages.

- ``stages.py``: each stage's env (:func:`stage_env`), the promotion rule (:func:`check_promotion`), and the
  specs of a new stage-1 model (:func:`new_stage_spec`) and of a promotion (:func:`promotion_spec`: the
  parent's weights continue on a superset of its tickers with the next stage's features and risk terms).
- ``candidates.py``: which curriculum models of a week earned a promotion (:func:`promotable`).

The weekly plan gives :func:`curriculum_slots` of the explorer slots to curriculum models
(``autotest_lib.weekly.plan``); see ``docs/ADAPTATION.md``.
"""

from autotest_lib.curriculum.candidates import Promotable, curriculum_slots, promotable
from autotest_lib.curriculum.stages import (
    PromotionCheck,
    check_promotion,
    draw_stage_tickers,
    new_stage_spec,
    promoted_tickers,
    promotion_spec,
    stage_config,
    stage_env,
)

__all__ = [
    "Promotable",
    "PromotionCheck",
    "check_promotion",
    "curriculum_slots",
    "draw_stage_tickers",
    "new_stage_spec",
    "promotable",
    "promoted_tickers",
    "promotion_spec",
    "stage_config",
    "stage_env",
]
