"""Non-neural and simple neural baselines.

MissForest for tables; for sequences, the baselines of the NAOMI paper: linear interpolation, the
nearest training sequences (KNN) and a forward-only autoregressive GRU. The paper's SingleRes
baseline is :class:`~skimpute.NAOMISequenceImputer` with ``n_resolutions=1``.
"""

from skimpute.baselines._autoregressive import AutoregressiveGRUImputer
from skimpute.baselines._missforest import MissForestImputer
from skimpute.baselines._sequences import KNNSequenceImputer, LinearInterpolationImputer

__all__ = [
    "AutoregressiveGRUImputer",
    "KNNSequenceImputer",
    "LinearInterpolationImputer",
    "MissForestImputer",
]
