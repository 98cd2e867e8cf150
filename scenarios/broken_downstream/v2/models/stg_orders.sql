select
    order_id,
    customer_id,
    status,
    quantity * CAST(unit_price AS DECIMAL(12, 2)) as amount_usd
from {{ source('shop', 'orders') }}
