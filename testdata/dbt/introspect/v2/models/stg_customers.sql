select {{ dbt_utils.star(ref('customers'), except=['secret_note', 'email']) }}
from {{ ref('customers') }}
