"""Golden SQLs of the demo project: worked examples the agent retrieves when it writes SQL.
None of them is a question of the evaluation set (bench/text2sql/questions.jsonl); a test
checks that, and that each one runs."""

from __future__ import annotations

GOLDEN_SQLS = (
    (
        "What was the total revenue per year, excluding cancelled orders?",
        "SELECT strftime('%Y', o.order_date) AS year, ROUND(SUM(oi.line_total), 2) AS revenue "
        "FROM orders o JOIN order_items oi ON oi.order_id = o.order_id "
        "WHERE o.status <> 'cancelled' GROUP BY year ORDER BY year",
    ),
    (
        "How many customers does each sales region have?",
        "SELECT r.name AS region, COUNT(*) AS customers FROM customers c "
        "JOIN regions r ON r.region_id = c.region_id GROUP BY r.name ORDER BY customers DESC",
    ),
    (
        "Which 10 products have the highest gross margin percentage?",
        "SELECT name, ROUND(100.0 * (list_price - unit_cost) / list_price, 1) AS margin_pct "
        "FROM products ORDER BY margin_pct DESC, name LIMIT 10",
    ),
    (
        "What share of the units sold in each subcategory was returned?",
        "SELECT p.subcategory, ROUND(1.0 * COALESCE(SUM(r.quantity), 0) / SUM(oi.quantity), 4) "
        "AS return_rate FROM order_items oi JOIN products p ON p.product_id = oi.product_id "
        "LEFT JOIN returns r ON r.order_item_id = oi.order_item_id "
        "GROUP BY p.subcategory ORDER BY return_rate DESC",
    ),
    (
        "List every employee with the name of their manager.",
        "SELECT e.first_name || ' ' || e.last_name AS employee, e.job_title, "
        "m.first_name || ' ' || m.last_name AS manager FROM employees e "
        "LEFT JOIN employees m ON m.employee_id = e.manager_id ORDER BY e.employee_id",
    ),
    (
        "How many orders did each store take in 2023?",
        "SELECT s.name AS store, COUNT(*) AS orders FROM orders o "
        "JOIN stores s ON s.store_id = o.store_id "
        "WHERE o.order_date >= '2023-01-01' AND o.order_date < '2024-01-01' "
        "GROUP BY s.name ORDER BY orders DESC",
    ),
    (
        "How many orders came in through the mobile app each month?",
        "SELECT strftime('%Y-%m', order_date) AS month, COUNT(*) AS orders FROM orders "
        "WHERE channel = 'mobile app' GROUP BY month ORDER BY month",
    ),
    (
        "What is the average order value per customer segment, excluding cancelled orders?",
        "SELECT c.segment, ROUND(AVG(t.amount), 2) AS avg_order_value FROM ("
        "SELECT o.order_id, o.customer_id, SUM(oi.line_total) AS amount FROM orders o "
        "JOIN order_items oi ON oi.order_id = o.order_id WHERE o.status <> 'cancelled' "
        "GROUP BY o.order_id, o.customer_id) t JOIN customers c ON c.customer_id = t.customer_id "
        "GROUP BY c.segment ORDER BY avg_order_value DESC",
    ),
)
