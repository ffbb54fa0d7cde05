"""``dnnx.tabular``: a table in, one model file with its preprocessing out.

    >>> from dnnx import tabular
    >>> table = tabular.read_table("customers.csv")          # {column: array}, no pandas
    >>> tm = tabular.TabularModel.build(table, target="churned")
    >>> tm.fit(table)                                         # {"accuracy": ..., "log_loss": ..., "auc": ...}
    >>> tm.save("churn.dnnx")
    >>> labels, probabilities = tabular.TabularModel.load("churn.dnnx").predict(table)

The saved file is an ordinary dnnx model: ``dnnx.load_model("churn.dnnx").predict({column:
raw values})`` works too (see ``_model`` for what the model holds).
"""

from ._io import Table, TableError, iter_table, read_table, write_csv
from ._model import DEFAULTS, TabularModel, detect_task, roc_auc

__all__ = ["DEFAULTS", "Table", "TableError", "TabularModel", "detect_task", "iter_table", "read_table", "roc_auc",
           "write_csv"]
