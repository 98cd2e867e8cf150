-- The old name field: padded to 20 characters, upper case.
SELECT customer_id,
       rpad(upper(name), 20, ' ') AS name,
       country
FROM customers
