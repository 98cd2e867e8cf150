-- Same rollup, aggregated before the join.
WITH valid AS (
    SELECT * FROM orders WHERE status <> 'cancelled'
),
per_customer AS (
    SELECT customer_id,
           count(*) AS orders,
           sum(quantity * CAST(unit_price AS DECIMAL(12, 3))) AS revenue
    FROM valid
    GROUP BY customer_id
)
SELECT c.customer_id, c.country, coalesce(p.orders, 0) AS orders, p.revenue
FROM customers c
LEFT JOIN per_customer p ON p.customer_id = c.customer_id
