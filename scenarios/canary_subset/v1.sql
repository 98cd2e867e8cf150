-- Revenue per customer, cancelled orders excluded.
SELECT
    c.customer_id,
    c.country,
    count(o.order_id) AS orders,
    sum(o.quantity * CAST(o.unit_price AS DECIMAL(12, 3))) AS revenue
FROM customers c
LEFT JOIN orders o
    ON o.customer_id = c.customer_id AND o.status <> 'cancelled'
GROUP BY c.customer_id, c.country
