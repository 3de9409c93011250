"""Migration 5: the standard errors of the drift report's performance estimate.

``drift_report`` gains ``estimated_macro_f1_se`` and ``estimated_accuracy_se``: the sampling error of the day's
estimated drop from the champion's test figure (the day's and the test split's, in quadrature), which the
retrain policy's noise margin grows with. Null for the reports already there (reporting those days again fills
them in; the policy then keeps the spec's fixed margin).
"""

from __future__ import annotations

from factory.resources.migrations._0004_drift_v2 import apply

NAME = "standard errors of the drift report's estimated performance"

__all__ = ["NAME", "apply"]
