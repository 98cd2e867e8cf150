#!/usr/bin/env python3
"""A seeded DuckDB oracle for `diffgate diff`.

    python oracle.py --diffgate PATH [--cases 200] [--seed N] [--workdir DIR]
                     [--case I] [--shrink K] [--jobs J] [--variants PATTERNS] [--verbose]
    python oracle.py --self-test [--cases N] [--seed N]   # the DuckDB SQL vs plain Python

For each case it generates a random pair of tables (small key and value domains,
so duplicate keys, NULL keys, NULL values, NaN of several bit patterns, -0.0,
infinities, equal and changed values, rows on one side only and empty tables
are all common; composite keys, keyless cases, abs/rel tolerances, retyped,
added, removed and ignored columns now and then), writes both with a randomly
chosen writers.py variant that can represent them, runs

    diffgate diff v1 v2 [--key ...] [--abs-tol X] [--rel-tol X] [--ignore-column C]
                  --format json --sample-size 100000 --threads {1,4,8}

and computes what the README's "Comparison semantics" say the report must hold
with DuckDB SQL over the generated rows (not over diffgate's reading of the
files). Every row count, every per-column count, the exact set of changed,
only-v1 and only-v2 keys (from the samples; with the differing columns and their
v1 / v2 values for changed keys) and, keyless, the only-v1 / only-v2 rows with
their counts are compared.

It prints `oracle: N cases, M agree`, then every disagreement with the case's
rows, diffgate's value and DuckDB's value, and exits 1 on any disagreement
(2 when the oracle itself cannot run). Deterministic for a seed: case I of seed
S is the same case whatever --cases, --jobs or --case say. `--shrink K` makes the
first K disagreeing cases smaller (greedy: drop rows and columns while the same
field still disagrees) and prints the minimal pair. `--workdir DIR` keeps every
case's files in DIR/case-NNNN (a repro.json there holds the manifest and the
command); without it only disagreeing cases are kept (in a temporary folder,
named in the output).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import copy
import datetime as _dt
import decimal
import json
import math
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402

import writers  # noqa: E402

# ------------------------------------------------------------------ domains

INT_DOMAIN = [-1, 0, 1, 2, 3, 100]
INT32_EXTREMES = [2147483647, -2147483648]
INT64_EXTREMES = [9007199254740992, 9007199254740993, 9223372036854775807, -9223372036854775808]
FLOAT_DOMAIN = [0.0, "-0.0", 1.0, 1.25, 1.5, 2.0, -1.0, 100.0, 0.5, 0.1, 0.3, 1e308, -1e308, 5e-324,
                "NaN", "-NaN", "bits:0x7ff8000000000001", "inf", "-inf"]
UTF8_DOMAIN = ["a", "b", "A", "a ", "ä", "é", "e\u0301", ""]
DATE_DOMAIN = ["2024-01-01", "2024-01-02", "1970-01-01", "2000-02-29"]
TS_DOMAIN = ["2024-01-01T00:00:00", "2024-01-01T00:00:00.000001", "2024-06-30T12:34:56", "1999-12-31T23:59:59"]
DEC_DOMAIN = ["0.00", "1.25", "1.50", "-1.00", "100.00", "0.25", "1.00", "1.10", "1.35", "0.10", "99999999.99"]
KEY_TYPES = ["int64", "int64", "int32", "utf8", "utf8", "date32", "timestamp_us", "decimal(10,2)", "bool"]
ODD_NAMES = ["Amount", "unit price", "a.b", "ünï", "select", "x-y", "Ω", "Key", "t.c.d", "order"]
VALUE_TYPES = ["int64", "int32", "float64", "float64", "float64", "utf8", "bool", "date32", "timestamp_us",
               "decimal(10,2)"]
ABS_TOLS = [0.25, 0.5, 1.0]
REL_TOLS = [0.125, 0.25, 0.5]
THREADS = [1, 4, 8]

# Limitation codes (writers.LIMITATIONS) that do not change what diffgate must
# report for our domains; any other code rules the variant out for the case.
HARMLESS = {"int32_widened", "temporal_as_text", "float_integral_as_int", "nan_sign_lost", "decimal_as_float",
            "extra_index_column", "decimal_as_text", "nonfinite_as_words", "all_null_column_untyped"}
TEXT_FORMATS = ("csv", "ndjson")


KEY_DATES = [f"2024-01-{d:02d}" for d in range(1, 21)]


_BIG: dict = {}


def big_key_domain(t: str) -> list:
    """Keys for the large cases: 20,000 values."""
    if t not in _BIG:
        n = 20000
        if t in ("int64", "int32"):
            _BIG[t] = list(range(-5, n - 5))
        elif t == "utf8":
            _BIG[t] = [f"k{i:05d}" for i in range(n)]
        elif t == "date32":
            _BIG[t] = [str(_dt.date(1950, 1, 1) + _dt.timedelta(days=i)) for i in range(n)]
        elif t == "timestamp_us":
            _BIG[t] = [(_dt.datetime(2024, 1, 1) + _dt.timedelta(seconds=37 * i, microseconds=i)).isoformat()
                       for i in range(n)]
        elif writers.is_decimal(t):
            _BIG[t] = [str(decimal.Decimal(i).scaleb(-2) - 50) for i in range(n)]
        else:
            _BIG[t] = domain(t, key=True)
    return _BIG[t]


def domain(t: str, key: bool = False, text: bool = False) -> list:
    """Values a cell of type t takes. Keys: 20 values (a case uses the first few or
    draws distinct ones). text: no value a CSV/NDJSON file cannot carry."""
    if key and t == "utf8":
        return list("abcdefghijBCDEFGHIJ") + ([] if text else [""])
    if key and t == "timestamp_us":
        return [f"2024-01-01T00:00:{s:02d}" for s in range(10)] + [f"2024-01-01T00:00:00.{u:06d}" for u in range(1, 11)]
    if key and writers.is_decimal(t):
        return [f"{i / 4:.2f}" for i in range(-4, 16)]
    if t in ("int64", "int32"):
        if key:
            return list(range(20))
        return INT_DOMAIN * 3 + (INT32_EXTREMES if t == "int32" else INT32_EXTREMES + INT64_EXTREMES)
    if t == "float64":
        return [x for x in FLOAT_DOMAIN if not (text and writers._is_nonfinite(x))]
    if t == "utf8":
        return list("abcdefghijBCDEFGHIJK") if key else [x for x in UTF8_DOMAIN if not (text and x == "")]
    if t == "bool":
        return [True, False]
    if t == "date32":
        return KEY_DATES if key else DATE_DOMAIN
    if t == "timestamp_us":
        return TS_DOMAIN
    if writers.is_decimal(t):
        return DEC_DOMAIN
    raise ValueError(t)


# ------------------------------------------------------------------ a case


@dataclass
class Case:
    index: int
    keys: list  # key column names (empty: keyless)
    t1: dict  # writers table spec
    t2: dict
    abs_tol: float | None = None
    rel_tol: float | None = None
    ignore: list = field(default_factory=list)
    variant1: str = ""
    variant2: str = ""
    threads: int = 1

    def manifest(self) -> dict:
        return {"tables": [self.t1, self.t2]}

    def args(self, p1: str, p2: str) -> list[str]:
        a = ["diff", p1, p2]
        if self.keys:
            a += ["--key", ",".join(self.keys)]
        if self.abs_tol is not None:
            a += ["--abs-tol", repr(self.abs_tol)]
        if self.rel_tol is not None:
            a += ["--rel-tol", repr(self.rel_tol)]
        for c in self.ignore:
            a += ["--ignore-column", c]
        a += ["--format", "json", "--sample-size", "100000", "--threads", str(self.threads)]
        return a


def _near(t: str, v: Any, rng: random.Random) -> Any:
    """A value close to v (so tolerances decide), or an equal value of another bit pattern."""
    if v is None:
        return rng.choice(domain(t))
    if t in ("int64", "int32"):
        lim = 2**31 if t == "int32" else 2**63
        w = v + rng.choice([-1, 1, 2])
        return w if -lim <= w < lim else (v - 1 if v > 0 else v + 1)
    if t == "float64":
        f = writers.bits_to_float(writers.float_bits(v))
        if math.isnan(f):
            return rng.choice(["NaN", "-NaN", "bits:0x7ff8000000000001", "bits:0xfff0000000000001"])
        if math.isinf(f):
            return rng.choice(["inf", "-inf", 1e308])
        if f == 0.0:
            return rng.choice(["-0.0", 0.0, 0.25, -0.25])
        return f + rng.choice([0.25, -0.25, 0.5, -0.5, 1.0, f * 0.125, f * 0.25])
    if writers.is_decimal(t):
        d = decimal.Decimal(v) + decimal.Decimal(rng.choice(["0.25", "-0.25", "0.50", "1.00", "-0.50", "0.10"]))
        if abs(d) >= decimal.Decimal("99999999.99"):
            d = decimal.Decimal(v) - 1
        return str(d.quantize(decimal.Decimal("0.01")))
    return rng.choice(domain(t))


def _convert(v: Any, t_from: str, t_to: str) -> Any:
    """A cell of type t_from as the same value in t_to (for retyped columns)."""
    if v is None or t_from == t_to:
        return v
    if t_to == "float64" and t_from in ("int32", "int64"):
        return float(v)
    if writers.is_decimal(t_to) and writers.is_decimal(t_from):
        return str(decimal.Decimal(v).quantize(decimal.Decimal(1).scaleb(-writers.decimal_scale(t_to))))
    return v


def generate(seed: int, index: int) -> Case:
    rng = random.Random(f"diffgate-oracle:{seed}:{index}")
    keyless = rng.random() < 0.25
    big = rng.random() < 0.08
    nkeys = 0 if keyless else (1 if rng.random() < 0.65 else rng.choice([2, 2, 3]))
    odd = rng.random() < 0.15
    pool = rng.sample(ODD_NAMES, len(ODD_NAMES)) if odd else []

    def name(default: str) -> str:
        return pool.pop() if pool and rng.random() < 0.6 else default

    cols1: list[dict] = []
    keys = []
    for i in range(nkeys):
        t = rng.choice(KEY_TYPES)
        if big or (nkeys == 1 and t == "bool" and rng.random() < 0.7):
            t = rng.choice(["int64", "int32", "utf8", "date32", "timestamp_us", "decimal(10,2)"])
        cols1.append({"name": name(f"k{i}"), "type": t, "key": True})
        keys.append(cols1[-1]["name"])
    nvals = rng.randint(1 if keyless else 0, 4)
    shapes = {}
    for i in range(nvals):
        t = rng.choice(VALUE_TYPES)
        cols1.append({"name": name(f"c{i}"), "type": t, "key": False})
        r = rng.random()
        shapes[cols1[-1]["name"]] = ("constant" if r < 0.08 else "all_null" if r < 0.14
                                     else "all_nan" if r < 0.20 and t == "float64" else "normal")
    if keyless and rng.random() < 0.3:
        # keyless cases also see key-like columns (small domains, many repeats)
        cols1.insert(0, {"name": "g", "type": rng.choice(KEY_TYPES), "key": True})
    # text: a case CSV and NDJSON can carry (no '', no NaN/inf, no all-NULL column, no empty table)
    text = rng.random() < 0.2
    if text:
        shapes = {n: ("normal" if sh in ("all_null", "all_nan") else sh) for n, sh in shapes.items()}
    null_p = rng.choice([0.0, 0.1, 0.2, 0.35])
    key_null_p = rng.choice([0.0, 0.0, 0.05, 0.15])
    # unique: keys drawn without replacement (duplicates only where added on purpose);
    # crowded: a domain of 2-5 values per key column, so duplicates abound
    key_mode = "unique" if big else rng.choice(["unique", "unique", "unique", "crowded"])
    kdom_size = rng.choice([2, 3, 5]) if key_mode == "crowded" else 20
    used_keys: set = set()
    key_cols = [j for j, c in enumerate(cols1) if c["key"]]
    const = {c["name"]: rng.choice(domain(c["type"], text=text)) for c in cols1}

    def cell(c: dict) -> Any:
        t = c["type"]
        if c["key"]:
            if rng.random() < key_null_p:
                return None
            if big:
                return rng.choice(big_key_domain(t))
            return rng.choice(domain(t, key=True, text=text)[:kdom_size])
        shape = shapes[c["name"]]
        if shape == "all_null":
            return None
        if shape == "constant":
            return const[c["name"]]
        if shape == "all_nan":
            return rng.choice(["NaN", "-NaN", "bits:0x7ff8000000000001"])
        if rng.random() < null_p:
            return None
        return rng.choice(domain(t, text=text))

    def row() -> list:
        r = [cell(c) for c in cols1]
        if key_mode == "unique" and key_cols and not keyless:
            for _ in range(20):  # a key not used yet, if one is found quickly
                k = tuple(r[j] for j in key_cols)
                if k not in used_keys or None in k:
                    break
                for j in key_cols:
                    r[j] = cell(cols1[j])
            used_keys.add(tuple(r[j] for j in key_cols))
        return r

    n1 = rng.randint(100, 3000) if big else 0 if (rng.random() < 0.08 and not text) else rng.randint(1, 10)
    rows1 = [row() for _ in range(n1)]
    if rng.random() < 0.08 and not text:
        rows2 = []
    else:
        keep_p = rng.choice([0.6, 0.85, 1.0])
        change_p = rng.choice([0.0, 0.01, 0.05]) if big else rng.choice([0.0, 0.15, 0.3, 0.5])
        dup_p = rng.choice([0.0, 0.001, 0.01]) if big else rng.choice([0.0, 0.05, 0.15])
        rows2 = []
        for r in rows1:
            if rng.random() > keep_p:
                continue
            r2 = list(r)
            for j, c in enumerate(cols1):
                if c["key"] and not keyless:
                    continue
                if shapes.get(c["name"]) in ("constant", "all_null") and rng.random() < 0.8:
                    continue
                if rng.random() < change_p:
                    r2[j] = _near(c["type"], r2[j], rng) if rng.random() < 0.6 else cell(c)
                    if text and (r2[j] == "" or (c["type"] == "float64" and writers._is_nonfinite(r2[j]))):
                        r2[j] = r[j]
            rows2.append(r2)
            if rng.random() < dup_p:
                rows2.append(list(r2) if rng.random() < 0.5 else [r2[j] if j in key_cols else x
                                                                 for j, x in enumerate(row())])
        for _ in range(rng.choice([0, 0, 1, 2, 4]) * (rng.randint(1, 30) if big else 1)):
            rows2.append(row())
        if not rows2 and text:
            rows2.append(row())
        rng.shuffle(rows2)
        if rng.random() < dup_p:  # a duplicate in v1 too
            rows1.append(list(rng.choice(rows1)) if rows1 else row())
    cols2 = copy.deepcopy(cols1)
    # the v2 schema: retype, drop, add
    for c in cols2:
        if not c["key"] and rng.random() < 0.08:
            c["type"] = {"int32": "int64", "int64": "float64", "decimal(10,2)": rng.choice(["decimal(12,2)", "decimal(12,3)"]),
                         }.get(c["type"], c["type"])
    if not keyless and rng.random() < 0.08:
        for c in cols2:
            if c["key"] and c["type"] == "int32":
                c["type"] = "int64"
    for j, (c1, c2) in enumerate(zip(cols1, cols2)):
        if c1["type"] != c2["type"]:
            for r in rows2:
                r[j] = _convert(r[j], c1["type"], c2["type"])
    value_idx = [j for j, c in enumerate(cols2) if not (c["key"] and not keyless)]
    if len(value_idx) > 1 and rng.random() < 0.08:
        j = rng.choice(value_idx)
        del cols2[j]
        for r in rows2:
            del r[j]
    if rng.random() < 0.08:
        t = rng.choice(VALUE_TYPES)
        cols2.append({"name": "added", "type": t, "key": False})
        for r in rows2:
            r.append(rng.choice(domain(t)))
    if len(cols2) > 1 and rng.random() < 0.1:  # v2 lists its columns in another order
        perm = list(range(len(cols2)))
        rng.shuffle(perm)
        cols2 = [cols2[j] for j in perm]
        rows2 = [[r[j] for j in perm] for r in rows2]
    case = Case(index, keys,
                {"name": "v1", "columns": [{"name": c["name"], "type": c["type"]} for c in cols1], "rows": rows1},
                {"name": "v2", "columns": [{"name": c["name"], "type": c["type"]} for c in cols2], "rows": rows2})
    if not keyless:
        if rng.random() < 0.3:
            case.abs_tol = rng.choice(ABS_TOLS)
        if rng.random() < 0.2:
            case.rel_tol = rng.choice(REL_TOLS)
    shared = [c["name"] for c in cols1 if c["name"] in {d["name"] for d in cols2} and c["name"] not in keys]
    if len(shared) > 1 and rng.random() < 0.1:
        case.ignore.append(rng.choice(shared))
    case.threads = THREADS[index % 3]
    pick_variants(case, rng, prefer_text=text)
    return case


def _usable(variant: str, spec: dict, case: Case) -> bool:
    lim = set(writers.limitations(variant, spec))
    if lim & {"decimal_as_text", "decimal_as_float"} and (case.abs_tol or case.rel_tol):
        lim.add("decimal_read_as_float_or_text_with_tolerance")
    return lim <= HARMLESS


ALLOWED_VARIANTS: list[str] = sorted(writers.VARIANTS)


def pick_variants(case: Case, rng: random.Random, prefer_text: bool = False) -> None:
    names = ALLOWED_VARIANTS
    ty2 = _col_types(case.t2)
    retyped = any(c["name"] in ty2 and ty2[c["name"]] != c["type"] for c in case.t1["columns"])
    ok_both = [n for n in names if _usable(n, case.t1, case) and _usable(n, case.t2, case)
               and not (retyped and writers.VARIANTS[n].fmt in TEXT_FORMATS)]
    text_ok = [n for n in ok_both if writers.VARIANTS[n].fmt in TEXT_FORMATS]
    if prefer_text and text_ok:
        case.variant1 = case.variant2 = rng.choice(text_ok)
    elif rng.random() < 0.65 or not ok_both:
        v = rng.choice(ok_both) if ok_both else names[0]
        case.variant1 = case.variant2 = v
    else:
        typed = [n for n in ok_both if writers.VARIANTS[n].fmt not in TEXT_FORMATS]
        case.variant1, case.variant2 = rng.choice(typed), rng.choice(typed)
    if "pandas-pyarrow-index" in (case.variant1, case.variant2):
        case.ignore.append("__index_level_0__")


# ------------------------------------------------------------------ canonical values


def kind2(t1: str, t2: str | None = None) -> str:
    """The kind of a column as compared: 'fnum' when the common type is float64
    (values are then taken as float64 first, as the README's "int vs float as float64")."""
    t2 = t2 or t1
    if common_type(t1, t2) == "DOUBLE":
        return "fnum"
    return kind(t1)


def kind(t: str) -> str:
    if t in ("int32", "int64", "float64") or writers.is_decimal(t):
        return "num"
    return {"utf8": "text", "bool": "bool", "date32": "date", "timestamp_us": "ts"}[t]


_FRAC = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d+))?$")


