"""The named states and kinds of AUTOTEST: model status, role, week status, lineage event kind, paper pick kind.

Each is a :class:`~enum.StrEnum`, so a member is stored, compared and serialised as its plain string value
(``ModelStatus.ACTIVE == "active"``). The registry re-exports them; this module imports nothing heavy."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["EventKind", "ModelStatus", "PaperStatus", "PickKind", "Role", "WeekStatus"]


class Role(StrEnum):
    """How a model came to be."""

    EXPLORER = "explorer"
    """A new model with sampled hyperparameters."""
    REFINER = "refiner"
    """One of last week's top models, continued."""
    CHAMPION = "champion"
    """The best model so far, continued."""
    PBT = "pbt"
    """A population-based-training member version."""


class ModelStatus(StrEnum):
    """Life cycle of a model: planned -> active (bundle written) -> archived (kept) / retired (pruned); rolled_back, failed."""

    PLANNED = "planned"
    ACTIVE = "active"
    ARCHIVED = "archived"
    RETIRED = "retired"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"

    @classmethod
    def untrained(cls) -> tuple[ModelStatus, ...]:
        """States of a model with no usable training this week (to train, or failed)."""
        return (cls.PLANNED, cls.FAILED)


class WeekStatus(StrEnum):
    """Life cycle of a weekly run."""

    PLANNED = "planned"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class EventKind(StrEnum):
    """Kinds of lineage events."""

    PROMOTION = "promotion"
    """A curriculum model promoted to the next stage (planned)."""
    ROLLBACK = "rollback"
    """A continued model worse than its parent, rolled back."""
    ARCHIVE_PRUNE = "archive_prune"
    """A bundle removed from the archive."""
    PAPER_PICK = "paper_pick"
    """The model a week's orders use, the regime and the rule that picked it."""
    SELECTION = "selection"
    """A week's selection (champion, rollbacks, regime pick, archive), recorded once; a re-run replays it."""
    PBT_ROUND = "pbt_round"
    """A completed PBT round (round 0: a population's genesis)."""
    PBT_EXPLOIT = "pbt_exploit"
    """A PBT member replaced by a perturbed copy of a better one."""
    CHAMPION_SLOT = "champion_slot"
    """Which elite champion slot a planned champion continuation fills, its parent and lineage (planned)."""


class PickKind(StrEnum):
    """Which rule chose the model a week's paper orders use."""

    REGIME_BEST = "regime_best"
    """The best model in the current regime."""
    CHAMPION_FALLBACK = "champion_fallback"
    """The champion (no regime pick)."""
    LEADERBOARD_BEST = "leaderboard_best"
    """The week's best model (no champion yet)."""
    UNIVERSE_1N = "universe_1n"
    """No model beat 1/N of its own tickers on validation: 1/N of the universe (option orders_fallback_universe_1n)."""
    HOLD = "hold"
    """The best model on the tickers the account already holds: the pick was not better by the switch margin."""


class PaperStatus(StrEnum):
    """A week of the paper ledger."""

    MARKED = "marked"
    """Its orders were marked to market over the following week."""
    GAP = "gap"
    """It had no orders (a skipped or failed run); the row says why."""
