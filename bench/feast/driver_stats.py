"""Feast's own driver-stats sample, made with Feast's generator, written as Parquet for both systems.

Usage: python driver_stats.py OUT_DIR [SEED]   (python from bench/feast/setup.sh)

Writes OUT_DIR/driver_stats.parquet (feast.driver_test_data.create_driver_hourly_stats_df: hourly rows per
driver with conv_rate, acc_rate (float32), avg_daily_trips (int64), a `created` timestamp and two duplicated
rows, as in Feast's quickstart) and OUT_DIR/orders.parquet (create_orders_df: the entity dataframe Feast's
tutorials join against). Feast's generator mixes timestamp kinds in the orders (aware, naive, …); they are
written as UTC instants. Its complex-typed example columns (driver_metadata, driver_config, driver_profile) are
left out: they illustrate Feast's map/JSON/struct types, which the comparison does not use.
"""

import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from feast.driver_test_data import create_driver_hourly_stats_df, create_orders_df

DRIVERS = list(range(5001, 5011))
CUSTOMERS = list(range(1001, 1011))
END = datetime(2021, 4, 12, 8, 0, tzinfo=timezone.utc)
START = datetime(2021, 3, 29, 8, 0, tzinfo=timezone.utc)


def main() -> None:
    out = Path(sys.argv[1])
    np.random.seed(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    out.mkdir(parents=True, exist_ok=True)
    stats = create_driver_hourly_stats_df(DRIVERS, START, END)
    stats = stats.drop(columns=["driver_metadata", "driver_config", "driver_profile"], errors="ignore")
    stats["event_timestamp"] = pd.to_datetime(stats["event_timestamp"], utc=True)
    stats["created"] = pd.to_datetime(stats["created"]).dt.tz_localize("UTC")
    stats.to_parquet(out / "driver_stats.parquet", index=False)
    orders = create_orders_df(CUSTOMERS, DRIVERS, START, END, order_count=2000)
    orders["event_timestamp"] = pd.to_datetime(orders["event_timestamp"], utc=True)
    orders = orders.reset_index(drop=True)
    orders.to_parquet(out / "orders.parquet", index=False)
    print(f"{len(stats)} driver-stats rows, {len(orders)} orders")


if __name__ == "__main__":
    main()
