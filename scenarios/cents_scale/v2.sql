SELECT order_id,
       upper(status) AS status,
       unit_price * 100 AS unit_price,
       quantity * unit_price * 100 AS amount
FROM orders
