{#- dbt's cross-database macros, rendering DataFusion SQL. The names and
    arguments are dbt's (dbt-adapters, global_project/macros/utils). -#}

{% macro date_trunc(datepart, date) -%}
date_trunc('{{ datepart }}', {{ date }})
{%- endmacro %}

{% macro dateadd(datepart, interval, from_date_or_timestamp) -%}
{%- set part = datepart | lower -%}
{%- if part == 'quarter' -%}
({{ from_date_or_timestamp }}) + CAST(concat(CAST(({{ interval }}) * 3 AS VARCHAR), ' month') AS INTERVAL)
{%- elif part == 'week' -%}
({{ from_date_or_timestamp }}) + CAST(concat(CAST(({{ interval }}) * 7 AS VARCHAR), ' day') AS INTERVAL)
{%- else -%}
({{ from_date_or_timestamp }}) + CAST(concat(CAST({{ interval }} AS VARCHAR), ' {{ part }}') AS INTERVAL)
{%- endif -%}
{%- endmacro %}

{% macro datediff(first_date, second_date, datepart) -%}
{%- set part = datepart | lower -%}
{%- set years -%}(CAST(date_part('year', {{ second_date }}) AS BIGINT) - CAST(date_part('year', {{ first_date }}) AS BIGINT)){%- endset -%}
{%- if part == 'year' -%}
{{ years }}
{%- elif part == 'quarter' -%}
({{ years }} * 4 + CAST(date_part('quarter', {{ second_date }}) AS BIGINT) - CAST(date_part('quarter', {{ first_date }}) AS BIGINT))
{%- elif part == 'month' -%}
({{ years }} * 12 + CAST(date_part('month', {{ second_date }}) AS BIGINT) - CAST(date_part('month', {{ first_date }}) AS BIGINT))
{%- else -%}
{%- set seconds = {'week': 604800, 'day': 86400, 'hour': 3600, 'minute': 60, 'second': 1}[part] -%}
CAST((date_part('epoch', date_trunc('{{ part }}', {{ second_date }})) - date_part('epoch', date_trunc('{{ part }}', {{ first_date }}))) / {{ seconds }} AS BIGINT)
{%- endif -%}
{%- endmacro %}

{% macro last_day(date, datepart) -%}
CAST({{ dbt.dateadd(datepart, 1, dbt.date_trunc(datepart, date)) }} - INTERVAL '1 day' AS DATE)
{%- endmacro %}

{% macro safe_cast(field, type) -%}
TRY_CAST({{ field }} AS {{ type }})
{%- endmacro %}

{% macro cast(field, type) -%}
CAST({{ field }} AS {{ type }})
{%- endmacro %}

{% macro concat(fields) -%}
concat({{ fields | join(', ') }})
{%- endmacro %}

{% macro hash(field) -%}
md5(CAST({{ field }} AS VARCHAR))
{%- endmacro %}

{% macro type_string() %}VARCHAR{% endmacro %}
{% macro type_timestamp() %}TIMESTAMP{% endmacro %}
{% macro type_float() %}DOUBLE{% endmacro %}
{% macro type_numeric() %}DECIMAL(28, 6){% endmacro %}
{% macro type_bigint() %}BIGINT{% endmacro %}
{% macro type_int() %}INT{% endmacro %}
{% macro type_boolean() %}BOOLEAN{% endmacro %}

{% macro current_timestamp() %}now(){% endmacro %}
{% macro current_timestamp_backcompat() %}now(){% endmacro %}
{% macro current_timestamp_in_utc_backcompat() %}now(){% endmacro %}
{% macro snapshot_get_time() %}now(){% endmacro %}

{% macro split_part(string_text, delimiter_text, part_number) -%}
split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }})
{%- endmacro %}

{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) -%}
{%- if limit_num -%}
array_to_string(array_slice(array_agg({{ measure }}{% if order_by_clause %} {{ order_by_clause }}{% endif %}), 1, {{ limit_num }}), {{ delimiter_text }})
{%- else -%}
string_agg({{ measure }}, {{ delimiter_text }}{% if order_by_clause %} {{ order_by_clause }}{% endif %})
{%- endif -%}
{%- endmacro %}

{% macro any_value(expression) -%}
first_value({{ expression }})
{%- endmacro %}

{% macro bool_or(expression) -%}
bool_or({{ expression }})
{%- endmacro %}

{% macro cast_bool_to_text(field) -%}
CAST({{ field }} AS VARCHAR)
{%- endmacro %}

{% macro escape_single_quotes(expression) -%}
{{ expression | replace("'", "''") }}
{%- endmacro %}

{% macro string_literal(value) -%}
'{{ value }}'
{%- endmacro %}

{% macro position(substring_text, string_text) -%}
strpos({{ string_text }}, {{ substring_text }})
{%- endmacro %}

{% macro right(string_text, length_expression) -%}
right({{ string_text }}, {{ length_expression }})
{%- endmacro %}

{% macro length(expression) -%}
length({{ expression }})
{%- endmacro %}

{% macro replace(field, old_chars, new_chars) -%}
replace({{ field }}, {{ old_chars }}, {{ new_chars }})
{%- endmacro %}

{% macro except() %}except{% endmacro %}
{% macro intersect() %}intersect{% endmacro %}

{% macro array_construct(inputs=[], data_type=none) -%}
make_array({{ inputs | join(', ') }})
{%- endmacro %}

{% macro array_append(array, new_element) -%}
array_append({{ array }}, {{ new_element }})
{%- endmacro %}

{% macro array_concat(array_1, array_2) -%}
array_concat({{ array_1 }}, {{ array_2 }})
{%- endmacro %}

{% macro date(year, month, day) -%}
make_date({{ year }}, {{ month }}, {{ day }})
{%- endmacro %}

{% macro generate_series(upper_bound) -%}
select value as generated_number from generate_series(1, {{ upper_bound }})
{%- endmacro %}

{% macro date_spine(datepart, start_date, end_date) -%}
select CAST(value AS TIMESTAMP) as date_{{ datepart }}
from unnest(generate_series(CAST({{ start_date }} AS TIMESTAMP), CAST({{ end_date }} AS TIMESTAMP), INTERVAL '1 {{ datepart }}')) as spine(value)
where CAST(value AS TIMESTAMP) < CAST({{ end_date }} AS TIMESTAMP)
{%- endmacro %}
