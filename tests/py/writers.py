#!/usr/bin/env python3
"""Write tables "as other writers do": the same rows through many real writers
and real options (pyarrow, polars, DuckDB, pandas, CSV, NDJSON, Arrow IPC).

    python writers.py MANIFEST.json OUTDIR            # write, print what was written (JSON)
    python writers.py MANIFEST.json OUTDIR --check    # write, then read every file back and compare
    python writers.py --list                          # every variant with what it cannot represent

MANIFEST.json:

    {"tables": [{"name": "t1",
                 "columns": [{"name": "k", "type": "int64"}, {"name": "x", "type": "float64"}],
                 "rows": [[1, 0.5], [2, "NaN"], [null, "-0.0"]]}],
     "variants": ["pyarrow-default", "csv-pyarrow"]}          # optional; default: all

Column types: int32, int64, float64, utf8, bool, date32 ("YYYY-MM-DD"),
timestamp_us ("YYYY-MM-DDTHH:MM:SS[.ffffff]"), decimal(P,S) (a string "12.34").
null is NULL. float64 cells may be JSON numbers or the strings "NaN", "-NaN"
(a NaN with the sign bit set), "inf", "-inf", "-0.0", or "bits:0x7ff8000000000001"
(any IEEE-754 bit pattern).

Every variant writes OUTDIR/<variant>/<table>.<ext>. The printed list has, per
file, the variant's writer and options and `limitations`: the codes (see
LIMITATIONS) of what that file cannot represent of *that* table, so a caller can
skip impossible combinations. `--check` reads each file back (pyarrow and DuckDB
for Parquet; pyarrow.csv and DuckDB for CSV with the manifest's types; DuckDB
for NDJSON; pyarrow for Arrow IPC) and compares it with the manifest, NaN equal to
NaN, after applying exactly the documented degradations of that variant (e.g.
CSV: empty string -> NULL). A check failure means a writer does something not
documented here.

Library use: `to_arrow(table_spec)`, `VARIANTS`, `limitations(variant, table_spec)`,
`write_table(variant, table_spec, outdir)`, `write_all(manifest, outdir)`,
`check_file(entry, table_spec)`.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
import os
import re
import struct
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.feather as pa_feather
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq

# ---------------------------------------------------------------- types & values

CANONICAL_NAN = 0x7FF8000000000000
NEGATIVE_NAN = 0xFFF8000000000000
_DEC = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")


def parse_type(name: str) -> pa.DataType:
    simple = {
        "int32": pa.int32(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "utf8": pa.string(),
        "bool": pa.bool_(),
        "date32": pa.date32(),
        "timestamp_us": pa.timestamp("us"),
    }
    if name in simple:
        return simple[name]
    m = _DEC.match(name)
    if m:
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    raise ValueError(f"unknown column type {name!r}")


def is_decimal(name: str) -> bool:
    return bool(_DEC.match(name))


def decimal_scale(name: str) -> int:
    return int(_DEC.match(name).group(2))


def float_bits(v: Any) -> int:
    """The IEEE-754 bits of a manifest float cell (not NULL)."""
    if isinstance(v, bool):
        raise ValueError(f"not a float: {v!r}")
    if isinstance(v, (int, float)):
        return struct.unpack("<Q", struct.pack("<d", float(v)))[0]
    s = str(v).strip()
    low = s.lower()
    if low == "nan" or low == "+nan":
        return CANONICAL_NAN
    if low == "-nan":
        return NEGATIVE_NAN
    if low.startswith("bits:"):
        return int(low[5:], 16)
    if low in ("inf", "+inf", "infinity"):
        return struct.unpack("<Q", struct.pack("<d", math.inf))[0]
    if low in ("-inf", "-infinity"):
        return struct.unpack("<Q", struct.pack("<d", -math.inf))[0]
    return struct.unpack("<Q", struct.pack("<d", float(s)))[0]


def bits_to_float(b: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def parse_cell(type_name: str, v: Any) -> Any:
    """A manifest cell as the Python value pyarrow takes (floats: see float_bits)."""
    if v is None:
        return None
    if type_name in ("int32", "int64"):
        if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
            raise ValueError(f"not an integer: {v!r}")
        return int(v)
    if type_name == "float64":
        return bits_to_float(float_bits(v))
    if type_name == "utf8":
        if not isinstance(v, str):
            raise ValueError(f"utf8 cell must be a string: {v!r}")
        return v
    if type_name == "bool":
        if not isinstance(v, bool):
            raise ValueError(f"bool cell must be true/false: {v!r}")
        return v
    if type_name == "date32":
        return _dt.date.fromisoformat(v)
    if type_name == "timestamp_us":
        return _dt.datetime.fromisoformat(v.replace(" ", "T"))
    if is_decimal(type_name):
        q = decimal.Decimal(1).scaleb(-decimal_scale(type_name))
        return decimal.Decimal(str(v)).quantize(q)
    raise ValueError(f"unknown column type {type_name!r}")


def column_array(type_name: str, cells: list) -> pa.Array:
    typ = parse_type(type_name)
    if type_name == "float64":
        # Build from the bits so every NaN payload / sign survives exactly.
        mask = np.array([c is None for c in cells], dtype=bool)
        bits = np.array([0 if c is None else float_bits(c) for c in cells], dtype=np.uint64)
        return pa.array(bits.view(np.float64), type=typ, mask=mask if mask.any() else None)
    return pa.array([parse_cell(type_name, c) for c in cells], type=typ)


def validate(spec: dict) -> None:
    names = [c["name"] for c in spec["columns"]]
    if len(set(names)) != len(names):
        raise ValueError(f"table {spec['name']}: duplicate column names")
    for i, r in enumerate(spec["rows"]):
        if len(r) != len(names):
            raise ValueError(f"table {spec['name']}: row {i} has {len(r)} cells, expected {len(names)}")


def to_arrow(spec: dict) -> pa.Table:
    validate(spec)
    cols = spec["columns"]
    arrays = [column_array(c["type"], [r[j] for r in spec["rows"]]) for j, c in enumerate(cols)]
    return pa.Table.from_arrays(arrays, schema=pa.schema([pa.field(c["name"], parse_type(c["type"])) for c in cols]))


def column_cells(spec: dict, j: int) -> list:
    return [r[j] for r in spec["rows"]]


# ---------------------------------------------------------------- limitations

LIMITATIONS = {
    "empty_string_is_null": "an empty string is written as an empty field, which readers take as NULL: NULL and '' cannot be told apart",
    "nan_sign_lost": "every NaN is written as the same text, so a NaN's sign bit / payload is not kept (NaN is still NaN)",
    "nonfinite_to_null": "NaN, inf and -inf are written as JSON null (JSON has no such numbers): they read back as NULL",
    "nonfinite_as_words": "NaN/inf are written as the words nan/NaN/inf/-inf; diffgate (DataFusion) and pyarrow infer Float64, but DuckDB's CSV sniffer infers VARCHAR for such a column",
    "empty_table_untyped": "a table with no rows leaves a header-only CSV / an empty NDJSON file: no column types can be inferred (diffgate exits 2)",
    "all_null_column_untyped": "a column that is NULL (or, in CSV, empty) throughout has no values to infer a type from: diffgate and pyarrow give it the Null type (diffgate compares it as NULLs: 'was always NULL'), DuckDB VARCHAR",
    "utf8_retyped": "a utf8 column whose every value looks like a number, bool, date or timestamp is inferred as that type by type-inferring readers",
    "decimal_as_text": "decimals are written as JSON strings, so readers infer TEXT: compared as strings, no numeric tolerance",
    "decimal_as_float": "decimals are written as plain numbers, so type-inferring CSV readers give Float64 (exact only for binary fractions)",
    "temporal_as_text": "dates and timestamps are written as JSON strings; readers infer TEXT (equality unchanged)",
    "int32_widened": "int32 columns are read back as int64 by type-inferring readers (equality unchanged)",
    "float_integral_as_int": "a float column whose values are all integral is written without a fraction ('1', '-0') and inferred as Int64 (equality unchanged except -0.0 -> 0)",
    "extra_index_column": "the pandas index is stored as an extra column __index_level_0__ (row numbers 0..n-1)",
    "int32_delta_overflow": "DuckDB's PARQUET_VERSION V2 writer stores an int32 column with DELTA_BINARY_PACKED deltas that do not wrap to 32 bits when two consecutive values are 2^31 or more apart; pyarrow then fails to read the column ('Unexpected end of stream: InitBlock EOF') and so does arrow-rs (diffgate exits 2: Parquet error: 'min_delta' too large); DuckDB reads it",
    "blank_line_row": "in a one-column CSV a NULL cell is an empty line; arrow-csv/DataFusion (so diffgate) and pyarrow skip empty lines, so the row is lost (DuckDB's reader keeps it as NULL)",
    "multiline_string": "a string holding a newline is quoted across lines; line-based readers and screens must handle quoted newlines",
}


@dataclass
class Variant:
    name: str
    family: str  # pyarrow | polars | duckdb | pandas | csv | ndjson | ipc
    fmt: str  # parquet | csv | ndjson | arrow
    ext: str
    options: dict
    writer: Callable[["Variant", pa.Table, str], None]
    always: list = field(default_factory=list)  # limitation codes that apply to every table
    notes: str = ""

    def describe(self) -> dict:
        return {
            "variant": self.name,
            "family": self.family,
            "format": self.fmt,
            "ext": self.ext,
            "options": self.options,
            "writer": WRITER_VERSIONS.get(self.family, ""),
            "always": self.always,
            "notes": self.notes,
        }


_NUMBERISH = re.compile(
    r"^\s*[-+]?((\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|nan|inf|infinity)\s*$", re.IGNORECASE
)
_TEMPORALISH = re.compile(r"^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?$")


def _looks_typed(s: str) -> bool:
    return bool(_NUMBERISH.match(s) or _TEMPORALISH.match(s) or s.lower() in ("true", "false"))


def _is_nonfinite(v: Any) -> bool:
    if v is None:
        return False
    f = bits_to_float(float_bits(v))
    return math.isnan(f) or math.isinf(f)


def _is_nan(v: Any) -> bool:
    return v is not None and math.isnan(bits_to_float(float_bits(v)))


def limitations(variant: "Variant | str", spec: dict) -> list[str]:
    """Codes of what this variant's file cannot represent of this table (see LIMITATIONS).
    Empty: the file round-trips every value and every type a reader can infer."""
    v = VARIANTS[variant] if isinstance(variant, str) else variant
    out: list[str] = list(v.always)
    rows = spec["rows"]
    text = v.fmt in ("csv", "ndjson")

    def add(code: str) -> None:
        if code not in out:
            out.append(code)

    if v.name == "duckdb-v2":
        for j, c in enumerate(spec["columns"]):
            if c["type"] == "int32":
                vals = [x for x in column_cells(spec, j) if x is not None]
                if any(abs(b - a) >= 2**31 for a, b in zip(vals, vals[1:])):
                    add("int32_delta_overflow")
    if v.fmt == "csv" and len(spec["columns"]) == 1 and any(r[0] is None for r in rows):
        add("blank_line_row")
    if v.fmt in ("csv", "ndjson") and not rows:
        add("empty_table_untyped")
    for j, c in enumerate(spec["columns"]):
        t = c["type"]
        cells = column_cells(spec, j)
        nonnull = [x for x in cells if x is not None]
        if text and rows and not nonnull:
            add("all_null_column_untyped")
        if v.fmt == "csv":
            if t == "utf8":
                if any(x == "" for x in cells):
                    add("empty_string_is_null")
                    if all(x is None or x == "" for x in cells):
                        add("all_null_column_untyped")
                if nonnull and all(_looks_typed(x) for x in nonnull if x != ""):
                    add("utf8_retyped")
                if any("\n" in x or "\r" in x for x in nonnull):
                    add("multiline_string")
            if t == "int32" and nonnull:
                add("int32_widened")
            if t == "float64" and nonnull:
                if any(_is_nan(x) for x in nonnull):
                    add("nan_sign_lost")
                if any(_is_nonfinite(x) for x in nonnull):
                    add("nonfinite_as_words")
                elif all(bits_to_float(float_bits(x)).is_integer() for x in nonnull) and v.family == "csv-pyarrow":
                    add("float_integral_as_int")
            if is_decimal(t) and nonnull:
                add("decimal_as_float")
        if v.fmt == "ndjson":
            if t == "float64" and any(_is_nonfinite(x) for x in nonnull):
                add("nonfinite_to_null")
            if t == "utf8" and nonnull and all(_looks_typed(x) for x in nonnull):
                add("utf8_retyped")
            if t == "int32" and nonnull:
                add("int32_widened")
            if is_decimal(t) and nonnull:
                add("decimal_as_text")
            if t in ("date32", "timestamp_us") and nonnull:
                add("temporal_as_text")
    return out


# ---------------------------------------------------------------- writers


def _pyarrow_parquet(v: Variant, tbl: pa.Table, path: str) -> None:
    opts = dict(v.options)
    if "column_encoding" in opts:
        enc = {}
        for f in tbl.schema:
            if pa.types.is_floating(f.type):
                enc[f.name] = "BYTE_STREAM_SPLIT"
            elif pa.types.is_integer(f.type):
                enc[f.name] = "DELTA_BINARY_PACKED"
            elif pa.types.is_string(f.type):
                enc[f.name] = "DELTA_LENGTH_BYTE_ARRAY"
            else:
                enc[f.name] = "PLAIN"
        opts["column_encoding"] = enc
    pq.write_table(tbl, path, **opts)


def _polars_parquet(v: Variant, tbl: pa.Table, path: str) -> None:
    import polars as pl

    pl.from_arrow(tbl).write_parquet(path, **v.options)


def _duckdb_parquet(v: Variant, tbl: pa.Table, path: str) -> None:
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")  # deterministic files; small arrow batches -> small row groups
        batch = v.options.get("arrow_batch_rows")
        src = pa.Table.from_batches(tbl.to_batches(max_chunksize=batch), schema=tbl.schema) if batch else tbl
        con.register("src", src)
        copy = ", ".join(f"{k} {val}" for k, val in v.options.items() if k != "arrow_batch_rows")
        lit = path.replace("'", "''")
        con.execute(f"COPY (SELECT * FROM src) TO '{lit}' (FORMAT parquet{', ' + copy if copy else ''})")
    finally:
        con.close()


def _pandas_parquet(v: Variant, tbl: pa.Table, path: str) -> None:
    import pandas as pd

    # The Arrow-backed dtypes (dtype_backend="pyarrow"): numpy dtypes would turn
    # an int column with NULLs into float64 and a float NULL into NaN.
    df = tbl.to_pandas(types_mapper=pd.ArrowDtype)
    df.to_parquet(path, engine="pyarrow", **v.options)


def _pyarrow_csv(v: Variant, tbl: pa.Table, path: str) -> None:
    pa_csv.write_csv(tbl, path, write_options=pa_csv.WriteOptions(**v.options))


def _polars_csv(v: Variant, tbl: pa.Table, path: str) -> None:
    import polars as pl

    pl.from_arrow(tbl).write_csv(path, **v.options)


def _polars_ndjson(v: Variant, tbl: pa.Table, path: str) -> None:
    import polars as pl

    pl.from_arrow(tbl).write_ndjson(path)


def _pyarrow_ipc(v: Variant, tbl: pa.Table, path: str) -> None:
    if v.ext == "feather":
        pa_feather.write_feather(tbl, path, **v.options)
    else:
        with pa_ipc.new_file(path, tbl.schema, options=pa_ipc.IpcWriteOptions(**v.options)) as w:
            w.write_table(tbl, max_chunksize=4)


def _versions() -> dict:
    out = {"pyarrow": f"pyarrow {pa.__version__}", "csv-pyarrow": f"pyarrow {pa.__version__}",
           "ipc": f"pyarrow {pa.__version__}"}
    try:
        import polars as pl

        for k in ("polars", "csv-polars", "ndjson"):
            out[k] = f"polars {pl.__version__}"
    except ImportError:
        pass
    try:
        import duckdb

        out["duckdb"] = f"duckdb {duckdb.__version__}"
    except ImportError:
        pass
    try:
        import pandas as pd

        out["pandas"] = f"pandas {pd.__version__} (pyarrow {pa.__version__})"
    except ImportError:
        pass
    return out


WRITER_VERSIONS = _versions()


def _build_variants() -> dict[str, Variant]:
    vs: list[Variant] = []
    P = lambda name, notes="", **o: vs.append(Variant(name, "pyarrow", "parquet", "parquet", o, _pyarrow_parquet, notes=notes))
    P("pyarrow-default", "pyarrow.parquet.write_table defaults: snappy, statistics, dictionary, format 2.6, data page v1")
    P("pyarrow-nostats", write_statistics=False)
    P("pyarrow-nodict", use_dictionary=False)
    P("pyarrow-rg3", row_group_size=3)
    P("pyarrow-page64", "data_page_size is checked after each write batch, so write_batch_size is small too",
      data_page_size=64, write_batch_size=2)
    P("pyarrow-rg3-page64-zstd", row_group_size=3, data_page_size=64, write_batch_size=2, compression="zstd")
    for comp in ("none", "snappy", "gzip", "brotli", "lz4", "zstd"):
        P(f"pyarrow-{comp}", compression=comp)
    P("pyarrow-v1.0", "format version 1.0: ConvertedType annotations only", version="1.0")
    P("pyarrow-v2.6", version="2.6")
    P("pyarrow-pagev2", data_page_version="2.0")
    P("pyarrow-pagev2-nodict-nostats-rg3", data_page_version="2.0", use_dictionary=False,
      write_statistics=False, row_group_size=3)
    P("pyarrow-encodings", "BYTE_STREAM_SPLIT floats, DELTA_BINARY_PACKED ints, DELTA_LENGTH_BYTE_ARRAY strings",
      use_dictionary=False, column_encoding="per-type")
    P("pyarrow-int96", "timestamps as deprecated INT96 (as Spark/Impala wrote them)", use_deprecated_int96_timestamps=True)

    L = lambda name, notes="", **o: vs.append(Variant(name, "polars", "parquet", "parquet", o, _polars_parquet, notes=notes))
    L("polars-default", "polars write_parquet defaults: zstd, statistics; like every polars variant, utf8 is "
                        "declared large_utf8 in the stored Arrow schema")
    L("polars-nostats", statistics=False)
    L("polars-rg3", row_group_size=3)
    L("polars-page64", data_page_size=64)
    for comp in ("uncompressed", "snappy", "gzip", "lz4", "brotli"):
        L(f"polars-{comp}", compression=comp)
    L("polars-use-pyarrow", "polars hands the frame to pyarrow's writer", use_pyarrow=True)

    D = lambda name, notes="", **o: vs.append(Variant(name, "duckdb", "parquet", "parquet", o, _duckdb_parquet, notes=notes))
    D("duckdb-default", "COPY ... TO (FORMAT parquet): snappy; decimals of precision <= 18 stored as INT32/INT64")
    D("duckdb-rg2", "ROW_GROUP_SIZE 2 over an arrow scan of 2-row batches with threads=1, so row groups really hold 2 rows",
      ROW_GROUP_SIZE=2, arrow_batch_rows=2)
    D("duckdb-zstd", COMPRESSION="zstd")
    D("duckdb-gzip", COMPRESSION="gzip")
    D("duckdb-v2", PARQUET_VERSION="V2")

    vs.append(Variant("pandas-pyarrow", "pandas", "parquet", "parquet", {}, _pandas_parquet,
                      notes="DataFrame with Arrow-backed dtypes, to_parquet(engine='pyarrow'): RangeIndex kept as pandas metadata only"))
    vs.append(Variant("pandas-pyarrow-index", "pandas", "parquet", "parquet", {"index": True}, _pandas_parquet,
                      always=["extra_index_column"],
                      notes="to_parquet(index=True): the index is stored as a real column __index_level_0__"))

    vs.append(Variant("csv-pyarrow", "csv-pyarrow", "csv", "csv", {}, _pyarrow_csv,
                      notes="pyarrow.csv.write_csv: strings always quoted, NULL as an empty unquoted field, NaN as 'nan', "
                            "-0.0 as '-0', 1.0 as '1', timestamps 'YYYY-MM-DD HH:MM:SS.ffffff'"))
    vs.append(Variant("csv-polars", "csv-polars", "csv", "csv", {}, _polars_csv,
                      notes="polars write_csv: strings quoted when needed ('' quoted), NULL as an empty field, NaN as 'NaN', "
                            "-0.0 as '-0.0', timestamps 'YYYY-MM-DDTHH:MM:SS.ffffff'"))
    vs.append(Variant("ndjson-polars", "ndjson", "ndjson", "ndjson", {}, _polars_ndjson,
                      notes="polars write_ndjson: NaN/inf as null, -0.0 kept, decimals/dates/timestamps as strings; "
                            "an empty table is an empty file"))

    vs.append(Variant("ipc-pyarrow", "ipc", "arrow", "arrow", {}, _pyarrow_ipc,
                      notes="Arrow IPC file, uncompressed, record batches of 4 rows"))
    vs.append(Variant("feather-zstd", "ipc", "arrow", "feather", {"compression": "zstd", "chunksize": 3}, _pyarrow_ipc,
                      notes="Feather v2 (Arrow IPC) with zstd buffers, chunks of 3 rows"))
    return {v.name: v for v in vs}


VARIANTS = _build_variants()


def write_table(variant: "Variant | str", spec: dict, outdir: str, tbl: pa.Table | None = None) -> dict:
    """Write one table with one variant; returns the entry describing the file."""
    v = VARIANTS[variant] if isinstance(variant, str) else variant
    tbl = to_arrow(spec) if tbl is None else tbl
    d = os.path.join(outdir, v.name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"{spec['name']}.{v.ext}")
    if os.path.exists(path):
        os.remove(path)
    v.writer(v, tbl, path)
    return {
        "table": spec["name"],
        "variant": v.name,
        "path": path,
        "format": v.fmt,
        "rows": len(spec["rows"]),
        "options": v.options,
        "writer": WRITER_VERSIONS.get(v.family, ""),
        "limitations": limitations(v, spec),
    }


def write_all(manifest: dict, outdir: str) -> list[dict]:
    names = manifest.get("variants") or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants: {unknown}; known: {list(VARIANTS)}")
    out = []
    for spec in manifest["tables"]:
        tbl = to_arrow(spec)
        for n in names:
            out.append(write_table(n, spec, outdir, tbl))
    return out


# ---------------------------------------------------------------- read back & check


def _duck_type(t: str) -> str:
    if is_decimal(t):
        m = _DEC.match(t)
        return f"DECIMAL({m.group(1)},{m.group(2)})"
    return {"int32": "INTEGER", "int64": "BIGINT", "float64": "DOUBLE", "utf8": "VARCHAR", "bool": "BOOLEAN",
            "date32": "DATE", "timestamp_us": "TIMESTAMP"}[t]


def _canon(t: str, x: Any, keep_nan_sign: bool) -> Any:
    """A comparable form of one read-back or manifest cell."""
    if x is None:
        return None
    if t == "float64":
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            f = float(x)
        else:
            f = bits_to_float(float_bits(x))
        if math.isnan(f):
            return ("NaN", math.copysign(1.0, f) < 0) if keep_nan_sign else ("NaN",)
        return ("f", f, math.copysign(1.0, f) < 0)  # -0.0 is kept apart: writers must keep it
    if t in ("int32", "int64"):
        return int(x)
    if t == "date32":
        return x if isinstance(x, _dt.date) and not isinstance(x, _dt.datetime) else _dt.date.fromisoformat(str(x))
    if t == "timestamp_us":
        if isinstance(x, _dt.datetime):
            return x.replace(tzinfo=None)
        return _dt.datetime.fromisoformat(str(x).replace(" ", "T"))
    if is_decimal(t):
        return decimal.Decimal(str(x))
    return x


def _kept_rows(v: Variant, spec: dict, reader: str = "pyarrow") -> list:
    """The manifest rows a reader gets back (a one-column CSV loses its NULL rows,
    except to DuckDB's reader)."""
    if v.fmt == "csv" and len(spec["columns"]) == 1 and reader != "duckdb":
        return [r for r in spec["rows"] if r[0] is not None]
    return spec["rows"]


def _expected_cells(v: Variant, spec: dict, j: int, reader: str) -> list:
    """The manifest column after this variant's documented degradations."""
    t = spec["columns"][j]["type"]
    cells = [r[j] for r in _kept_rows(v, spec, reader)]
    if v.fmt == "csv" and t == "utf8":
        cells = [None if x == "" else x for x in cells]
    if v.fmt == "ndjson" and t == "float64":
        cells = [None if _is_nonfinite(x) else x for x in cells]
    return cells


def _read_back(v: Variant, spec: dict, path: str) -> dict[str, list[tuple[str, dict[str, list]]]]:
    """{reader: {column: values}} from every reader used for this format."""
    cols = spec["columns"]
    readers: list[tuple[str, Callable[[], pa.Table]]] = []
    import duckdb

    def duck(sql: str) -> Callable[[], pa.Table]:
        def run() -> pa.Table:
            con = duckdb.connect()
            try:
                return con.sql(sql).to_arrow_table()
            finally:
                con.close()
        return run

    lit = path.replace("'", "''")
    if v.fmt == "parquet":
        readers.append(("pyarrow", lambda: pq.read_table(path)))
        readers.append(("duckdb", duck(f"SELECT * FROM read_parquet('{lit}')")))
    elif v.fmt == "arrow":
        readers.append(("pyarrow", lambda: pa_feather.read_table(path)))
    elif v.fmt == "csv":
        types = {c["name"]: parse_type(c["type"]) for c in cols}
        readers.append(("pyarrow.csv", lambda: pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(
            column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=True,
            null_values=[""]))))
        spec_cols = ", ".join(f"'{c['name']}': '{_duck_type(c['type'])}'" for c in cols)
        readers.append(("duckdb", duck(f"SELECT * FROM read_csv('{lit}', header=true, columns={{{spec_cols}}}, "
                                        f"nullstr='', allow_quoted_nulls=true)")))
    elif v.fmt == "ndjson":
        spec_cols = ", ".join(f"'{c['name']}': '{_duck_type(c['type'])}'" for c in cols)
        if os.path.getsize(path) == 0:
            readers.append(("empty-file", lambda: pa.table({c["name"]: pa.array([], parse_type(c["type"])) for c in cols})))
        else:
            readers.append(("duckdb", duck(f"SELECT * FROM read_json('{lit}', format='newline_delimited', "
                                            f"columns={{{spec_cols}}})")))
    if "int32_delta_overflow" in limitations(v, spec):
        readers = [r for r in readers if r[0] != "pyarrow"]
    out = {}
    for name, fn in readers:
        t = fn()
        out[name] = t
    return out


