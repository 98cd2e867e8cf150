-- Orders with their amount; cancelled orders carry no revenue.
select
    order_id,
    customer_id,
    status,
    case when status = 'cancelled' then 0 else quantity * CAST(unit_price AS DECIMAL(12, 2)) end as amount
from {{ source('shop', 'orders') }}
