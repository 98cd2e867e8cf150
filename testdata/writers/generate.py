#!/usr/bin/env python3
"""Regenerate the Parquet files other writers made, for the regression tests
in tests/it/writers.rs. Needs pyarrow, polars and duckdb (tests/py/requirements.txt):

    python3 testdata/writers/generate.py

Each file is small and committed, so the tests need no Python. Every pair
reproduces a way a reader went wrong on ordinary files:

  constant_v1/v2      pyarrow with statistics, every compared column constant
                      (the planner folded it into a scalar: a panic)
  polars_constant_*   the same table written by Polars
  duckdb_constant_*   the same table written by DuckDB
  all_null_v1/v2      a column that is NULL throughout (statistics: all nulls)
  nan_stats           [1.0, NaN]: min = max = 1.0 in the statistics, which
                      leave NaN out (read as all 1.0), and the same rows
  nan_nostats         written without statistics
  nan_row_groups      [NaN, NaN, 1.0, 1.0] in row groups of two: the first
                      group has no bounds, the second min = max = 1.0
  empty_v1/v2         no rows at all
"""
import os

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name + ".parquet")


def main():
    v1 = pa.table({"id": [1, 2], "b": [2, 2]})
    v2 = pa.table({"id": [1, 2], "b": [2, 5]})
    pq.write_table(v1, path("constant_v1"))
    pq.write_table(v2, path("constant_v2"))
    pl.from_arrow(v1).write_parquet(path("polars_constant_v1"))
    pl.from_arrow(v2).write_parquet(path("polars_constant_v2"))
    con = duckdb.connect()
    for name, t in [("duckdb_constant_v1", v1), ("duckdb_constant_v2", v2)]:
        con.register("t", t)
        con.execute(f"COPY t TO '{path(name)}' (FORMAT parquet)")
        con.unregister("t")

    nulls = pa.array([None, None], pa.int64())
    pq.write_table(pa.table({"id": [1, 2], "b": nulls}), path("all_null_v1"))
    pq.write_table(pa.table({"id": [1, 2], "b": [None, 7]}), path("all_null_v2"))

    nan = pa.table({"k": [1, 2], "x": [1.0, float("nan")]})
    pq.write_table(nan, path("nan_stats"))
    pq.write_table(nan, path("nan_nostats"), write_statistics=False)
    groups = pa.table({"k": [1, 2, 3, 4], "x": [float("nan"), float("nan"), 1.0, 1.0]})
    pq.write_table(groups, path("nan_row_groups"), row_group_size=2)
    pq.write_table(groups, path("nan_row_groups_nostats"), write_statistics=False)

    empty = pa.table({"id": pa.array([], pa.int64()), "b": pa.array([], pa.int64())})
    pq.write_table(empty, path("empty_v1"))
    pq.write_table(empty, path("empty_v2"))


if __name__ == "__main__":
    main()
