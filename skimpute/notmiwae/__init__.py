"""not-MIWAE: deep generative imputation of values missing not at random.

Ipsen, Mattei & Frellsen, "not-MIWAE: Deep generative modelling with missing not at random
data", ICLR 2021.
"""

from skimpute.notmiwae._estimator import NotMIWAEImputer

__all__ = ["NotMIWAEImputer"]
