-- Lateral column aliases, as DuckDB has them.
select
    order_id,
    customer_id,
    amount_cents / 100 as amount,
    amount * 1.2 as amount_with_tax,
    case when amount_with_tax > 50 then 'big' else 'small' end as size
from {{ ref('orders') }}
