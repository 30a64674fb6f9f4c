"""Column tables with units, written as Parquet (pyarrow) or CSV.

A :class:`Table` is an ordered mapping of column name to a 1-D numpy array
plus the unit of each column. :func:`write_table` writes Parquet when pyarrow
is installed (units in the schema: per-field metadata ``unit`` and a
table-level ``somacore.units`` JSON entry) and CSV otherwise (units in a
``# units:`` comment line above the header). pyarrow is imported only here and
only when a table is written.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Table", "choose_format", "read_table", "write_table"]


@dataclass
class Table:
    """Named columns of equal length, with units and a description.

    Attributes
    ----------
    name : str
        File stem (``beats``, ``breaths``, ``windows``, ``episodes``...).
    columns : dict of str to ndarray
        Columns in order.
    units : dict of str to str
        Unit per column (``""`` when dimensionless).
    description : str
        One line written into the file metadata.
    """

    name: str
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def __len__(self) -> int:
        return 0 if not self.columns else int(next(iter(self.columns.values())).shape[0])

    def add(self, name: str, values, unit: str = "") -> None:
        """Append a column."""
        self.columns[name] = np.asarray(values)
        self.units[name] = unit

    @staticmethod
    def concat(name: str, parts: list[Table], description: str = "") -> Table:
        """Row-wise concatenation of tables with the same columns."""
        parts = [p for p in parts if p.columns]
        out = Table(name, description=description)
        if not parts:
            return out
        for col in parts[0].columns:
            out.add(col, np.concatenate([p.columns[col] for p in parts]), parts[0].units[col])
        return out


def choose_format(requested: str = "auto") -> str:
    """``"parquet"`` if requested or available (``"auto"``), else ``"csv"``."""
    have = importlib.util.find_spec("pyarrow") is not None
    if requested == "parquet" and not have:
        raise ValueError("tables.format=parquet needs pyarrow: pip install pyarrow "
                         "(or somacore[report]), or use tables.format=csv")
    if requested == "csv":
        return "csv"
    return "parquet" if have else "csv"


def write_table(table: Table, folder: Path, fmt: str) -> Path:
    """Write ``table`` into ``folder`` as ``<name>.parquet`` or ``<name>.csv``."""
    folder = Path(folder)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        fields, arrays = [], []
        for col, v in table.columns.items():
            arr = pa.array(v.tolist() if v.dtype.kind in "OU" else v)
            fields.append(pa.field(col, arr.type, metadata={"unit": table.units.get(col, "")}))
            arrays.append(arr)
        schema = pa.schema(fields, metadata={
            "somacore.units": json.dumps(table.units),
            "somacore.description": table.description,
        })
        path = folder / f"{table.name}.parquet"
        pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)
        return path
    path = folder / f"{table.name}.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write(f"# {table.description}\n" if table.description else "")
        fh.write("# units: " + ", ".join(f"{c}={u or '-'}" for c, u in table.units.items())
                 + "\n")
        w = csv.writer(fh)
        w.writerow(list(table.columns))
        cols = list(table.columns.values())
        for i in range(len(table)):
            w.writerow([_fmt(c[i]) for c in cols])
    return path


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if not math.isfinite(float(v)) else repr(float(v))
    if isinstance(v, (np.bool_, bool)):
        return "true" if v else "false"
    return str(v.item() if isinstance(v, np.generic) else v)


def read_table(path: str | Path) -> dict[str, np.ndarray]:
    """Read a table written by :func:`write_table` back into numpy columns (for tests)."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        t = pq.read_table(path)
        return {c: t.column(c).to_numpy(zero_copy_only=False) for c in t.column_names}
    with open(path, encoding="utf-8") as fh:
        rows = [ln for ln in fh.read().splitlines() if not ln.startswith("#")]
    r = list(csv.reader(rows))
    header, body = r[0], r[1:]
    out = {}
    for j, c in enumerate(header):
        vals = [row[j] for row in body]
        try:
            out[c] = np.array([float(v) if v != "" else np.nan for v in vals])
        except ValueError:
            out[c] = np.array(vals, dtype=object)
    return out
