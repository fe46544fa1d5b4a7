"""The demo database: an outdoor-gear retailer's sales, 2022 to September 2025, generated from a
fixed seed with the standard library only, so every build holds exactly the same rows.

Shapes worth asking about are built in: seasonal demand per category, yearly growth, a mobile
app channel that starts in March 2023, stores opening mid-period, a few large corporate
customers, customers who never ordered, a management chain (self join) and returns."""

from __future__ import annotations

import bisect
import hashlib
import itertools
import os
import random
import sqlite3
import unicodedata
import urllib.parse
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from parley.demo import reference as ref
from parley.demo.schema import INDEXES, TABLES

SEED = 20251001
VERSION = 1  # stored as PRAGMA user_version; bump when the data changes
FIRST_DAY = date(2022, 1, 1)
LAST_DAY = date(2025, 9, 30)  # the data's "today" is 2025-10-01
APP_LAUNCH = date(2023, 3, 1)
CUSTOMERS = 3000
ORDERS = 14000
YEAR_GROWTH = {2022: 1.0, 2023: 1.22, 2024: 1.45, 2025: 1.65}
MONTH_SEASON = (0.75, 0.7, 0.85, 0.95, 1.05, 1.1, 1.05, 1.0, 0.9, 0.95, 1.35, 1.6)
SEGMENTS = (("Consumer", 0.8), ("Small Business", 0.15), ("Corporate", 0.05))
CHANNELS = {  # channel shares per segment
    "Consumer": (("web", 0.45), ("mobile app", 0.3), ("store", 0.22), ("phone", 0.03)),
    "Small Business": (("web", 0.5), ("phone", 0.25), ("store", 0.15), ("mobile app", 0.1)),
    "Corporate": (("phone", 0.5), ("web", 0.45), ("store", 0.05)),
}
SIZED = ("Footwear", "Jackets", "Base Layers", "Wetsuits")  # returned more often, for fit
RETURN_REASONS = {  # reason shares, for sized subcategories (True) and the others
    True: (("Wrong size", 0.55), ("Changed mind", 0.2), ("Not as described", 0.15),
           ("Defective", 0.1)),
    False: (("Defective", 0.3), ("Damaged in transit", 0.3), ("Changed mind", 0.25),
            ("Not as described", 0.15)),
}  # fmt: skip


@dataclass
class Customer:
    id: int
    state: ref.State
    segment: str
    signup: date
    weight: float


def _ascii(text: str) -> str:
    text = text.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in text.lower() if c.isalnum())


def _day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def _pick(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p[0] for p in pairs], [p[1] for p in pairs])[0]


class Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.rows: dict[str, list[tuple[object, ...]]] = {t.name: [] for t in TABLES}
        self.emails: set[str] = set()

    # --- people -------------------------------------------------------------------------------

    def _person(self, pool: str, domain: str) -> tuple[str, str, str]:
        first = self.rng.choice(ref.FIRST_NAMES[pool])
        last = self.rng.choice(ref.LAST_NAMES[pool])
        base = f"{_ascii(first)}.{_ascii(last)}"
        for n in itertools.count(1):
            email = f"{base}{'' if n == 1 else n}@{domain}"
            if email not in self.emails:
                self.emails.add(email)
                return first, last, email
        raise AssertionError("unreachable")

    def employees(self) -> None:
        """A chief executive; per region a vice president, sales managers with account
        executives, store managers; a small finance and marketing team at headquarters."""
        rows = self.rows["employees"]
        pools = {1: "de", 2: "en", 3: "en"}

        def add(title: str, dept: str, region: int, manager: int | None, hired: date) -> int:
            first, last, email = self._person(pools[region], "alpenglow.example")
            salary = {
                "Chief Executive Officer": 260_000,
                "Chief Financial Officer": 190_000,
                "Chief Marketing Officer": 180_000,
                "Regional Vice President": 150_000,
                "Sales Manager": 105_000,
                "Store Manager": 72_000,
                "Account Executive": 68_000,
                "Financial Analyst": 64_000,
                "Marketing Specialist": 58_000,
            }[title] * self.rng.uniform(0.9, 1.15)
            employee_id = len(rows) + 1
            rows.append(
                (
                    employee_id,
                    first,
                    last,
                    email,
                    title,
                    dept,
                    region,
                    manager,
                    hired.isoformat(),
                    round(salary, -2),
                )
            )
            return employee_id

        ceo = add("Chief Executive Officer", "Executive", 1, None, date(2015, 3, 1))
        cfo = add("Chief Financial Officer", "Finance", 1, ceo, date(2017, 6, 1))
        cmo = add("Chief Marketing Officer", "Marketing", 1, ceo, date(2018, 2, 15))
        for _ in range(3):
            add("Financial Analyst", "Finance", 1, cfo, _day(self.rng, date(2019, 1, 1), LAST_DAY))
        for _ in range(2):
            add(
                "Marketing Specialist",
                "Marketing",
                1,
                cmo,
                _day(self.rng, date(2019, 1, 1), LAST_DAY),
            )
        self.reps: dict[int, list[int]] = {}
        self.vps: dict[int, int] = {}
        for region_id, _, _ in ref.REGIONS:
            vp = add(
                "Regional Vice President",
                "Sales",
                region_id,
                ceo,
                _day(self.rng, date(2016, 1, 1), date(2019, 12, 31)),
            )
            self.vps[region_id] = vp
            self.reps[region_id] = []
            for _ in range({1: 3, 2: 3, 3: 2}[region_id]):
                manager = add(
                    "Sales Manager",
                    "Sales",
                    region_id,
                    vp,
                    _day(self.rng, date(2017, 1, 1), date(2021, 12, 31)),
                )
                for _ in range(self.rng.randint(3, 5)):
                    hired = _day(self.rng, date(2018, 1, 1), date(2023, 6, 30))
                    self.reps[region_id].append(
                        add("Account Executive", "Sales", region_id, manager, hired)
                    )

    def stores(self) -> None:
        states = {s.name: s for s in ref.STATES}
        self.store_by_state: dict[str, list[tuple[int, date]]] = {}
        for store_id, (name, city, state_name, opened) in enumerate(ref.STORES, start=1):
            state = states[state_name]
            hired = date.fromisoformat(opened) - timedelta(days=self.rng.randint(30, 120))
            pools = {1: "de", 2: "en", 3: "en"}
            first, last, email = self._person(pools[state.region_id], "alpenglow.example")
            manager = len(self.rows["employees"]) + 1
            self.rows["employees"].append(
                (
                    manager,
                    first,
                    last,
                    email,
                    "Store Manager",
                    "Retail",
                    state.region_id,
                    self.vps[state.region_id],
                    hired.isoformat(),
                    round(72_000 * self.rng.uniform(0.9, 1.15), -2),
                )
            )
            self.rows["stores"].append(
                (store_id, name, city, state.name, state.country, state.region_id, manager, opened)
            )
            self.store_by_state.setdefault(state.name, []).append(
                (store_id, date.fromisoformat(opened))
            )

    def customers(self) -> list[Customer]:
        rng = self.rng
        states = ref.STATES
        weights = [s.weight for s in states]
        out = []
        company_names: set[str] = set()
        for customer_id in range(1, CUSTOMERS + 1):
            state = rng.choices(states, weights)[0]
            segment = _pick(rng, SEGMENTS)
            # a quarter signed up before the data starts; sign-ups then grow over time
            if rng.random() < 0.25:
                signup = _day(rng, date(2020, 6, 1), date(2021, 12, 31))
            else:
                signup = FIRST_DAY + timedelta(
                    days=int(((LAST_DAY - FIRST_DAY).days + 1) * rng.random() ** 0.8)
                )
            first, last, email = self._person(state.names, "example.com")
            company = None
            rep = None
            if segment != "Consumer":
                while company is None or company in company_names:
                    company = f"{rng.choice(ref.COMPANY_WORDS)} {rng.choice(ref.COMPANY_KINDS)}"
                    if company in company_names:
                        company = f"{company} {state.cities[0]}"
                company_names.add(company)
                rep = rng.choice(self.reps[state.region_id])
            scale = {"Consumer": 1.0, "Small Business": 2.5, "Corporate": 4.0}[segment]
            weight = scale * min(rng.paretovariate(2.2), 6.0)
            self.rows["customers"].append(
                (
                    customer_id,
                    first,
                    last,
                    company,
                    email,
                    rng.choice(state.cities),
                    state.name,
                    state.country,
                    state.region_id,
                    segment,
                    signup.isoformat(),
                    rep,
                )
            )
            out.append(Customer(customer_id, state, segment, signup, weight))
        # a handful of large corporate accounts that buy far more than anyone else
        corporate = [c for c in out if c.segment == "Corporate" and c.signup < date(2022, 6, 1)]
        for rank, customer in enumerate(rng.sample(corporate, 5)):
            customer.weight = 24.0 - 3 * rank
        return out

    # --- products and orders --------------------------------------------------------------------

    def products(self) -> None:
        rng = self.rng
        names: set[str] = set()
        self.popularity: list[float] = []
        self.product_info: list[tuple[str, str, float, date]] = []  # category, sub, price, launch
        product_id = 0
        for sub in ref.SUBCATEGORIES:
            for _ in range(rng.randint(7, 11)):
                brand = rng.choice(ref.BRANDS)
                model = rng.choice(ref.MODELS)
                name = f"{brand} {model} {sub.noun}"
                suffix = 2
                while name in names:
                    name = f"{brand} {model} {sub.noun} {suffix}"
                    suffix += 1
                names.add(name)
                product_id += 1
                low, high = sub.price
                price = round(low + (high - low) * rng.random() ** 1.6) - 0.01
                cost = round(price * rng.uniform(0.42, 0.68), 2)
                launched = (
                    _day(rng, date(2019, 1, 1), date(2021, 12, 31))
                    if rng.random() < 0.75
                    else _day(rng, FIRST_DAY, date(2025, 3, 31))
                )
                active = 0 if rng.random() < 0.08 else 1
                sku = f"{sub.category[:3].upper()}-{sub.name[:3].upper()}-{product_id:04d}"
                self.rows["products"].append(
                    (
                        product_id,
                        sku,
                        name,
                        sub.category,
                        sub.name,
                        brand,
                        price,
                        cost,
                        launched.isoformat(),
                        active,
                    )
                )
                self.popularity.append(sub.popularity * rng.paretovariate(1.8))
                self.product_info.append((sub.category, sub.name, price, launched))

    def orders(self, customers: list[Customer]) -> None:
        rng = self.rng
        days = [FIRST_DAY + timedelta(days=i) for i in range((LAST_DAY - FIRST_DAY).days + 1)]
        day_weights = [
            YEAR_GROWTH[d.year] * MONTH_SEASON[d.month - 1] * (1.15 if d.weekday() >= 5 else 1.0)
            for d in days
        ]
        order_days = sorted(rng.choices(days, day_weights, k=ORDERS))
        by_signup = sorted(customers, key=lambda c: (c.signup, c.id))
        signups = [c.signup for c in by_signup]
        cumulative = list(itertools.accumulate(c.weight for c in by_signup))
        month_products: dict[int, list[float]] = {}
        for month in range(1, 13):
            month_products[month] = list(
                itertools.accumulate(
                    pop * ref.CATEGORY_SEASON[info[0]][month - 1]
                    for pop, info in zip(self.popularity, self.product_info, strict=True)
                )
            )
        item_id = 0
        return_id = 0
        for order_id, day in enumerate(order_days, start=1):
            eligible = bisect.bisect_right(signups, day)
            customer = by_signup[
                bisect.bisect_left(cumulative, rng.random() * cumulative[eligible - 1])
            ]
            channel = _pick(rng, CHANNELS[customer.segment])
            if channel == "mobile app" and day < APP_LAUNCH:
                channel = "web"
            store_id = None
            if channel == "store":
                open_stores = [s for s, opened in self.store_by_state.get(customer.state.name, ())
                               if opened <= day]  # fmt: skip
                if open_stores:
                    store_id = rng.choice(open_stores)
                else:
                    channel = "web"
            age = (LAST_DAY - day).days
            ship_date = day + timedelta(days=rng.choice((0, 1, 1, 2, 2, 3, 4)))
            if age > 10:
                status = "cancelled" if rng.random() < 0.045 else "delivered"
            elif age <= 1:
                status = "processing"
            else:
                status = "shipped" if age <= 6 else rng.choice(("shipped", "delivered"))
            if status in ("processing", "cancelled") or ship_date > LAST_DAY:
                ship = None
                if status == "shipped":
                    status = "processing"
            else:
                ship = ship_date.isoformat()
            self.rows["orders"].append(
                (order_id, customer.id, day.isoformat(), status, channel, store_id, ship)
            )
            n_items = {
                "Consumer": rng.choices((1, 2, 3), (0.55, 0.3, 0.15))[0],
                "Small Business": rng.choices((1, 2, 3, 4), (0.35, 0.3, 0.2, 0.15))[0],
                "Corporate": rng.randint(2, 5),
            }[customer.segment]
            chosen: list[int] = []
            weights = month_products[day.month]
            while len(chosen) < n_items:
                index = bisect.bisect_left(weights, rng.random() * weights[-1])
                if index not in chosen and self.product_info[index][3] <= day:
                    chosen.append(index)
            for index in chosen:
                item_id += 1
                category, sub, price, _ = self.product_info[index]
                quantity = {
                    "Consumer": rng.choices((1, 2), (0.88, 0.12))[0],
                    "Small Business": rng.randint(1, 3),
                    "Corporate": rng.choices((1, 2, 3, 4, 5, 6, 8), (4, 6, 5, 4, 3, 2, 1))[0],
                }[customer.segment]
                unit_price = round(price * (1 - 0.04 * (2025 - day.year)), 2)
                if customer.segment == "Corporate":
                    discount = 0.1
                elif customer.segment == "Small Business":
                    discount = 0.05
                elif day.month == 11 and day.day >= 20:
                    discount = 0.2
                else:
                    discount = 0.15 if rng.random() < 0.08 else 0.0
                line_total = round(quantity * unit_price * (1 - discount), 2)
                self.rows["order_items"].append(
                    (item_id, order_id, index + 1, quantity, unit_price, discount, line_total)
                )
                if status != "delivered" or ship is None:
                    continue
                odds = 0.11 if sub in SIZED else 0.04
                if rng.random() >= odds:
                    continue
                back = date.fromisoformat(ship) + timedelta(days=rng.randint(4, 30))
                if back > LAST_DAY:
                    continue
                reason = _pick(rng, RETURN_REASONS[sub in SIZED])
                returned = (
                    quantity if quantity == 1 or rng.random() < 0.6 else rng.randint(1, quantity)
                )
                return_id += 1
                refund = round(line_total * returned / quantity, 2)
                self.rows["returns"].append(
                    (return_id, item_id, back.isoformat(), returned, reason, refund)
                )

    def regions(self) -> None:
        self.rows["regions"] = [tuple(r) for r in ref.REGIONS]