def canon(k: str, v: Any) -> Any:
    """One comparable form for a value from the manifest or from a diffgate report."""
    if v is None:
        return None
    if k == "fnum":
        if isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        elif isinstance(v, decimal.Decimal):
            v = float(v)
        k = "num"
    if k == "num":
        if isinstance(v, bool):
            return ("?bool", v)
        if isinstance(v, str):
            s = v.strip().lower()
            if "nan" in s or s.startswith("bits:"):
                try:
                    f = writers.bits_to_float(writers.float_bits(v))
                except ValueError:
                    return ("?", v)
                if math.isnan(f):
                    return "NaN"
                if math.isinf(f):
                    return "inf" if f > 0 else "-inf"
                d = decimal.Decimal(repr(f))
            elif s in ("inf", "+inf", "infinity"):
                return "inf"
            elif s in ("-inf", "-infinity"):
                return "-inf"
            else:
                try:
                    d = decimal.Decimal(s)
                except decimal.InvalidOperation:
                    return ("?", v)
        elif isinstance(v, float):
            if math.isnan(v):
                return "NaN"
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            d = decimal.Decimal(repr(v))
        elif isinstance(v, (int, decimal.Decimal)):
            d = decimal.Decimal(v)
        else:
            return ("?", v)
        if d == 0:
            return "0"
        d = d.normalize()
        if d == d.to_integral_value() and abs(d) < 10**21:
            return format(d, "f")
        return str(d)  # short and exact: 0.3, 1.5, 5E-324, 1E+308
    if k == "bool":
        if isinstance(v, str):
            return {"true": True, "false": False}.get(v.lower(), ("?", v))
        return bool(v)
    if k == "date":
        return str(v)[:10] if re.match(r"^\d{4}-\d\d-\d\d", str(v)) else ("?", v)
    if k == "ts":
        m = _FRAC.match(str(v))
        if not m:
            return ("?", v)
        frac = (m.group(3) or "").rstrip("0")
        return f"{m.group(1)}T{m.group(2)}" + (f".{frac}" if frac else "")
    return v if isinstance(v, str) else ("?", v)


