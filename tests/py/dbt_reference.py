"""The reference diff of a dbt project's two versions, built by real dbt.

Builds each version with dbt-core and dbt-duckdb (`dbt seed`, `dbt run`,
`dbt test`, in a copy, with a DuckDB profile of its own), then counts in
DuckDB, for each model given with its key, what diffgate reports: rows of v1
and v2, rows only in one version, matched rows with any shared column
different (NULL equal to NULL), and columns added or removed. Under
`__tests__`, by version, each generic test dbt ran on a model: the model,
the test, its column and how many rows dbt found failing.

    python dbt_reference.py V1_DIR V2_DIR '{"orders": ["order_id"]}' [PACKAGES_DIR]

prints one JSON object, by model (and `__tests__`). PACKAGES_DIR, when given, is installed as
`dbt_packages/` into a version that has none. Needs tests/py/requirements-dbt.txt.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import duckdb
import yaml


def build(src, work, name, shared, packages):
    project = work / name
    shutil.copytree(src, project, ignore=shutil.ignore_patterns("target", "logs"))
    config = yaml.safe_load((project / "dbt_project.yml").read_text())
    profile = config["profile"]
    # Seeds and installed packages are shared inputs: a version without
    # its own takes v2's, as diffgate does.
    seeds = config.get("seed-paths", config.get("data-paths", ["seeds"]))
    for folder in ["dbt_packages", *seeds]:
        if not (project / folder).exists() and (shared / folder).exists():
            shutil.copytree(shared / folder, project / folder)
    if packages and not (project / "dbt_packages").exists():
        shutil.copytree(packages, project / "dbt_packages")
    profiles = work / f"profiles_{name}"
    profiles.mkdir()
    # The same database name for both builds: relation names that dbt
    # writes into data (union_relations' source column) hold it.
    (work / f"db_{name}").mkdir()
    db = work / f"db_{name}" / "dev.duckdb"
    outputs = {"dev": {"type": "duckdb", "path": str(db), "schema": "main", "threads": 1}}
    (profiles / "profiles.yml").write_text(
        yaml.safe_dump({profile: {"target": "dev", "outputs": outputs}})
    )
    dbt = pathlib.Path(sys.executable).parent / "dbt"
    env = dict(os.environ, DO_NOT_TRACK="1", DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    for command in ("seed", "run", "test"):
        args = [str(dbt), command, "--project-dir", str(project), "--profiles-dir", str(profiles)]
        out = subprocess.run(args, env=env, cwd=project, capture_output=True, text=True)
        # `dbt test` exits 1 when a test fails: that is a result, read below.
        failed_tests = command == "test" and out.returncode == 1
        if out.returncode != 0 and not failed_tests:
            sys.exit(f"dbt {command} of {src} failed:\n{out.stdout}\n{out.stderr}")
    return db, tests(project / "target", src)


def tests(target, src):
    """Each generic test dbt ran: [model, test, column, failing rows]."""
    manifest = json.loads((target / "manifest.json").read_text())
    results = json.loads((target / "run_results.json").read_text())["results"]
    out = []
    for r in results:
        # Unit tests (manifest["unit_tests"]) check SQL on fixed rows, not data.
        node = manifest["nodes"].get(r["unique_id"], {})
        meta = node.get("test_metadata") or {}
        attached = node.get("attached_node") or ""
        if not meta or not attached.startswith("model."):
            continue
        if r["status"] not in ("pass", "fail"):
            sys.exit(f"dbt test {r['unique_id']} of {src}: {r['status']}: {r.get('message')}")
        column = node.get("column_name") or meta.get("kwargs", {}).get("column_name")
        model = manifest["nodes"][attached]["name"]
        out.append([model, meta["name"], column, r["failures"] or 0])
    return sorted(out)


def columns(con, db, model):
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_catalog = ? and table_schema = 'main' and table_name = ? "
        "order by ordinal_position",
        [db, model],
    ).fetchall()
    return [r[0] for r in rows]


def counts(con, model, key):
    c1, c2 = columns(con, "v1", model), columns(con, "v2", model)
    shared = [c for c in c1 if c in c2 and c not in key]
    on = " and ".join(f'a."{k}" = b."{k}"' for k in key)
    same = " and ".join(f'a."{c}" is not distinct from b."{c}"' for c in shared) or "true"
    one = lambda sql: con.execute(sql).fetchone()[0]
    t1, t2 = f'v1.main."{model}"', f'v2.main."{model}"'
    return {
        "v1": one(f"select count(*) from {t1}"),
        "v2": one(f"select count(*) from {t2}"),
        "only_v1": one(f"select count(*) from {t1} a where not exists (select 1 from {t2} b where {on})"),
        "only_v2": one(f"select count(*) from {t2} b where not exists (select 1 from {t1} a where {on})"),
        "changed": one(f"select count(*) from {t1} a join {t2} b on {on} where not ({same})"),
        "added": [c for c in c2 if c not in c1],
        "removed": [c for c in c1 if c not in c2],
    }


def main():
    v1, v2, keys = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    packages = pathlib.Path(sys.argv[4]) if len(sys.argv) > 4 else None
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        shared = pathlib.Path(v2)
        built = {name: build(src, work, name, shared, packages) for name, src in (("v1", v1), ("v2", v2))}
        con = duckdb.connect()
        for name, (db, _) in built.items():
            con.execute(f"attach '{db}' as {name} (read_only)")
        out = {m: counts(con, m, k) for m, k in keys.items()}
        out["__tests__"] = {name: t for name, (_, t) in built.items()}
        print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
