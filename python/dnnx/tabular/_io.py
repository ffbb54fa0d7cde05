"""Reading tables without pandas: CSV and TSV (the csv module), NPZ (NumPy), Parquet
(pyarrow, when installed). A table is a dict ``{column name: 1-D array}``: numbers as float64
(NaN where missing), text as a NumPy unicode array ("" where missing).

``read_table`` loads a whole file; ``iter_table`` yields it in chunks of rows (CSV, TSV and
Parquet are streamed, so a file larger than memory can be predicted on).
"""

from __future__ import annotations

import csv
import os
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

Table = Dict[str, np.ndarray]
MISSING = ("", "na", "nan", "n/a", "null", "none", "?")  # compared case-insensitively, stripped


class TableError(ValueError):
    """A problem with the user's table or arguments: the command line prints it as one line."""


def _kind(path: str) -> str:
    low = path.lower()
    for ext, kind in ((".csv", "csv"), (".tsv", "tsv"), (".tab", "tsv"), (".txt", "csv"), (".npz", "npz"),
                      (".parquet", "parquet"), (".pq", "parquet"), (".csv.gz", "csv"), (".tsv.gz", "tsv")):
        if low.endswith(ext):
            return kind
    raise TableError(f"{path}: unknown table format (expected .csv, .tsv, .npz or .parquet)")


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise TableError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise TableError(f"{path}: not a file")


def missing_mask(values: np.ndarray) -> np.ndarray:
    low = np.char.lower(np.char.strip(values.astype(str)))
    return np.isin(low, MISSING)


def parse_numbers(values: np.ndarray, column: str, first_row: int = 0) -> np.ndarray:
    """Text to float64 (missing markers to NaN); an unparseable value is a TableError naming
    the column, the row and the value."""
    miss = missing_mask(values)
    text = np.where(miss, "nan", np.char.strip(values.astype(str)))
    try:
        return text.astype(np.float64)
    except ValueError:
        pass
    out = np.empty(len(text), np.float64)
    for i, v in enumerate(text):
        try:
            out[i] = float(v)
        except ValueError:
            raise TableError(f"column {column!r}, row {first_row + i + 1}: cannot parse {str(values[i])!r} as a "
                             f"number") from None
    return out


def infer_column(values: np.ndarray, column: str) -> np.ndarray:
    """A text column as numbers when its values are numbers, else as text ("" for missing).
    Mostly numbers with a few that are not is an error (a typo, not a category)."""
    miss = missing_mask(values)
    text = np.char.strip(values.astype(str))
    present = text[~miss]
    if present.size == 0:
        return np.full(len(values), np.nan)
    try:
        nums = np.where(miss, "nan", text).astype(np.float64)
        return nums
    except ValueError:
        pass
    ok = np.array([_is_number(v) for v in present])
    if ok.mean() >= 0.5:
        bad = int(np.flatnonzero(~miss)[np.flatnonzero(~ok)[0]])
        raise TableError(f"column {column!r}, row {bad + 1}: cannot parse {str(values[bad])!r} as a number (most of "
                         f"the column's values are numbers)")
    return np.where(miss, "", text)