def _float_values(arr: pa.ChunkedArray) -> list:
    """Read-back floats with their exact bits (to_pylist keeps them too, but be explicit)."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if len(arr) == 0:
        return []
    bits = np.asarray(arr.fill_null(0.0).to_numpy(zero_copy_only=False), dtype=np.float64).view(np.uint64)
    valid = arr.is_valid().to_pylist()
    return [f"bits:{hex(int(b))}" if ok else None for b, ok in zip(bits, valid)]


def check_file(entry: dict, spec: dict) -> list[str]:
    """Problems found reading `entry`'s file back (empty list: it round-trips)."""
    v = VARIANTS[entry["variant"]]
    problems: list[str] = []
    keep_sign = "nan_sign_lost" not in limitations(v, spec) and v.fmt != "ndjson"
    try:
        tables = _read_back(v, spec, entry["path"])
    except Exception as e:  # noqa: BLE001 - report, do not stop the check
        return [f"{entry['path']}: cannot read back: {type(e).__name__}: {e}"]
    for reader, tbl in tables.items():
        where = f"{entry['variant']}/{spec['name']} via {reader}"
        names = tbl.column_names
        expected_names = [c["name"] for c in spec["columns"]]
        extra = [n for n in names if n not in expected_names]
        if "extra_index_column" in v.always:
            if extra != ["__index_level_0__"]:
                problems.append(f"{where}: expected one extra index column, got {extra}")
            else:
                idx = tbl.column("__index_level_0__").to_pylist()
                if idx != list(range(len(spec["rows"]))):
                    problems.append(f"{where}: index column {idx[:10]} is not 0..n-1")
            extra = []
        if [n for n in names if n in expected_names] != expected_names or extra:
            problems.append(f"{where}: columns {names}, expected {expected_names}")
            continue
        want_rows = len(_kept_rows(v, spec, reader))
        if tbl.num_rows != want_rows:
            problems.append(f"{where}: {tbl.num_rows} rows, expected {want_rows}"
                            + (f" ({len(spec['rows'])} written)" if want_rows != len(spec["rows"]) else ""))
            continue
        for j, c in enumerate(spec["columns"]):
            t = c["type"]
            col = tbl.column(c["name"])
            if v.fmt in ("parquet", "arrow"):
                want_type = parse_type(t)
                got = col.type
                if pd_int96(v, t, got) or got == want_type or (want_type == pa.string() and got == pa.large_string()):
                    pass
                else:
                    problems.append(f"{where}: column {c['name']} read back as {got}, expected {want_type}")
            got_vals = _float_values(col) if t == "float64" else col.to_pylist()
            want = [_canon(t, x, keep_sign) for x in _expected_cells(v, spec, j, reader)]
            got = [_canon(t, x, keep_sign) for x in got_vals]
            bad = [i for i, (a, b) in enumerate(zip(want, got)) if a != b]
            if bad:
                i = bad[0]
                problems.append(f"{where}: column {c['name']}: {len(bad)} cells differ, first at row {i}: "
                                f"manifest {_kept_rows(v, spec, reader)[i][j]!r}, read back {got_vals[i]!r}")
    return problems


