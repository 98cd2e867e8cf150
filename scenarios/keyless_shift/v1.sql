SELECT
    status,
    CASE WHEN status = 'delivered'
         THEN round(quantity * unit_price * 0.8, 2)
         ELSE round(quantity * unit_price, 2)
    END AS amount
FROM orders
