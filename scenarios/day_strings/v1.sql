-- The signup day as the old export wrote it: text, day first.
SELECT customer_id,
       to_char(CAST(signup_date AS DATE), '%d/%m/%Y') AS signup_day
FROM customers
