"""NAOMI: non-autoregressive multiresolution imputation of long sequences.

Liu, Yu, Zheng, Zhan & Yue, "NAOMI: Non-Autoregressive Multiresolution Sequence Imputation",
NeurIPS 2019.
"""

from skimpute.naomi._estimator import NAOMISequenceImputer
from skimpute.naomi._module import (
    NAOMIModule,
    TrajectoryDiscriminator,
    imputation_order,
    max_resolutions,
)
from skimpute.naomi._net import NAOMINet

__all__ = [
    "NAOMIModule",
    "NAOMINet",
    "NAOMISequenceImputer",
    "TrajectoryDiscriminator",
    "imputation_order",
    "max_resolutions",
]
