SELECT order_id, unit_price * 1.0825 * quantity AS gross
FROM orders