def build_rows(seed: int = SEED) -> dict[str, list[tuple[object, ...]]]:
    builder = Builder(seed)
    builder.regions()
    builder.employees()
    builder.stores()
    customers = builder.customers()
    builder.products()
    builder.orders(customers)
    return builder.rows


def build_demo_database(path: Path, *, seed: int = SEED) -> dict[str, int]:
    """Write the demo database to `path` (replacing it atomically) and return its row counts."""
    rows = build_rows(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(partial, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN")
        for table in TABLES:
            conn.execute(table.ddl)
            table_rows = rows[table.name]
            marks = ", ".join("?" * len(table_rows[0]))
            conn.executemany(f"INSERT INTO {table.name} VALUES ({marks})", table_rows)
        for statement in INDEXES:
            conn.execute(statement)
        conn.execute("COMMIT")
        problems = conn.execute("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise AssertionError(f"demo data breaks its foreign keys: {problems[:3]}")
        conn.execute(f"PRAGMA user_version = {VERSION}")
        conn.execute("VACUUM")
    finally:
        conn.close()
    os.replace(partial, path)
    return {name: len(table_rows) for name, table_rows in rows.items()}


def read_only_uri(path: Path) -> str:
    return f"file:{urllib.parse.quote(str(path))}?mode=ro"


def database_version(path: Path) -> int | None:
    """The generator version a demo file was built by; None if it is not a readable one."""
    try:
        conn = sqlite3.connect(read_only_uri(path), uri=True)
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def canonical_checksum(path: Path) -> str:
    """SHA-256 of the database's SQL dump: equal for equal schemas and rows, whatever the
    file's page layout."""
    conn = sqlite3.connect(read_only_uri(path), uri=True)
    try:
        digest = hashlib.sha256()
        for line in conn.iterdump():
            digest.update(line.encode())
            digest.update(b"\n")
        return digest.hexdigest()
    finally:
        conn.close()
