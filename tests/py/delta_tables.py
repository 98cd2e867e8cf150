"""Delta tables written by delta-rs's own Python writer, for tests/it/tables.rs.

    delta_tables.py OUT           write OUT/orders (versions 0, 1, 2) and, for
                                  each version N, OUT/orders_vN.parquet: the
                                  same rows as pyarrow reads them from Delta
    delta_tables.py append OUT    commit one more version to OUT/orders

Version 0 is 300 rows partitioned by region; version 1 deletes every tenth
order (files rewritten, the old ones left in the folder, as Delta does);
version 2 raises five amounts. Read as a folder of Parquet files, the table
would still hold the deleted rows.
"""

import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake


def orders(ids):
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "amount": pa.array([round(i * 1.25, 2) for i in ids], pa.float64()),
            "status": pa.array(["paid" if i % 3 else "open" for i in ids]),
            "region": pa.array(["eu" if i % 2 else "us" for i in ids]),
        }
    )


def main():
    if sys.argv[1] == "append":
        table = f"{sys.argv[2]}/orders"
        write_deltalake(table, orders(list(range(1000, 1010))), mode="append")
        return
    out = sys.argv[1]
    table = f"{out}/orders"
    write_deltalake(table, orders(list(range(1, 301))), partition_by=["region"])
    dt = DeltaTable(table)
    dt.delete("id % 10 = 0")
    dt = DeltaTable(table)
    dt.update(predicate="id <= 5", updates={"amount": "amount + 1"})
    for version in range(3):
        rows = DeltaTable(table, version=version).to_pyarrow_table().sort_by("id")
        pq.write_table(rows, f"{out}/orders_v{version}.parquet")


if __name__ == "__main__":
    main()
    # deltalake's runtime threads can abort the interpreter's teardown
    # ("terminate called without an active exception", about one run in
    # twelve here) after every table is written: leave without it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
