select {{ dbt_utils.star(ref('customers'), except=['secret_note']) }}
from {{ ref('customers') }}
