#!/usr/bin/env python3
"""Regenerate the bundled test data. Deterministic: same script, same bytes.

    python3 testdata/generate.py

Writes (all small, all committed):
  shop/customers.csv   60 customers
  shop/orders.csv      600 orders (3 unit prices carry a third decimal)
  shop/addresses.csv   one primary address per customer, 6 with a second one
  api/users.json       a REST API response: a JSON array of 25 user objects
  api/orders.csv       orders of 20 of those users
  weather/forecast.json  Open-Meteo-shaped hourly forecasts for 3 places
"""
import csv
import datetime
import json
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))


def out(*parts):
    path = os.path.join(HERE, *parts)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def write_csv(path, header, rows):
    with open(out(*path), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def main():
    rng = random.Random(20261123)
    countries = ["DE", "FR", "NL", "PL", "SE", "ES"]
    first = ["Ada", "Bo", "Cem", "Dana", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo"]
    last = ["Berg", "Costa", "Dahl", "Eder", "Falk", "Gray"]

    customers = []
    for cid in range(1, 61):
        name = f"{rng.choice(first)} {rng.choice(last)}"
        signup = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        customers.append([cid, name, rng.choice(countries), signup])
    write_csv(("shop", "customers.csv"), ["customer_id", "name", "country", "signup_date"], customers)

    statuses = ["placed"] * 2 + ["shipped"] * 4 + ["delivered"] * 5 + ["cancelled", "returned"]
    three_decimals = {17: 4.567, 230: 12.349, 444: 7.005}
    orders = []
    for oid in range(1, 601):
        cid = rng.randint(1, 58)  # customers 59 and 60 never order
        price = three_decimals.get(oid, round(rng.randint(199, 9999) / 100, 2))
        day = rng.randint(0, 89)
        date = (datetime.date(2026, 1, 1) + datetime.timedelta(days=day)).isoformat()
        orders.append([oid, cid, date, rng.choice(statuses), rng.randint(1, 5), f"{price:.3f}".rstrip("0").rstrip(".") if oid in three_decimals else f"{price:.2f}"])
    write_csv(("shop", "orders.csv"), ["order_id", "customer_id", "order_date", "status", "quantity", "unit_price"], orders)

    cities = ["Berlin", "Paris", "Utrecht", "Krakow", "Malmo", "Sevilla", "Lyon", "Gdansk"]
    addresses = []
    aid = 1
    for cid in range(1, 61):
        addresses.append([aid, cid, rng.choice(cities), "true"])
        aid += 1
        if cid % 10 == 3:
            addresses.append([aid, cid, rng.choice(cities), "false"])
            aid += 1
    write_csv(("shop", "addresses.csv"), ["address_id", "customer_id", "city", "is_primary"], addresses)

    plans = ["free", "pro", "team"]
    users = []
    for uid in range(101, 126):
        users.append({
            "id": uid,
            "name": f"{rng.choice(first)} {rng.choice(last)}",
            "email": f"user{uid}@example.com",
            "plan": rng.choice(plans),
            "address": {"city": rng.choice(cities), "country": rng.choice(countries)},
        })
    with open(out("api", "users.json"), "w") as f:
        json.dump(users, f, indent=2)
        f.write("\n")
    api_orders = []
    oid = 9001
    for uid in range(101, 121):  # users 121..125 have no orders
        for _ in range(rng.randint(1, 4)):
            api_orders.append([oid, uid, f"{rng.randint(500, 25000) / 100:.2f}", f"2026-03-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z"])
            oid += 1
    write_csv(("api", "orders.csv"), ["order_id", "user_id", "amount", "created_at"], api_orders)

    places = [("Berlin", 52.52, 13.41), ("Lisbon", 38.72, -9.14), ("Oslo", 59.91, 10.75)]
    forecasts = []
    for name, lat, lon in places:
        hours = [f"2026-11-{20 + h // 24:02d}T{h % 24:02d}:00" for h in range(48)]
        base = {"Berlin": 4.0, "Lisbon": 15.0, "Oslo": -2.0}[name]
        temp = [round(base + 4 * math.sin((h - 9) / 24 * 2 * math.pi) + rng.uniform(-0.5, 0.5), 1) for h in range(48)]
        wind = [round(abs(12 + 8 * math.sin(h / 7) + rng.uniform(-2, 2)), 1) for h in range(48)]
        rain = [round(max(0.0, rng.uniform(-0.6, 0.8)), 1) for _ in range(48)]
        forecasts.append({
            "latitude": lat,
            "longitude": lon,
            "place": name,
            "timezone": "GMT",
            "hourly_units": {"time": "iso8601", "temperature_2m": "°C", "wind_speed_10m": "km/h", "precipitation": "mm"},
            "hourly": {"time": hours, "temperature_2m": temp, "wind_speed_10m": wind, "precipitation": rain},
        })
    with open(out("weather", "forecast.json"), "w") as f:
        json.dump(forecasts, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