def show(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False)


# ------------------------------------------------------------------ the DuckDB reference


def _col_types(spec: dict) -> dict:
    return {c["name"]: c["type"] for c in spec["columns"]}


def common_type(t1: str, t2: str) -> str:
    """The DuckDB type both sides are compared in (README: int32 vs int64 as int64,
    int vs float as float64, decimals at the larger scale)."""
    ints = ("int32", "int64")
    if t1 in ints and t2 in ints:
        return "BIGINT"
    if t1 == t2:
        return writers._duck_type(t1)
    if {t1, t2} <= {"int32", "int64", "float64"}:
        return "DOUBLE"
    if writers.is_decimal(t1) and writers.is_decimal(t2):
        return f"DECIMAL(38,{max(writers.decimal_scale(t1), writers.decimal_scale(t2))})"
    raise ValueError(f"no common type for {t1} / {t2}")


def _eq_sql(a: str, b: str, t1: str, t2: str, abs_tol: float, rel_tol: float) -> str:
    """SQL: are v1 value a and v2 value b equal under the README rules?"""
    ct = common_type(t1, t2)
    A, B = f"CAST({a} AS {ct})", f"CAST({b} AS {ct})"
    head = f"CASE WHEN {a} IS NULL AND {b} IS NULL THEN TRUE WHEN {a} IS NULL OR {b} IS NULL THEN FALSE "
    if ct == "DOUBLE":
        return (head + f"WHEN isnan({A}) AND isnan({B}) THEN TRUE WHEN isnan({A}) OR isnan({B}) THEN FALSE "
                f"WHEN isinf({A}) OR isinf({B}) THEN {A} = {B} "
                f"ELSE abs({A} - {B}) <= {abs_tol!r}::DOUBLE + {rel_tol!r}::DOUBLE * abs({A}) END")
    if ct == "BIGINT":  # exact difference (HUGEINT: no overflow), then the README's inequality
        return (head + f"ELSE CAST(abs(CAST({A} AS HUGEINT) - CAST({B} AS HUGEINT)) AS DOUBLE) <= "
                f"{abs_tol!r}::DOUBLE + {rel_tol!r}::DOUBLE * CAST(abs(CAST({A} AS HUGEINT)) AS DOUBLE) END")
    if ct.startswith("DECIMAL"):  # exact decimal difference
        return (head + f"ELSE CAST(abs({A} - {B}) AS DOUBLE) <= {abs_tol!r}::DOUBLE + {rel_tol!r}::DOUBLE * "
                f"CAST(abs({A}) AS DOUBLE) END")
    return head + f"ELSE {A} = {B} END"


