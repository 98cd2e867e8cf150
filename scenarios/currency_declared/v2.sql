-- Polish amounts move to minor units (grosze), as the ledger stores them.
SELECT o.order_id,
       c.country,
       CASE WHEN c.country = 'PL' THEN o.quantity * o.unit_price * 100
            ELSE o.quantity * o.unit_price END AS amount
FROM orders o
JOIN customers c ON c.customer_id = o.customer_id
