{{ dbt_utils.union_relations(
    relations=[ref('customers'), ref('customers_eu')],
    exclude=['secret_note']
) }}