def pd_int96(v: Variant, t: str, got: pa.DataType) -> bool:
    """INT96 timestamps read back as timestamp[ns]: the same instants, another unit."""
    return t == "timestamp_us" and v.options.get("use_deprecated_int96_timestamps") and pa.types.is_timestamp(got)


# ---------------------------------------------------------------- CLI


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("manifest", nargs="?")
    ap.add_argument("outdir", nargs="?")
    ap.add_argument("--check", action="store_true", help="read every file back and compare it with the manifest")
    ap.add_argument("--list", action="store_true", help="print every variant and the limitation codes, then stop")
    a = ap.parse_args(argv)
    if a.list:
        print(json.dumps({"variants": [v.describe() for v in VARIANTS.values()], "limitations": LIMITATIONS}, indent=2))
        return 0
    if not a.manifest or not a.outdir:
        ap.error("MANIFEST and OUTDIR are required (or --list)")
    with open(a.manifest) as f:
        manifest = json.load(f)
    entries = write_all(manifest, a.outdir)
    if a.check:
        specs = {t["name"]: t for t in manifest["tables"]}
        failures = 0
        for e in entries:
            probs = check_file(e, specs[e["table"]])
            e["check"] = "ok" if not probs else probs
            failures += bool(probs)
        print(json.dumps(entries, indent=2))
        print(f"writers check: {len(entries)} files, {len(entries) - failures} round-trip, {failures} fail",
              file=sys.stderr)
        return 1 if failures else 0
    print(json.dumps(entries, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
