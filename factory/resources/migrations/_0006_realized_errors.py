"""Migration 6: the standard errors of the drift report's realized performance.

``drift_report`` gains ``realized_macro_f1_se`` and ``realized_accuracy_se``: the sampling error of the realized
figure's drop from the champion's test figure (a bootstrap over the corrected rows and the test split's error,
in quadrature), which the retrain policy's noise margin for the realized figure grows with. Null for the
reports already there (the policy then keeps the binomial error of the feedback rows).
"""

from __future__ import annotations

from factory.resources.migrations._0004_drift_v2 import apply

NAME = "standard errors of the drift report's realized performance"

__all__ = ["NAME", "apply"]
