SELECT o.order_id, o.customer_id, a.city AS ship_city
FROM orders o
JOIN addresses a ON a.customer_id = o.customer_id AND a.is_primary
