INSERT INTO orders SELECT * FROM orders
