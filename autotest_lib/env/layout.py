"""Where each number sits in the observation vector, so a model trained on few tickers continues on more.

The observation is one flat ``float32`` vector of fixed width ``obs_dim``. With ``M = max_tickers`` ticker
slots and ``F = len(FEATURE_CATALOGUE)`` feature slots per ticker it holds four blocks, in this order::

    offset                 length   block      content at day index t
    0                      M * F    features   features[t] of slot 0, then slot 1, ... (row-major: slot, feature)
    M * F                  M        weights    current (drifted) weight of each ticker slot, in [0, 1]
    M * F + M              M        mask       1.0 if the slot's ticker is tradable at t, else 0.0
    M * F + 2 * M          1        cash       current cash weight, in [0, 1]

    obs_dim = M * F + 2 * M + 1

- Slot ``i < N`` holds the model's ``i``-th ticker (the order of ``MarketData.tickers``); slots ``N .. M-1``
  are all zeros (features, weight and mask), so the same network reads a 5-ticker and a 30-ticker model.
- Within a slot, feature ``j`` is ``FEATURE_CATALOGUE[j]``; slots outside the market's feature set are 0.
  The catalogue only ever grows at its end, so a stored model's layout stays valid.
- ``features[t]`` uses data up to and including day ``t``'s close, never ``t + 1``.
- Weights and cash are the portfolio just before the action at ``t``: yesterday's target weights drifted by
  the day's returns. They sum to 1. At an episode's first step the portfolio is all cash.

The action has ``M + 1`` entries: one per ticker slot, then cash (see :mod:`autotest_lib.env.portfolio`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ObservationLayout"]


@dataclass(frozen=True)
class ObservationLayout:
    """Offsets and slices of the four observation blocks for ``max_tickers`` slots of ``n_features`` each.

    :param max_tickers: ticker slots ``M`` (``EnvConfig.max_tickers``).
    :param n_features: feature slots ``F`` per ticker (``len(FEATURE_CATALOGUE)``).

    >>> lay = ObservationLayout(max_tickers=2, n_features=3)
    >>> lay.obs_dim, lay.features, lay.weights, lay.mask, lay.cash_index
    (11, slice(0, 6, None), slice(6, 8, None), slice(8, 10, None), 10)
    """

    max_tickers: int
    n_features: int

    def __post_init__(self) -> None:
        if self.max_tickers < 1 or self.n_features < 0:
            raise ValueError(f"ObservationLayout needs max_tickers >= 1 and n_features >= 0, got {self.max_tickers} and {self.n_features}")

    @property
    def feature_dim(self) -> int:
        """Length of the features block, ``M * F``."""
        return self.max_tickers * self.n_features

    @property
    def weights_offset(self) -> int:
        """Offset of the weights block."""
        return self.feature_dim

    @property
    def mask_offset(self) -> int:
        """Offset of the tradable-mask block."""
        return self.feature_dim + self.max_tickers

    @property
    def cash_index(self) -> int:
        """Index of the cash weight (the last entry)."""
        return self.feature_dim + 2 * self.max_tickers

    @property
    def obs_dim(self) -> int:
        """Total width, ``M * F + 2 * M + 1``."""
        return self.cash_index + 1

    @property
    def features(self) -> slice:
        """Slice of the features block."""
        return slice(0, self.feature_dim)

    @property
    def weights(self) -> slice:
        """Slice of the ticker weights block."""
        return slice(self.weights_offset, self.mask_offset)

    @property
    def mask(self) -> slice:
        """Slice of the tradable-mask block."""
        return slice(self.mask_offset, self.cash_index)

    @property
    def cash(self) -> slice:
        """Slice (length 1) of the cash weight."""
        return slice(self.cash_index, self.obs_dim)

    def feature_index(self, slot: int, feature: int) -> int:
        """Position of feature ``feature`` of ticker slot ``slot`` in the observation.

        :param slot: ticker slot, ``0 <= slot < max_tickers``.
        :param feature: feature slot, ``0 <= feature < n_features``.
        """
        if not (0 <= slot < self.max_tickers and 0 <= feature < self.n_features):
            raise IndexError(f"slot={slot}, feature={feature} outside a layout of {self.max_tickers} x {self.n_features}")
        return slot * self.n_features + feature

    def describe(self) -> dict[str, tuple[int, int]]:
        """``{block: (offset, length)}`` for logs and the model manifest."""
        m = self.max_tickers
        return {
            "features": (0, self.feature_dim),
            "weights": (self.weights_offset, m),
            "mask": (self.mask_offset, m),
            "cash": (self.cash_index, 1),
        }
