"""Non-neural baselines: MissForest for tables (sequence baselines join later)."""

from skimpute.baselines._missforest import MissForestImputer

__all__ = [
    "MissForestImputer",
]
