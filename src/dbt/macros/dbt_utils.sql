{#- The dbt_utils macros used most, rendering DataFusion SQL with the
    arguments and results of dbt_utils 1.x. They win over an installed
    copy of the package. -#}

{% macro generate_surrogate_key(field_list) -%}
{%- set ns = namespace(fields=[]) -%}
{%- for field in field_list -%}
{%- set ns.fields = ns.fields + ["coalesce(CAST(" ~ field ~ " AS VARCHAR), '_dbt_utils_surrogate_key_null_')"] -%}
{%- if not loop.last %}{% set ns.fields = ns.fields + ["'-'"] %}{% endif -%}
{%- endfor -%}
{{ dbt.hash(dbt.concat(ns.fields)) }}
{%- endmacro %}

{% macro surrogate_key(field_list) -%}
{%- if field_list is string %}{% set field_list = [field_list] + varargs %}{% endif -%}
{%- set ns = namespace(fields=[]) -%}
{%- for field in field_list -%}
{%- set ns.fields = ns.fields + ["coalesce(CAST(" ~ field ~ " AS VARCHAR), '')"] -%}
{%- if not loop.last %}{% set ns.fields = ns.fields + ["'-'"] %}{% endif -%}
{%- endfor -%}
{{ dbt.hash(dbt.concat(ns.fields)) }}
{%- endmacro %}

{% macro group_by(n) -%}
group by {% for i in range(1, n + 1) %}{{ i }}{% if not loop.last %}, {% endif %}{% endfor %}
{%- endmacro %}

{% macro safe_divide(numerator, denominator) -%}
( {{ numerator }} ) / nullif( ( {{ denominator }} ), 0)
{%- endmacro %}

{% macro deduplicate(relation, partition_by, order_by) -%}
select * from {{ relation }}
qualify row_number() over (partition by {{ partition_by }} order by {{ order_by }}) = 1
{%- endmacro %}

{% macro date_spine(datepart, start_date, end_date) -%}
{{ dbt.date_spine(datepart, start_date, end_date) }}
{%- endmacro %}

{% macro pivot(column, values, alias=True, agg='sum', cmp='=', prefix='', suffix='', then_value=1, else_value=0, quote_identifiers=True, distinct=False) -%}
{%- for value in values -%}
{{ agg }}(
{%- if distinct %} distinct{% endif %}
  case when {{ column }} {{ cmp }} '{{ dbt.escape_single_quotes(value) }}' then {{ then_value }} else {{ else_value }} end
)
{%- if alias -%}
{%- if quote_identifiers %} as "{{ prefix ~ value ~ suffix }}"{% else %} as {{ prefix ~ value ~ suffix }}{% endif -%}
{%- endif -%}
{%- if not loop.last %},
{% endif -%}
{%- endfor -%}
{%- endmacro %}

{% macro star(from, relation_alias=False, except=[], prefix='', suffix='', quote_identifiers=True) -%}
{{ exceptions.raise_compiler_error("dbt_utils.star() needs the columns of " ~ from ~ " from a live warehouse, which diffgate does not answer yet: list the columns") }}
{%- endmacro %}

{% macro get_column_values(table, column, order_by='count(*) desc', max_records=none, default=none, where=none) -%}
{{ exceptions.raise_compiler_error("dbt_utils.get_column_values() queries a live warehouse, which diffgate does not answer yet: list the values") }}
{%- endmacro %}

{% macro union_relations(relations, column_override=none, include=[], exclude=[], source_column_name='_dbt_source_relation', where=none) -%}
{{ exceptions.raise_compiler_error("dbt_utils.union_relations() needs the columns of each relation from a live warehouse, which diffgate does not answer yet") }}
{%- endmacro %}

{% macro unpivot(relation=none, cast_to='varchar', exclude=none, remove=none, field_name='field_name', value_name='value', quote_identifiers=False) -%}
{{ exceptions.raise_compiler_error("dbt_utils.unpivot() needs the columns of " ~ relation ~ " from a live warehouse, which diffgate does not answer yet") }}
{%- endmacro %}

{% macro get_filtered_columns_in_relation(from, except=[]) -%}
{{ exceptions.raise_compiler_error("dbt_utils.get_filtered_columns_in_relation() needs the columns of " ~ from ~ " from a live warehouse, which diffgate does not answer yet") }}
{%- endmacro %}