def _is_number(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _open_text(path: str):
    if path.lower().endswith(".gz"):
        import gzip
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    return open(path, newline="", encoding="utf-8")


def _csv_chunks(path: str, delimiter: str, chunk_rows: Optional[int]) -> Iterator[tuple]:
    with _open_text(path) as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise TableError(f"{path}: the file is empty (expected a header row of column names)") from None
        except (csv.Error, UnicodeDecodeError) as e:
            raise TableError(f"{path}: not a readable {'TSV' if delimiter == chr(9) else 'CSV'} file ({e})") from None
        header = [h.strip() for h in header]
        if len(set(header)) != len(header) or any(not h for h in header):
            raise TableError(f"{path}: the header must name every column once; found {header}")
        rows: List[List[str]] = []
        first = 0
        try:
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(header):
                    raise TableError(f"{path}, line {line}: {len(row)} fields; the header has {len(header)}")
                rows.append(row)
                if chunk_rows is not None and len(rows) >= chunk_rows:
                    yield header, rows, first
                    first += len(rows)
                    rows = []
        except (csv.Error, UnicodeDecodeError) as e:
            raise TableError(f"{path}: not a readable CSV/TSV file ({e})") from None
        if rows or first == 0:
            yield header, rows, first


def _columns(header: List[str], rows: List[List[str]]) -> Dict[str, np.ndarray]:
    if not rows:
        return {h: np.array([], dtype=str) for h in header}
    cols = np.array(rows, dtype=str).T
    return {h: cols[i] for i, h in enumerate(header)}


def _npz(path: str) -> Table:
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = {k: z[k] for k in z.files}
    except ValueError as e:
        raise TableError(f"{path}: not a readable NPZ table of columns ({e})") from None
    except (OSError, EOFError) as e:
        raise TableError(f"{path}: not a readable NPZ file ({e})") from None
    if not raw:
        raise TableError(f"{path}: the NPZ file holds no arrays")
    out = {}
    n = None
    for k, a in raw.items():
        if a.ndim != 1:
            raise TableError(f"{path}: array {k!r} must be one column (1-D); found shape {a.shape}")
        if n is not None and len(a) != n:
            raise TableError(f"{path}: all columns must have the same length; {k!r} has {len(a)}, others {n}")
        n = len(a)
        if a.dtype.kind in "US":
            out[k] = a.astype(str)
        elif a.dtype.kind in "fiub":
            out[k] = a.astype(np.float64)
        else:
            raise TableError(f"{path}: column {k!r} has unsupported dtype {a.dtype}")
    return out


def _arrow_columns(batch) -> Table:
    import pyarrow as pa
    out = {}
    for name, col in zip(batch.schema.names, batch.columns):
        t = col.type
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
            out[name] = np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64)
        else:
            vals = col.cast(pa.string()).to_pylist()
            out[name] = np.array(["" if v is None else v for v in vals], dtype=str)
    return out


def _pyarrow(path: str):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise TableError(f"{path}: reading Parquet needs pyarrow (pip install 'dnnx[tabular]')") from None
    try:
        return pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises its own error types for a bad file
        raise TableError(f"{path}: not a readable Parquet file ({e})") from None


def _text_table(raw: Dict[str, np.ndarray], infer: bool, first_row: int = 0,
                numeric: Optional[Sequence[str]] = None) -> Table:
    out = {}
    for k, v in raw.items():
        if infer:
            out[k] = infer_column(v, k)
        elif numeric is not None and k in numeric:
            out[k] = parse_numbers(v, k, first_row)
        else:
            out[k] = v
    return out


def read_table(path: str) -> Table:
    """The whole table, with each column's type inferred (numbers or text)."""
    path = os.fspath(path)
    _check_file(path)
    kind = _kind(path)
    if kind == "npz":
        return _npz(path)
    if kind == "parquet":
        try:
            return _arrow_columns(_pyarrow(path).read())
        except TableError:
            raise
        except Exception as e:
            raise TableError(f"{path}: not a readable Parquet file ({e})") from None
    header, rows, _ = next(_csv_chunks(path, "\t" if kind == "tsv" else ",", None))
    return _text_table(_columns(header, rows), infer=True)


def iter_table(path: str, chunk_rows: int, numeric: Sequence[str]) -> Iterator[Table]:
    """The table in chunks of at most ``chunk_rows`` rows; the columns in ``numeric`` are
    parsed as numbers (an unparseable value is a TableError), the others kept as text."""
    path = os.fspath(path)
    _check_file(path)
    kind = _kind(path)
    if kind == "npz":
        t = _npz(path)
        n = len(next(iter(t.values())))
        for s in range(0, max(n, 1), chunk_rows):
            yield {k: v[s:s + chunk_rows] for k, v in t.items()}
        return
    if kind == "parquet":
        f = _pyarrow(path)
        for batch in f.iter_batches(batch_size=chunk_rows):
            yield _arrow_columns(batch)
        return
    for header, rows, first in _csv_chunks(path, "\t" if kind == "tsv" else ",", chunk_rows):
        yield _text_table(_columns(header, rows), infer=False, first_row=first, numeric=numeric)


def write_csv(path: str, header: Sequence[str], columns: Sequence[np.ndarray], append: bool) -> None:
    """Append rows (one per entry of the columns) to a CSV file; floats with 9 significant
    digits (float32 round-trips)."""
    cols = []
    for c in columns:
        c = np.asarray(c)
        if c.dtype.kind == "f":
            cols.append([f"{v:.9g}" for v in c.tolist()])
        else:
            cols.append([str(v) for v in c.tolist()])
    with open(path, "a" if append else "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if not append:
            w.writerow(header)
        w.writerows(zip(*cols))
