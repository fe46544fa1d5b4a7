"""The demo database's tables: their DDL (with the foreign keys introspection turns into
relations) and the descriptions the demo project gives the agent, kept side by side."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoTable:
    name: str
    ddl: str
    description: str
    columns: dict[str, str]  # column name -> description
    categorical: tuple[str, ...] = ()  # columns whose values the agent should know


TABLES = (
    DemoTable(
        "regions",
        """CREATE TABLE regions (
            region_id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            code TEXT NOT NULL UNIQUE
        )""",
        "Sales regions of Alpenglow Outdoor: DACH (Germany, Austria, Switzerland), North America "
        "(United States, Canada) and UK & Ireland. Every customer, store and employee belongs "
        "to one.",
        {"region_id": "Region id", "name": "Region name", "code": "Short code: DACH, NA, UKI"},
        ("name", "code"),
    ),
    DemoTable(
        "employees",
        """CREATE TABLE employees (
            employee_id INTEGER PRIMARY KEY,
            first_name TEXT NOT NULL,
            last_name TEXT NOT NULL,
            email TEXT NOT NULL UNIQUE,
            job_title TEXT NOT NULL,
            department TEXT NOT NULL,
            region_id INTEGER NOT NULL REFERENCES regions(region_id),
            manager_id INTEGER REFERENCES employees(employee_id),
            hire_date DATE NOT NULL,
            annual_salary REAL NOT NULL
        )""",
        "Staff, including sales reps (job title Account Executive) and store managers. "
        "manager_id points to the employee's manager in this same table (self join); the chief "
        "executive has none.",
        {
            "employee_id": "Employee id",
            "first_name": "First name",
            "last_name": "Last name",
            "email": "Work email address",
            "job_title": "Job title, e.g. Account Executive, Sales Manager, Store Manager",
            "department": "Department: Executive, Sales, Retail, Finance or Marketing",
            "region_id": "Region the employee works in",
            "manager_id": "employee_id of the direct manager; NULL for the chief executive",
            "hire_date": "Date hired (YYYY-MM-DD)",
            "annual_salary": "Gross annual salary in EUR",
        },
        ("job_title", "department"),
    ),
    DemoTable(
        "stores",
        """CREATE TABLE stores (
            store_id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            city TEXT NOT NULL,
            state TEXT NOT NULL,
            country TEXT NOT NULL,
            region_id INTEGER NOT NULL REFERENCES regions(region_id),
            manager_id INTEGER NOT NULL REFERENCES employees(employee_id),
            opened_on DATE NOT NULL
        )""",
        "Physical retail stores. Orders placed in a store (channel 'store') name their store.",
        {
            "store_id": "Store id",
            "name": "Store name",
            "city": "City",
            "state": "State, province, canton or county-level region, e.g. Bavaria, Ontario",
            "country": "Country",
            "region_id": "Sales region",
            "manager_id": "employee_id of the store manager",
            "opened_on": "Opening date (YYYY-MM-DD)",
        },
        ("state", "country", "city"),
    ),
    DemoTable(
        "customers",
        """CREATE TABLE customers (
            customer_id INTEGER PRIMARY KEY,
            first_name TEXT NOT NULL,
            last_name TEXT NOT NULL,
            company_name TEXT,
            email TEXT NOT NULL UNIQUE,
            city TEXT NOT NULL,
            state TEXT NOT NULL,
            country TEXT NOT NULL,
            region_id INTEGER NOT NULL REFERENCES regions(region_id),
            segment TEXT NOT NULL,
            signup_date DATE NOT NULL,
            sales_rep_id INTEGER REFERENCES employees(employee_id)
        )""",
        "Customers: consumers and business accounts, with where they live and when they signed "
        "up. Business customers (segments Small Business and Corporate) have a company name and "
        "an assigned sales rep.",
        {
            "customer_id": "Customer id",
            "first_name": "First name (of the contact person, for business customers)",
            "last_name": "Last name",
            "company_name": "Company name; NULL for Consumer customers",
            "email": "Email address",
            "city": "City",
            "state": "State, province or canton, e.g. Bavaria, Ontario, California, Zurich",
            "country": "Country, e.g. Germany, Canada, United States",
            "region_id": "Sales region the customer belongs to",
            "segment": "Customer segment: Consumer, Small Business or Corporate",
            "signup_date": "Date the customer account was created (YYYY-MM-DD)",
            "sales_rep_id": "employee_id of the assigned sales rep; NULL for Consumer customers",
        },
        ("segment", "state", "country", "city"),
    ),
    DemoTable(
        "products",
        """CREATE TABLE products (
            product_id INTEGER PRIMARY KEY,
            sku TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL UNIQUE,
            category TEXT NOT NULL,
            subcategory TEXT NOT NULL,
            brand TEXT NOT NULL,
            list_price REAL NOT NULL,
            unit_cost REAL NOT NULL,
            launched_on DATE NOT NULL,
            is_active INTEGER NOT NULL
        )""",
        "The product range: outdoor gear in five categories, each with subcategories.",
        {
            "product_id": "Product id",
            "sku": "Stock keeping unit code",
            "name": "Product name",
            "category": "Category: Camping, Hiking, Cycling, Apparel or Water Sports",
            "subcategory": "Subcategory within the category, e.g. Tents, Footwear, Kayaks",
            "brand": "Brand",
            "list_price": "Current list price in EUR",
            "unit_cost": "Cost of one unit to the company in EUR",
            "launched_on": "Date the product was launched (YYYY-MM-DD)",
            "is_active": "1 while the product is sold, 0 once discontinued",
        },
        ("category", "subcategory", "brand"),
    ),
    DemoTable(
        "orders",
        """CREATE TABLE orders (
            order_id INTEGER PRIMARY KEY,
            customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
            order_date DATE NOT NULL,
            status TEXT NOT NULL,
            channel TEXT NOT NULL,
            store_id INTEGER REFERENCES stores(store_id),
            ship_date DATE
        )""",
        "Customer orders from January 2022 to September 2025. An order's amount is the sum of "
        "its order_items.line_total; cancelled orders are usually left out of revenue.",
        {
            "order_id": "Order id",
            "customer_id": "The customer who placed the order",
            "order_date": "Date the order was placed (YYYY-MM-DD)",
            "status": "Order status: processing, shipped, delivered or cancelled",
            "channel": "Sales channel: web, mobile app, store or phone",
            "store_id": "The store, for orders placed in a store (channel 'store'); else NULL",
            "ship_date": "Date shipped (YYYY-MM-DD); NULL while processing or when cancelled",
        },
        ("status", "channel"),
    ),
    DemoTable(
        "order_items",
        """CREATE TABLE order_items (
            order_item_id INTEGER PRIMARY KEY,
            order_id INTEGER NOT NULL REFERENCES orders(order_id),
            product_id INTEGER NOT NULL REFERENCES products(product_id),
            quantity INTEGER NOT NULL,
            unit_price REAL NOT NULL,
            discount REAL NOT NULL,
            line_total REAL NOT NULL
        )""",
        "The lines of each order: which product, how many, at what price. Revenue is the sum of "
        "line_total.",
        {
            "order_item_id": "Order line id",
            "order_id": "The order this line belongs to",
            "product_id": "The product sold",
            "quantity": "Units sold",
            "unit_price": "Price of one unit when the order was placed, in EUR, before discount",
            "discount": "Discount as a fraction, e.g. 0.1 for 10% off",
            "line_total": "Amount charged for the line in EUR: quantity * unit_price * "
            "(1 - discount), rounded to cents",
        },
    ),
    DemoTable(
        "returns",
        """CREATE TABLE returns (
            return_id INTEGER PRIMARY KEY,
            order_item_id INTEGER NOT NULL REFERENCES order_items(order_item_id),
            return_date DATE NOT NULL,
            quantity INTEGER NOT NULL,
            reason TEXT NOT NULL,
            refund_amount REAL NOT NULL
        )""",
        "Returned order lines, with the reason and the amount refunded.",
        {
            "return_id": "Return id",
            "order_item_id": "The order line returned",
            "return_date": "Date the return was received (YYYY-MM-DD)",
            "quantity": "Units returned",
            "reason": "Return reason: Wrong size, Damaged in transit, Defective, "
            "Not as described or Changed mind",
            "refund_amount": "Amount refunded in EUR",
        },
        ("reason",),
    ),
)

INDEXES = (
    "CREATE INDEX employees_manager ON employees(manager_id)",
    "CREATE INDEX customers_region ON customers(region_id)",
    "CREATE INDEX customers_rep ON customers(sales_rep_id)",
    "CREATE INDEX orders_customer ON orders(customer_id)",
    "CREATE INDEX orders_date ON orders(order_date)",
    "CREATE INDEX orders_store ON orders(store_id)",
    "CREATE INDEX order_items_order ON order_items(order_id)",
    "CREATE INDEX order_items_product ON order_items(product_id)",
    "CREATE INDEX returns_item ON returns(order_item_id)",
)
