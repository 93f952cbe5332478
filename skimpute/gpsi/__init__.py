"""GPSI: imputation by guided policy search, an iterative refinement policy.

Bachman & Precup, "Data generation as sequential decision making", NIPS 2015
(arXiv:1506.03504), section 3.
"""

from skimpute.gpsi._estimator import GPSIImputer

__all__ = ["GPSIImputer"]
