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

{#- star, get_filtered_columns_in_relation and union_relations read the
    columns of relations from adapter.get_columns_in_relation, which knows
    none when a model is first rendered (to find its refs, as dbt parses)
    and the planned ones when it renders again to run. -#}
{% macro get_filtered_columns_in_relation(from, except=[]) -%}
{%- set lowered = except | map('lower') | list -%}
{%- set ns = namespace(columns=[]) -%}
{%- for col in adapter.get_columns_in_relation(from) -%}
{%- if col.column | lower not in lowered %}{% set ns.columns = ns.columns + [col.column] %}{% endif -%}
{%- endfor -%}
{{ return(ns.columns) }}
{%- endmacro %}

{% macro star(from, relation_alias=False, except=[], prefix='', suffix='', quote_identifiers=True) -%}
{%- set cols = dbt_utils.get_filtered_columns_in_relation(from, except) -%}
{%- if cols | length <= 0 -%}
{{ return('*' if not adapter.columns_known() else '/* no columns returned from star() macro */') }}
{%- endif -%}
{%- for col in cols %}
{%- if relation_alias %}{{ relation_alias }}.{% endif -%}
{%- if quote_identifiers -%}
{{ adapter.quote(col) | trim }}{% if prefix != '' or suffix != '' %} as {{ adapter.quote(prefix ~ col ~ suffix) | trim }}{% endif -%}
{%- else -%}
{{ col | trim }}{% if prefix != '' or suffix != '' %} as {{ (prefix ~ col ~ suffix) | trim }}{% endif -%}
{%- endif -%}
{%- if not loop.last %},{{ '\n  ' }}{% endif -%}
{%- endfor -%}
{%- endmacro %}

{% macro union_relations(relations, column_override=none, include=[], exclude=[], source_column_name='_dbt_source_relation', where=none) -%}
{%- if exclude and include -%}
{{ exceptions.raise_compiler_error("Both an exclude and include list were provided to the `union` macro. Only one is allowed") }}
{%- endif -%}
{%- set column_override = column_override if column_override is not none else {} -%}
{%- set included = include | map('lower') | list -%}
{%- set excluded = exclude | map('lower') | list -%}
{%- set ns = namespace(names=[], lowered=[], types=[]) -%}
{%- for relation in relations -%}
{%- for col in adapter.get_columns_in_relation(relation) -%}
{%- set lname = col.column | lower -%}
{%- if (not included or lname in included) and lname not in excluded and lname not in ns.lowered -%}
{%- set ns.names = ns.names + [col.column] -%}
{%- set ns.lowered = ns.lowered + [lname] -%}
{%- set ns.types = ns.types + [column_override.get(col.column, col.data_type)] -%}
{%- endif -%}
{%- endfor -%}
{%- endfor -%}
{%- for relation in relations %}
(
    select
        {%- if source_column_name is not none %}
        cast('{{ relation }}' as varchar) as {{ adapter.quote(source_column_name) }},
        {%- endif %}
        {%- set present = adapter.get_columns_in_relation(relation) | map(attribute='column') | map('lower') | list %}
        {%- for name in ns.names %}
        {% if ns.lowered[loop.index0] in present %}cast({{ adapter.quote(name) }} as {{ ns.types[loop.index0] }}){% else %}cast(null as {{ ns.types[loop.index0] }}){% endif %} as {{ adapter.quote(name) }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ relation }}
    {% if where -%} where {{ where }} {%- endif %}
)
{% if not loop.last %}union all{% endif -%}
{%- endfor -%}
{%- endmacro %}

{% macro get_column_values(table, column, order_by='count(*) desc', max_records=none, default=none, where=none) -%}
{{ exceptions.raise_compiler_error("dbt_utils.get_column_values() queries a live warehouse, which diffgate does not answer yet: list the values") }}
{%- endmacro %}


{% macro unpivot(relation=none, cast_to='varchar', exclude=none, remove=none, field_name='field_name', value_name='value', quote_identifiers=False) -%}
{%- if relation is none -%}
{{ exceptions.raise_compiler_error("Error: argument `relation` is required for `unpivot` macro.") }}
{%- endif -%}
{%- set exclude = exclude if exclude is not none else [] -%}
{%- set remove = remove if remove is not none else [] -%}
{%- set dropped = (remove | map('lower') | list) + (exclude | map('lower') | list) -%}
{%- set ns = namespace(cols=[]) -%}
{%- for col in adapter.get_columns_in_relation(relation) -%}
{%- if col.column | lower not in dropped %}{% set ns.cols = ns.cols + [col] %}{% endif -%}
{%- endfor -%}
{%- for col in ns.cols %}
select
  {%- for exclude_col in exclude %}
    {{ exclude_col }},
  {%- endfor %}
    cast('{{ col.column }}' as {{ dbt.type_string() }}) as {{ adapter.quote(field_name) if quote_identifiers else field_name }},
    cast({% if col.data_type == 'boolean' %}{{ dbt.cast_bool_to_text(adapter.quote(col.column)) }}{% else %}{{ adapter.quote(col.column) }}{% endif %} as {{ cast_to }}) as {{ adapter.quote(value_name) if quote_identifiers else value_name }}
from {{ relation }}
{% if not loop.last -%}
union all
{% endif -%}
{%- endfor -%}
{%- endmacro %}