def _canon_sql(x: str, t1: str, t2: str) -> str:
    """SQL: a grouping form of a value, so NULL = NULL, every NaN = NaN, -0.0 = 0.0."""
    ct = common_type(t1, t2)
    X = f"CAST({x} AS {ct})"
    if ct == "DOUBLE":
        return (f"CASE WHEN {x} IS NULL THEN NULL WHEN isnan({X}) THEN 'NaN' WHEN {X} = 0 THEN '0' "
                f"ELSE CAST({X} AS VARCHAR) END")
    return f"CAST({X} AS VARCHAR)"


def _register(con: duckdb.DuckDBPyConnection, name: str, spec: dict) -> None:
    tbl = writers.to_arrow(spec)
    tbl = tbl.append_column("__rid", pa.array(range(len(spec["rows"])), pa.int64()))
    con.register(name, tbl)


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def expected(case: Case) -> dict:
    """What the README says diffgate must report, computed with DuckDB SQL."""
    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")
        _register(con, "t1", case.t1)
        _register(con, "t2", case.t2)
        ty1, ty2 = _col_types(case.t1), _col_types(case.t2)
        shared = [n for n in ty1 if n in ty2]
        compared = [n for n in shared if n not in case.keys and n not in case.ignore]
        kinds = {n: kind2(ty1[n], ty2[n]) for n in shared}
        at = case.abs_tol or 0.0
        rt = case.rel_tol or 0.0
        out: dict = {"compared_columns": compared}
        v1 = con.execute("SELECT count(*) FROM t1").fetchone()[0]
        v2 = con.execute("SELECT count(*) FROM t2").fetchone()[0]
        if not case.keys:
            grp = [f"{_canon_sql(q(n), ty1[n], ty2[n])} AS g{i}" for i, n in enumerate(compared)]
            gcols = ", ".join(f"g{i}" for i in range(len(compared)))
            sql = f"""
                WITH u AS (
                  SELECT {', '.join(grp)}, 1 AS n1, 0 AS n2, __rid AS r1, NULL::BIGINT AS r2 FROM t1
                  UNION ALL
                  SELECT {', '.join(grp)}, 0, 1, NULL, __rid FROM t2),
                g AS (SELECT {gcols}, sum(n1) AS n1, sum(n2) AS n2, min(r1) AS r1, min(r2) AS r2
                      FROM u GROUP BY {gcols})
                SELECT n1, n2, r1, r2 FROM g WHERE n1 <> n2"""
            groups = con.execute(sql).fetchall()
            only1 = [(r1, n1 - n2) for n1, n2, r1, r2 in groups if n1 > n2]
            only2 = [(r2, n2 - n1) for n1, n2, r1, r2 in groups if n2 > n1]
            out["rows"] = {"v1": v1, "v2": v2, "only_v1": sum(c for _, c in only1),
                           "only_v2": sum(c for _, c in only2)}

            def row_of(spec: dict, rid: int) -> tuple:
                names = [c["name"] for c in spec["columns"]]
                r = spec["rows"][rid]
                return tuple(canon(kinds[n], r[names.index(n)]) for n in compared)

            out["only_v1"] = sorted(((row_of(case.t1, r), c) for r, c in only1), key=repr)
            out["only_v2"] = sorted(((row_of(case.t2, r), c) for r, c in only2), key=repr)
            return out

        ks = case.keys
        kexpr1 = ", ".join(f"CAST({q(k)} AS {common_type(ty1[k], ty2[k])}) AS __k{i}" for i, k in enumerate(ks))
        kexpr2 = kexpr1
        anynull = " OR ".join(f"__k{i} IS NULL" for i in range(len(ks)))
        kl = ", ".join(f"__k{i}" for i in range(len(ks)))
        on = " AND ".join(f"a.__k{i} = b.__k{i}" for i in range(len(ks)))
        con.execute(f"CREATE TEMP VIEW a AS SELECT *, {kexpr1} FROM t1")
        con.execute(f"CREATE TEMP VIEW b AS SELECT *, {kexpr2} FROM t2")
        con.execute(f"""CREATE TEMP VIEW ka AS SELECT {kl}, count(*) AS n, min(__rid) AS rid FROM a
                        WHERE NOT ({anynull}) GROUP BY {kl}""")
        con.execute(f"""CREATE TEMP VIEW kb AS SELECT {kl}, count(*) AS n, min(__rid) AS rid FROM b
                        WHERE NOT ({anynull}) GROUP BY {kl}""")
        con.execute(f"""CREATE TEMP VIEW keys AS SELECT a.n AS na, b.n AS nb, a.rid AS ra, b.rid AS rb
                        FROM ka a FULL OUTER JOIN kb b ON {on}""")
        r = con.execute(f"""
            SELECT
              count(*) FILTER (WHERE na IS NOT NULL AND nb IS NOT NULL),
              count(*) FILTER (WHERE nb IS NULL),
              count(*) FILTER (WHERE na IS NULL),
              count(*) FILTER (WHERE na IS NOT NULL AND nb IS NOT NULL AND (na > 1 OR nb > 1)),
              count(*) FILTER (WHERE na > 1), count(*) FILTER (WHERE nb > 1),
              coalesce(sum(na - 1) FILTER (WHERE na > 1), 0), coalesce(sum(nb - 1) FILTER (WHERE nb > 1), 0),
              (SELECT count(*) FROM a WHERE {anynull}), (SELECT count(*) FROM b WHERE {anynull})
            FROM keys""").fetchone()
        rows = {"v1": v1, "v2": v2, "matched": r[0], "only_v1": r[1], "only_v2": r[2],
                "matched_duplicate_keys": r[3], "duplicate_keys_v1": r[4], "duplicate_keys_v2": r[5],
                "duplicate_rows_v1": r[6], "duplicate_rows_v2": r[7], "null_keys_v1": r[8], "null_keys_v2": r[9]}
        eqs = [_eq_sql(f"x.{q(n)}", f"y.{q(n)}", ty1[n], ty2[n], at, rt) for n in compared]
        sel = ", ".join(f"({e}) AS e{i}" for i, e in enumerate(eqs)) or "TRUE AS e_none"
        v2n = ", ".join(f"(x.{q(n)} IS NOT NULL AND y.{q(n)} IS NULL) AS vn{i}, "
                        f"(x.{q(n)} IS NULL AND y.{q(n)} IS NOT NULL) AS nv{i}" for i, n in enumerate(compared))
        con.execute(f"""CREATE TEMP TABLE pairs AS
            SELECT k.ra, k.rb, {sel}{', ' + v2n if v2n else ''}
            FROM keys k JOIN a x ON x.__rid = k.ra JOIN b y ON y.__rid = k.rb
            WHERE k.na = 1 AND k.nb = 1""")
        npairs = con.execute("SELECT count(*) FROM pairs").fetchone()[0]
        anydiff = " OR ".join(f"NOT e{i}" for i in range(len(compared))) or "FALSE"
        rows["changed"] = con.execute(f"SELECT count(*) FROM pairs WHERE {anydiff}").fetchone()[0]
        rows["unchanged"] = npairs - rows["changed"]
        out["rows"] = rows
        cols = {}
        for i, n in enumerate(compared):
            m, vn, nv = con.execute(f"SELECT count(*) FILTER (WHERE NOT e{i}), count(*) FILTER (WHERE vn{i}), "
                                    f"count(*) FILTER (WHERE nv{i}) FROM pairs").fetchone()
            cols[n] = {"compared": npairs, "mismatches": m, "value_to_null": vn, "null_to_value": nv}
        out["columns"] = cols
        names1 = [c["name"] for c in case.t1["columns"]]
        names2 = [c["name"] for c in case.t2["columns"]]
        kk = {k: kind2(ty1[k], ty2[k]) for k in ks}

        def key_of(spec: dict, names: list, rid: int) -> tuple:
            row = spec["rows"][rid]
            return tuple(canon(kk[k], row[names.index(k)]) for k in ks)

        changed = {}
        flags = ", ".join(f"e{i}" for i in range(len(compared))) or "TRUE"
        for rec in con.execute(f"SELECT ra, rb, {flags} FROM pairs WHERE {anydiff}").fetchall():
            ra, rb, fl = rec[0], rec[1], rec[2:]
            cells = {}
            for i, n in enumerate(compared):
                if not fl[i]:
                    cells[n] = (canon(kinds[n], case.t1["rows"][ra][names1.index(n)]),
                                canon(kinds[n], case.t2["rows"][rb][names2.index(n)]))
            changed[key_of(case.t1, names1, ra)] = cells
        out["changed"] = changed
        out["only_v1"] = sorted((key_of(case.t1, names1, ra) for (ra,) in
                                 con.execute("SELECT ra FROM keys WHERE nb IS NULL").fetchall()), key=repr)
        out["only_v2"] = sorted((key_of(case.t2, names2, rb) for (rb,) in
                                 con.execute("SELECT rb FROM keys WHERE na IS NULL").fetchall()), key=repr)
        # the sampled row of a one-sided key that occurs once: its compared columns
        for side, spec, names, sql in (
                ("only_v1_rows", case.t1, names1, "SELECT ra FROM keys WHERE nb IS NULL AND na = 1"),
                ("only_v2_rows", case.t2, names2, "SELECT rb FROM keys WHERE na IS NULL AND nb = 1")):
            out[side] = {key_of(spec, names, rid): tuple(canon(kinds[n], spec["rows"][rid][names.index(n)])
                                                         for n in compared)
                         for (rid,) in con.execute(sql).fetchall()}
        return out
    finally:
        con.close()


