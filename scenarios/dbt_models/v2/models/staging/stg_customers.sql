-- Same columns, written with an alias: the output does not change.
select c.customer_id, c.name, c.country
from {{ source('shop', 'customers') }} as c
