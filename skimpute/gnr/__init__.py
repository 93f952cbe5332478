"""GNR: deep generative imputation of values missing not at random with a conjunction model.

Chen, Xu, Wang & Yang, "Deep generative imputation model for missing not at random data",
CIKM 2023.
"""

from skimpute.gnr._estimator import GNRImputer

__all__ = ["GNRImputer"]