# ------------------------------------------------------------------ a second reference (for --self-test)


def _py_value(t: str, v: Any) -> Any:
    if v is None:
        return None
    if t == "float64":
        return writers.bits_to_float(writers.float_bits(v))
    if t in ("int32", "int64"):
        return int(v)
    if writers.is_decimal(t):
        return decimal.Decimal(v)
    return v


def _py_eq(a: Any, b: Any, numeric: bool, at: float, rt: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if not numeric:
        return a == b
    fa, fb = float(a), float(b)
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    if math.isinf(fa) or math.isinf(fb):
        return fa == fb
    if isinstance(a, decimal.Decimal) or isinstance(b, decimal.Decimal):
        return float(abs(decimal.Decimal(a) - decimal.Decimal(b))) <= at + rt * float(abs(decimal.Decimal(a)))
    if isinstance(a, int) and isinstance(b, int):
        return float(abs(a - b)) <= at + rt * float(abs(a))
    return abs(fa - fb) <= at + rt * abs(fa)


def python_reference(case: Case) -> dict:
    """The README rules in plain Python: used only to check the DuckDB SQL itself."""
    ty1, ty2 = _col_types(case.t1), _col_types(case.t2)
    n1 = [c["name"] for c in case.t1["columns"]]
    n2 = [c["name"] for c in case.t2["columns"]]
    compared = [n for n in n1 if n in ty2 and n not in case.keys and n not in case.ignore]
    kinds = {n: kind2(ty1[n], ty2[n]) for n in n1 if n in ty2}
    at, rt = case.abs_tol or 0.0, case.rel_tol or 0.0
    get1 = lambda r, n: _py_value(ty1[n], r[n1.index(n)])
    get2 = lambda r, n: _py_value(ty2[n], r[n2.index(n)])
    out: dict = {"compared_columns": compared}
    if not case.keys:
        def gkey(get, r):
            return tuple(canon(kinds[n], get(r, n)) for n in compared)
        c1: dict = {}
        c2: dict = {}
        for r in case.t1["rows"]:
            c1.setdefault(gkey(get1, r), []).append(r)
        for r in case.t2["rows"]:
            c2.setdefault(gkey(get2, r), []).append(r)
        only1 = [(k, len(v) - len(c2.get(k, []))) for k, v in c1.items() if len(v) > len(c2.get(k, []))]
        only2 = [(k, len(v) - len(c1.get(k, []))) for k, v in c2.items() if len(v) > len(c1.get(k, []))]
        out["rows"] = {"v1": len(case.t1["rows"]), "v2": len(case.t2["rows"]),
                       "only_v1": sum(c for _, c in only1), "only_v2": sum(c for _, c in only2)}
        out["only_v1"] = sorted(only1, key=repr)
        out["only_v2"] = sorted(only2, key=repr)
        return out
    kk = {k: kind2(ty1[k], ty2[k]) for k in case.keys}

    def groups(rows, get):
        g: dict = {}
        nulls = 0
        for r in rows:
            k = tuple(canon(kk[c], get(r, c)) for c in case.keys)
            if None in k:
                nulls += 1
            else:
                g.setdefault(k, []).append(r)
        return g, nulls

    g1, nk1 = groups(case.t1["rows"], get1)
    g2, nk2 = groups(case.t2["rows"], get2)
    matched = [k for k in g1 if k in g2]
    rows = {"v1": len(case.t1["rows"]), "v2": len(case.t2["rows"]), "matched": len(matched),
            "only_v1": sum(1 for k in g1 if k not in g2), "only_v2": sum(1 for k in g2 if k not in g1),
            "matched_duplicate_keys": sum(1 for k in matched if len(g1[k]) > 1 or len(g2[k]) > 1),
            "duplicate_keys_v1": sum(1 for v in g1.values() if len(v) > 1),
            "duplicate_keys_v2": sum(1 for v in g2.values() if len(v) > 1),
            "duplicate_rows_v1": sum(len(v) - 1 for v in g1.values()),
            "duplicate_rows_v2": sum(len(v) - 1 for v in g2.values()),
            "null_keys_v1": nk1, "null_keys_v2": nk2}
    cols = {n: {"compared": 0, "mismatches": 0, "value_to_null": 0, "null_to_value": 0} for n in compared}
    changed = {}
    for k in matched:
        if len(g1[k]) > 1 or len(g2[k]) > 1:
            continue
        a, b = g1[k][0], g2[k][0]
        cells = {}
        for n in compared:
            x, y = get1(a, n), get2(b, n)
            st = cols[n]
            st["compared"] += 1
            numeric = kinds[n] in ("num", "fnum")
            if not _py_eq(x, y, numeric, at, rt):
                st["mismatches"] += 1
                cells[n] = (canon(kinds[n], x), canon(kinds[n], y))
            st["value_to_null"] += x is not None and y is None
            st["null_to_value"] += x is None and y is not None
        if cells:
            changed[k] = cells
    rows["changed"] = len(changed)
    rows["unchanged"] = len(matched) - rows["matched_duplicate_keys"] - len(changed)
    out.update(rows=rows, columns=cols, changed=changed,
               only_v1=sorted((k for k in g1 if k not in g2), key=repr),
               only_v2=sorted((k for k in g2 if k not in g1), key=repr))
    return out


def self_test(seed: int, n: int) -> int:
    """Check the DuckDB SQL against the plain-Python reference on n generated cases."""
    bad = 0
    for i in range(n):
        c = generate(seed, i)
        d, p = expected(c), python_reference(c)
        for k in ("rows", "columns", "changed", "only_v1", "only_v2"):
            dv, pv = d.get(k), p.get(k)
            if k in ("only_v1", "only_v2"):
                dv, pv = sorted(dv or [], key=repr), sorted(pv or [], key=repr)
            if dv != pv:
                bad += 1
                print(f"self-test case {i}: {k}: duckdb {show_val(dv)} | python {show_val(pv)}")
    print(f"oracle self-test: {n} cases, {n - bad} agree (DuckDB SQL vs plain Python)")
    return 1 if bad else 0


# ------------------------------------------------------------------ diffgate's side


def observed(case: Case, report: dict) -> dict:
    """The same fields as expected(), read from a diffgate JSON report."""
    ty1, ty2 = _col_types(case.t1), _col_types(case.t2)
    kinds = {n: kind2(ty1[n], ty2[n]) for n in ty1 if n in ty2}
    rows = report.get("rows", {})
    out: dict = {}
    samples = report.get("samples", {})
    if not case.keys:
        compared = [n for n in kinds if n not in case.ignore]
        out["rows"] = {k: rows.get(k) for k in ("v1", "v2", "only_v1", "only_v2")}

        def rowt(s: dict) -> tuple:
            r = s.get("row", {})
            return (tuple(canon(kinds[n], r.get(n, "<absent>")) if n in r else "<absent>" for n in compared),
                    s.get("count"))

        out["only_v1"] = sorted((rowt(s) for s in samples.get("only_v1", [])), key=repr)
        out["only_v2"] = sorted((rowt(s) for s in samples.get("only_v2", [])), key=repr)
        out["keyed_fields_present"] = [k for k in ("matched", "changed", "unchanged") if rows.get(k) is not None]
        return out
    out["rows"] = {k: rows.get(k) for k in ("v1", "v2", "matched", "only_v1", "only_v2", "changed", "unchanged",
                                             "matched_duplicate_keys", "duplicate_keys_v1", "duplicate_keys_v2",
                                             "duplicate_rows_v1", "duplicate_rows_v2", "null_keys_v1", "null_keys_v2")}
    out["columns"] = {c["name"]: {k: c.get(k) for k in ("compared", "mismatches", "value_to_null", "null_to_value")}
                      for c in report.get("columns", [])}
    kk = {k: kind2(ty1[k], ty2[k]) for k in case.keys}

    def keyt(s: dict) -> tuple:
        key = s.get("key", {})
        return tuple(canon(kk[k], key[k]) if k in key else "<absent>" for k in case.keys)

    changed = {}
    for s in samples.get("changed", []):
        changed[keyt(s)] = {c["column"]: (canon(kinds.get(c["column"], "text"), c.get("v1")),
                                          canon(kinds.get(c["column"], "text"), c.get("v2")))
                            for c in s.get("cells", [])}
    out["changed"] = changed
    out["changed_samples"] = len(samples.get("changed", []))
    out["only_v1"] = sorted((keyt(s) for s in samples.get("only_v1", [])), key=repr)
    out["only_v2"] = sorted((keyt(s) for s in samples.get("only_v2", [])), key=repr)
    compared = [n for n in kinds if n not in case.keys and n not in case.ignore]
    for side in ("only_v1", "only_v2"):
        out[side + "_rows"] = {keyt(s): tuple(canon(kinds[n], s.get("row", {})[n]) if n in s.get("row", {})
                                              else "<absent>" for n in compared)
                               for s in samples.get(side, [])}
    return out


def compare(case: Case, exp: dict, obs: dict) -> list[tuple[str, Any, Any]]:
    """(field, diffgate's value, DuckDB's value) for every disagreement."""
    bad = []
    for k, v in exp["rows"].items():
        if obs["rows"].get(k) != v:
            bad.append((f"rows.{k}", obs["rows"].get(k), v))
    if not case.keys:
        if obs.get("keyed_fields_present"):
            bad.append(("rows (keyless: keyed fields must be absent)", obs["keyed_fields_present"], []))
        for side in ("only_v1", "only_v2"):
            e = sorted(exp[side], key=repr)
            if obs[side] != e:
                bad.append((f"samples.{side} (row, count)", obs[side], e))
        return bad
    for n, stats in exp["columns"].items():
        got = obs["columns"].get(n)
        if got is None:
            bad.append((f"columns.{n}", "absent", stats))
            continue
        for k, v in stats.items():
            if got.get(k) != v:
                bad.append((f"columns.{n}.{k}", got.get(k), v))
    extra = [n for n, s in obs["columns"].items() if n not in exp["columns"] and (s.get("compared") or 0) > 0]
    if extra:
        bad.append(("columns compared that should not be", extra, []))
    if obs["changed_samples"] != len(obs["changed"]):
        bad.append(("samples.changed: a key sampled twice", obs["changed_samples"], len(obs["changed"])))
    ek, ok = set(exp["changed"]), set(obs["changed"])
    if ek != ok:
        bad.append(("samples.changed keys",
                    {"extra (not changed per README)": {repr(k): obs["changed"][k] for k in sorted(ok - ek, key=repr)},
                     "missing (changed per README)": {repr(k): exp["changed"][k] for k in sorted(ek - ok, key=repr)}},
                    sorted(ek, key=repr)))
    for k in sorted(ek & ok, key=repr):
        e, o = exp["changed"][k], obs["changed"][k]
        if set(e) != set(o):
            bad.append((f"samples.changed[{k}] differing columns", sorted(o), sorted(e)))
        for c in set(e) & set(o):
            if e[c] != o[c]:
                bad.append((f"samples.changed[{k}].{c} (v1, v2)", o[c], e[c]))
    for side in ("only_v1", "only_v2"):
        e = sorted(exp[side], key=repr)
        if obs[side] != e:
            bad.append((f"samples.{side} keys", obs[side], e))
        for k, row in exp[side + "_rows"].items():
            got = obs[side + "_rows"].get(k)
            if got is not None and got != row:
                bad.append((f"samples.{side}[{k}].row ({', '.join(exp['compared_columns'])})", got, row))
    return bad


# ------------------------------------------------------------------ running a case


@dataclass
class Result:
    case: Case
    disagreements: list
    seconds: float
    cmd: list
    folder: str
    error: str = ""


def run_diffgate(diffgate: str, args: list[str], timeout: float = 120) -> tuple[int, str, str]:
    for attempt in range(8):
        try:
            p = subprocess.run([diffgate] + args, capture_output=True, text=True, timeout=timeout)
        except OSError:  # missing or "text file busy": the binary is being rebuilt; retry
            if attempt == 7:
                raise
            time.sleep(5 * (attempt + 1))
            continue
        except subprocess.TimeoutExpired:
            return -1, "", f"timed out after {timeout}s"
        return p.returncode, p.stdout, p.stderr
    raise RuntimeError("unreachable")


def run_case(case: Case, diffgate: str, folder: str) -> Result:
    t0 = time.monotonic()
    os.makedirs(folder, exist_ok=True)
    e1 = writers.write_table(case.variant1, case.t1, os.path.join(folder, "v1"))
    e2 = writers.write_table(case.variant2, case.t2, os.path.join(folder, "v2"))
    args = case.args(os.path.relpath(e1["path"], folder), os.path.relpath(e2["path"], folder))
    with open(os.path.join(folder, "repro.json"), "w") as f:
        json.dump({"command": "diffgate " + shlex.join(args), "variants": [case.variant1, case.variant2],
                   "keys": case.keys, "abs_tol": case.abs_tol, "rel_tol": case.rel_tol, "ignore": case.ignore,
                   "tables": [case.t1, case.t2]}, f, indent=1, ensure_ascii=False)
    code, out, err = run_diffgate(diffgate, args_abs(args, folder))
    res = Result(case, [], 0.0, args, folder)
    if code not in (0, 1):
        res.disagreements.append(("exit code", f"{code}: {err.strip()[:2000]}", "0 or 1"))
    else:
        try:
            report = json.loads(out)
        except json.JSONDecodeError as e:
            res.disagreements.append(("stdout is not JSON", f"{e}: {out[:300]!r}", "a JSON report"))
        else:
            try:
                exp = expected(case)
            except Exception as e:  # noqa: BLE001
                res.error = f"oracle error: {type(e).__name__}: {e}"
                res.disagreements.append(("oracle", "-", res.error))
            else:
                res.disagreements = compare(case, exp, observed(case, report))
                want_mode = "keyed" if case.keys else "keyless"
                if report.get("comparison", {}).get("mode") != want_mode:
                    res.disagreements.append(("comparison.mode", report.get("comparison", {}).get("mode"), want_mode))
    res.seconds = time.monotonic() - t0
    return res


def args_abs(args: list[str], folder: str) -> list[str]:
    out = list(args)
    out[1] = os.path.join(folder, args[1])
    out[2] = os.path.join(folder, args[2])
    return out


# ------------------------------------------------------------------ shrinking


def shrink(case: Case, diffgate: str, folder: str, fields: set[str], budget: int = 80) -> tuple[Case, Result]:
    """Greedy: drop rows and columns while one of `fields` still disagrees."""
    best = copy.deepcopy(case)
    best_res = run_case(best, diffgate, folder)
    tries = 0

    def still(c: Case) -> Result | None:
        nonlocal tries
        tries += 1
        try:
            r = run_case(c, diffgate, folder)
        except Exception:  # noqa: BLE001 - a variant that cannot write the smaller table
            return None
        return r if {_field_kind(d[0]) for d in r.disagreements} & fields else None

    changed = True
    while changed and tries < budget:
        changed = False
        for side in ("t1", "t2"):
            i = 0
            while i < len(getattr(best, side)["rows"]) and tries < budget:
                c = copy.deepcopy(best)
                del getattr(c, side)["rows"][i]
                r = still(c)
                if r:
                    best, best_res, changed = c, r, True
                else:
                    i += 1
        names = [col["name"] for col in best.t1["columns"]]
        names += [col["name"] for col in best.t2["columns"] if col["name"] not in names]
        for n in names:
            if n in best.keys or tries >= budget:
                continue
            c = copy.deepcopy(best)
            for t in (c.t1, c.t2):
                idx = [col["name"] for col in t["columns"]].index(n) if n in [col["name"] for col in t["columns"]] else None
                if idx is not None:
                    del t["columns"][idx]
                    for row in t["rows"]:
                        del row[idx]
            c.ignore = [x for x in c.ignore if x != n]
            if not [col for col in c.t1["columns"] if col["name"] not in c.keys] and not c.keys:
                continue
            r = still(c)
            if r:
                best, best_res, changed = c, r, True
        for attr in ("abs_tol", "rel_tol"):
            if getattr(best, attr) is not None and tries < budget:
                c = copy.deepcopy(best)
                setattr(c, attr, None)
                r = still(c)
                if r:
                    best, best_res, changed = c, r, True
        if best.variant1 != "pyarrow-default" or best.variant2 != "pyarrow-default":
            c = copy.deepcopy(best)
            c.variant1 = c.variant2 = "pyarrow-default"
            c.ignore = [x for x in c.ignore if x != "__index_level_0__"]
            r = still(c)
            if r:
                best, best_res, changed = c, r, True
    return best, best_res


def _field_kind(f: str) -> str:
    return re.sub(r"\[.*?\]", "[]", f)


# ------------------------------------------------------------------ output


def describe(res: Result, full: bool = True) -> str:
    c = res.case
    lines = [f"--- case {c.index}: {'keyed on ' + ','.join(c.keys) if c.keys else 'keyless'}"
             f"{', abs_tol ' + repr(c.abs_tol) if c.abs_tol is not None else ''}"
             f"{', rel_tol ' + repr(c.rel_tol) if c.rel_tol is not None else ''}"
             f"{', ignore ' + ','.join(c.ignore) if c.ignore else ''}; "
             f"v1 written by {c.variant1}, v2 by {c.variant2}; --threads {c.threads}",
             f"    files: {res.folder}", f"    diffgate {shlex.join(args_abs(res.cmd, res.folder))}"]
    if full:
        for label, t in (("v1", c.t1), ("v2", c.t2)):
            cols = ", ".join(f"{col['name']} {col['type']}" for col in t["columns"])
            lines.append(f"    {label} ({len(t['rows'])} rows; {cols}):")
            for r in t["rows"]:
                lines.append("      " + show(r))
    for fld, got, want in res.disagreements:
        lines.append(f"    {fld}: diffgate {show_val(got)}  |  duckdb {show_val(want)}")
    return "\n".join(lines)


def show_val(v: Any) -> str:
    try:
        return json.dumps(v, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(v)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="seeded DuckDB oracle for diffgate diff")
    ap.add_argument("--diffgate", help="path to the diffgate binary (required unless --self-test)")
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--case", type=int, action="append", help="run only this case index (repeatable)")
    ap.add_argument("--workdir", help="keep every case's files here (default: a temporary folder, kept only for "
                                      "disagreeing cases)")
    ap.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    ap.add_argument("--shrink", type=int, default=0, metavar="K", help="shrink the first K disagreeing cases")
    ap.add_argument("--verbose", action="store_true", help="print one line per case")
    ap.add_argument("--variants", help="comma-separated writers.py variants (shell patterns) to draw from; "
                                       "default: all. Changes which variant a case gets, not its rows")
    ap.add_argument("--self-test", action="store_true",
                    help="check the DuckDB SQL against a plain-Python reference on --cases cases (no diffgate run)")
    a = ap.parse_args(argv)
    if a.variants:
        import fnmatch
        pats = [x.strip() for x in a.variants.split(",") if x.strip()]
        chosen = sorted(n for n in writers.VARIANTS if any(fnmatch.fnmatch(n, pt) for pt in pats))
        if not chosen:
            ap.error(f"--variants {a.variants}: matches none of {sorted(writers.VARIANTS)}")
        ALLOWED_VARIANTS[:] = chosen
    if a.self_test:
        return self_test(a.seed, a.cases)
    if not a.diffgate:
        ap.error("--diffgate PATH is required")
    diffgate = os.path.abspath(a.diffgate)
    if not os.access(diffgate, os.X_OK):
        print(f"oracle: {diffgate} is not an executable", file=sys.stderr)
        return 2
    keep_all = a.workdir is not None
    root = os.path.abspath(a.workdir) if a.workdir else tempfile.mkdtemp(prefix="diffgate-oracle-")
    os.makedirs(root, exist_ok=True)
    indices = a.case if a.case else list(range(a.cases))
    t0 = time.monotonic()
    cases = [generate(a.seed, i) for i in indices]
    with cf.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        futs = [pool.submit(run_case, c, diffgate, os.path.join(root, f"case-{c.index:04d}")) for c in cases]
        results = []
        for f in futs:
            r = f.result()
            results.append(r)
            if a.verbose:
                print(f"case {r.case.index}: {'agree' if not r.disagreements else 'DISAGREE'} "
                      f"({r.case.variant1}/{r.case.variant2}, {r.seconds:.2f}s)", file=sys.stderr)
    elapsed = time.monotonic() - t0
    bad = [r for r in results if r.disagreements]
    if not keep_all:
        for r in results:
            if not r.disagreements:
                shutil.rmtree(r.folder, ignore_errors=True)
    print(f"oracle: {len(results)} cases, {len(results) - len(bad)} agree")
    print(f"oracle: seed {a.seed}, {elapsed:.1f}s, files in {root}", file=sys.stderr)
    kinds: dict[str, list[int]] = {}
    for r in bad:
        for d in r.disagreements:
            kinds.setdefault(_field_kind(d[0]), []).append(r.case.index)
    if kinds:
        print("disagreeing fields: " + "; ".join(f"{k} (cases {sorted(set(v))[:12]})" for k, v in sorted(kinds.items())))
    for r in bad:
        print(describe(r))
        # Does it depend on the writer? The same rows through pyarrow without statistics.
        alt = copy.deepcopy(r.case)
        if (alt.variant1, alt.variant2) != ("pyarrow-nostats", "pyarrow-nostats"):
            alt.variant1 = alt.variant2 = "pyarrow-nostats"
            alt.ignore = [x for x in alt.ignore if x != "__index_level_0__"]
            ar = run_case(alt, diffgate, r.folder + "-nostats")
            verdict = "agree" if not ar.disagreements else "still disagree (" + ", ".join(
                sorted({_field_kind(d[0]) for d in ar.disagreements})) + ")"
            print(f"    same rows written by pyarrow-nostats on both sides: {verdict}")
            if not ar.disagreements:
                shutil.rmtree(ar.folder, ignore_errors=True)
    if a.shrink and bad:
        print(f"\n=== shrunk reproductions (first {a.shrink} disagreeing cases)")
        for r in bad[: a.shrink]:
            fields = {_field_kind(d[0]) for d in r.disagreements}
            small, sres = shrink(r.case, diffgate, r.folder + "-min", fields)
            print(describe(sres))
    if not keep_all and not bad:
        shutil.rmtree(root, ignore_errors=True)
    if any(r.error for r in results):
        return 2
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
