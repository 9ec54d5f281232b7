"""Runs Feast's get_historical_features on files described by a JSON spec, and writes each result to Parquet.

Usage: python historical.py spec.json   (python from bench/feast/setup.sh)

The spec (written by tests/helpers/feast-oracle.ts):
    {
      "repo_dir": "/tmp/x/feast_repo",           # created here: feature_store.yaml, registry, online store
      "project": "oracle",
      "offline_store": "duckdb",                 # optional: "duckdb" (default) or "file" (pandas/dask)
      "entities": [{"name": "user", "join_key": "user_id", "type": "int64"}],
      "views": [{"name": "a", "entities": ["user"], "source_path": "/tmp/x/a.parquet",
                 "timestamp_field": "event_ts", "created_timestamp_field": "created_ts" | null,
                 "ttl_seconds": 7200, "features": [{"name": "f_int", "type": "int64"}],
                 "field_mapping": {"price": "item_price"}}],   # optional: source column -> feature
      "cases": [{"name": "seed1", "views": ["a"], "spine_path": "/tmp/x/spine.parquet",
                 "output_path": "/tmp/x/out.parquet"}]
    }

A source_path may be a glob (`<dir>/**/*.parquet` over a hive-partitioned folder): Feast's DuckDB store reads it
with ibis.read_parquet, and the partition columns DuckDB adds are not features, so they are left out.

Every view of every case is applied once (FeatureStore.apply) so the slow part, starting Python and Feast, is
paid once per test run. Each case's spine is read from Parquet into pandas (nullable integers stay integers),
and the result is taken with `to_arrow()` so integer features with NULLs are not turned into floats. Prints one
JSON line with the seconds each step took; with `"profile": true` in the spec, also where each case's time went
(DuckDB's native calls, Arrow's, the rest), from cProfile.
"""

import cProfile
import json
import pstats
import sys
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Array, Bool, Float32, Float64, Int32, Int64, String, UnixTimestamp

FEATURE_TYPES = {
    "int64": Int64,
    "int32": Int32,
    "float32": Float32,
    "float64": Float64,
    "string": String,
    "bool": Bool,
    "timestamp": UnixTimestamp,
    "list<string>": Array(String),
}
KEY_TYPES = {"int64": ValueType.INT64, "string": ValueType.STRING}


def feature_store_yaml(spec: dict) -> str:
    repo = Path(spec["repo_dir"])
    return "\n".join(
        [
            f"project: {spec['project']}",
            f"registry: {repo / 'registry.db'}",
            "provider: local",
            "offline_store:",
            # "duckdb" (the default) or "file" (Feast's pandas/dask store), for the speed comparison.
            f"  type: {spec.get('offline_store', 'duckdb')}",
            "online_store:",
            "  type: sqlite",
            f"  path: {repo / 'online_store.db'}",
            "entity_key_serialization_version: 3",
            "",
        ]
    )


def definitions(spec: dict) -> list:
    entities = {
        e["name"]: Entity(name=e["name"], join_keys=[e["join_key"]], value_type=KEY_TYPES[e["type"]])
        for e in spec["entities"]
    }
    views = []
    for v in spec["views"]:
        source = FileSource(
            name=f"{v['name']}_src",
            path=v["source_path"],
            timestamp_field=v["timestamp_field"],
            created_timestamp_column=v.get("created_timestamp_field") or "",
            # Source column -> feature name where they differ (Feast's direction; Tessera's `columns` is the reverse).
            field_mapping=v.get("field_mapping") or None,
        )
        views.append(
            FeatureView(
                name=v["name"],
                entities=[entities[n] for n in v["entities"]],
                ttl=timedelta(seconds=v["ttl_seconds"]),
                schema=[Field(name=f["name"], dtype=FEATURE_TYPES[f["type"]]) for f in v["features"]],
                source=source,
                online=False,
            )
        )
    return [*entities.values(), *views]


def read_spine(path: str) -> pd.DataFrame:
    # Nullable pandas dtypes: a NULL key stays NULL in an integer column instead of making it float64.
    mapping = {pa.int64(): pd.Int64Dtype(), pa.string(): pd.StringDtype()}
    return pq.read_table(path).to_pandas(types_mapper=mapping.get)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    timings = {}
    started = time.perf_counter()
    repo = Path(spec["repo_dir"])
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(feature_store_yaml(spec))
    store = FeatureStore(repo_path=str(repo))
    store.apply(definitions(spec))
    timings["apply"] = time.perf_counter() - started
    features_of = {v["name"]: v["features"] for v in spec["views"]}
    profiles = {}
    for case in spec["cases"]:
        profiler = cProfile.Profile() if spec.get("profile") else None
        t0 = time.perf_counter()
        if profiler:
            profiler.enable()
        refs = [f"{view}:{f['name']}" for view in case["views"] for f in features_of[view]]
        job = store.get_historical_features(
            entity_df=read_spine(case["spine_path"]), features=refs, full_feature_names=True
        )
        pq.write_table(job.to_arrow(), case["output_path"])
        if profiler:
            profiler.disable()
            profiles[case["name"]] = where_time_went(profiler)
        timings[case["name"]] = time.perf_counter() - t0
    out = {"feast": __import__("feast").__version__, "seconds": timings}
    if profiles:
        out["profile"] = profiles
    print(json.dumps(out))


def where_time_went(profiler: cProfile.Profile) -> dict:
    """Seconds spent inside DuckDB's and Arrow's native calls (self time of their C functions), and in total.

    DuckDB executes queries inside calls like `DuckDBPyConnection.execute` / `fetch_record_batch`; their self time
    is the engine's time. What is left is Python: Feast, ibis building the query, pandas.
    """
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)
    total = sum(tt for (_, _, tt, _, _) in stats.values())
    duckdb_s = sum(tt for (f, _, name), (_, _, tt, _, _) in stats.items() if "duckdb" in name or "duckdb" in f)
    arrow_s = sum(tt for (f, _, name), (_, _, tt, _, _) in stats.items() if "pyarrow" in name or "pyarrow" in f)
    return {"total": total, "duckdb": duckdb_s, "arrow": arrow_s, "python_and_other": total - duckdb_s - arrow_s}


if __name__ == "__main__":
    main()
