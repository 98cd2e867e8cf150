//! Warehouse dialects: SQL written for Snowflake, BigQuery, DuckDB,
//! Postgres, Redshift or Databricks, planned by DataFusion with that
//! warehouse's meaning.
//!
//! A dialect sets three things on a session:
//! - DataFusion's SQL parser dialect (`::` casts, backticks, `QUALIFY`...);
//! - integer division: `int / int` truncates in DataFusion (and Postgres,
//!   Redshift) but not in Snowflake, BigQuery, DuckDB or Databricks, where
//!   it gives a fraction. For those, both sides are cast to DOUBLE while
//!   planning, so `(cents / 100)::numeric(16, 2)` keeps its cents instead of
//!   silently losing them;
//! - the warehouse's common functions that DataFusion lacks (`iff`,
//!   `dateadd(day, n, x)`, `datediff`, `count_if`, `div0`, `safe_divide`,
//!   `sha2`, `last_day`, ...), rewritten in the parsed SQL into DataFusion
//!   expressions with the same result, before planning;
//! - lateral column aliases (`select a + 1 as b, b * 2 as c`) where the
//!   warehouse has them (Snowflake, DuckDB, Redshift, Databricks): when
//!   planning finds no column of a name that an earlier item of the same
//!   select list gave as an alias, that alias's expression is put in its
//!   place and the query planned again. A real column of that name is
//!   never replaced, as the warehouses also prefer it.
//!
//! Without a dialect nothing here applies and SQL is planned as DataFusion
//! plans it.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result as DFResult, SchemaError};
use datafusion::error::DataFusionError;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{ExprSchemable, Operator, binary_expr, cast};
use datafusion::prelude::{DataFrame, SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    ObjectName, ObjectNamePart, Query, Select, SelectItem, SetExpr, Value, VisitMut, VisitorMut,
    visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use datafusion::sql::sqlparser::parser::Parser;
use serde::Deserialize;

/// A warehouse whose SQL a transform is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Warehouse {
    Snowflake,
    Bigquery,
    Duckdb,
    Postgres,
    Redshift,
    Databricks,
}

impl Warehouse {
    pub const NAMES: &'static str = "snowflake, bigquery, duckdb, postgres, redshift, databricks";

    /// The warehouse a name (or a dbt adapter type) stands for.
    pub fn parse(name: &str) -> Option<Warehouse> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "snowflake" => Warehouse::Snowflake,
            "bigquery" => Warehouse::Bigquery,
            "duckdb" => Warehouse::Duckdb,
            "postgres" | "postgresql" => Warehouse::Postgres,
            "redshift" => Warehouse::Redshift,
            "databricks" | "spark" => Warehouse::Databricks,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Warehouse::Snowflake => "snowflake",
            Warehouse::Bigquery => "bigquery",
            Warehouse::Duckdb => "duckdb",
            Warehouse::Postgres => "postgres",
            Warehouse::Redshift => "redshift",
            Warehouse::Databricks => "databricks",
        }
    }

    /// Whether a select item may use an alias an earlier item gave.
    pub fn lateral_aliases(self) -> bool {
        !matches!(self, Warehouse::Postgres | Warehouse::Bigquery)
    }

    /// Whether `int / int` gives a fraction in this warehouse.
    pub fn divides_to_fraction(self) -> bool {
        !matches!(self, Warehouse::Postgres | Warehouse::Redshift)
    }
}

/// Set `w`'s parser dialect on a session config being built.
pub fn configure(config: SessionConfig, w: Warehouse) -> DFResult<SessionConfig> {
    let mut config = config.with_extension(Arc::new(w));
    config
        .options_mut()
        .set("datafusion.sql_parser.dialect", w.as_str())?;
    Ok(config)
}

/// Refuse `int / int` in `ctx`: for SQL written for a warehouse that is
/// not known (a dbt project with no profile and no dialect), where the
/// answer depends on it.
pub fn refuse_integer_division(ctx: &mut SessionContext) -> DFResult<()> {
    ctx.register_expr_planner(Arc::new(Division {
        rule: DivisionRule::Refuse,
    }))
}

/// Register `w`'s division semantics and function names in `ctx`.
pub fn install(ctx: &mut SessionContext, w: Warehouse) -> DFResult<()> {
    let rule = if w.divides_to_fraction() {
        DivisionRule::Fraction
    } else {
        DivisionRule::Truncate
    };
    ctx.register_expr_planner(Arc::new(Division { rule }))?;
    for (alias, of) in [("logical_or", "bool_or"), ("logical_and", "bool_and")] {
        if let Ok(f) = ctx.udaf(of) {
            ctx.register_udaf(Arc::new(f.as_ref().clone().with_aliases([alias])))?;
        }
    }
    Ok(())
}

/// Plan one query in `ctx`: with the session's warehouse, its functions
/// rewritten first; without one, as DataFusion plans it.
pub async fn plan(ctx: &SessionContext, sql: &str, options: SQLOptions) -> DFResult<DataFrame> {
    let state = ctx.state();
    let Some(w) = state.config().get_extension::<Warehouse>().map(|w| *w) else {
        return ctx.sql_with_options(sql, options).await;
    };
    let dialect = state.config().options().sql_parser.dialect;
    let mut statement = state.sql_to_statement(sql, &dialect)?;
    if let DFStatement::Statement(s) = &mut statement {
        rewrite(s.as_mut(), w)?;
    }
    // Each retry puts one more lateral alias in place; a query has few.
    let mut retries = 0;
    let plan = loop {
        match state.statement_to_plan(statement.clone()).await {
            Ok(plan) => break plan,
            Err(e) if w.lateral_aliases() && retries < MAX_LATERAL_ALIASES => {
                let inlined = match (&mut statement, missing_column(&e)) {
                    (DFStatement::Statement(s), Some(name)) => inline_alias(s.as_mut(), &name),
                    _ => false,
                };
                if !inlined {
                    return Err(e);
                }
                retries += 1;
            }
            Err(e) => return Err(e),
        }
    };
    options.verify_plan(&plan)?;
    ctx.execute_logical_plan(plan).await
}

/// Most lateral aliases put in place in one query.
const MAX_LATERAL_ALIASES: usize = 64;

/// The unqualified column planning found no field for, if that is the
/// error.
fn missing_column(e: &DataFusionError) -> Option<String> {
    match e {
        DataFusionError::SchemaError(s, _) => match s.as_ref() {
            SchemaError::FieldNotFound { field, .. } if field.relation.is_none() => {
                Some(field.name.clone())
            }
            _ => None,
        },
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            missing_column(inner)
        }
        DataFusionError::Collection(errors) => errors.iter().find_map(missing_column),
        _ => None,
    }
}

/// Put the expression of the alias `name` in place of the bare identifier
/// `name` wherever a select list gives that alias before using it (later
/// items, `WHERE`, `QUALIFY`), in every query of `statement`. Whether
/// anything was replaced.
fn inline_alias(statement: &mut datafusion::sql::sqlparser::ast::Statement, name: &str) -> bool {
    struct Lateral<'a> {
        name: &'a str,
        changed: bool,
    }
    impl VisitorMut for Lateral<'_> {
        type Break = ();
        fn post_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            self.changed |= in_set_expr(&mut q.body, self.name);
            ControlFlow::Continue(())
        }
    }
    fn in_set_expr(s: &mut SetExpr, name: &str) -> bool {
        match s {
            SetExpr::Select(select) => in_select(select, name),
            SetExpr::SetOperation { left, right, .. } => {
                // Both sides, even when the first changed.
                let l = in_set_expr(left, name);
                in_set_expr(right, name) | l
            }
            _ => false,
        }
    }
    fn in_select(select: &mut Select, name: &str) -> bool {
        let mut given: Option<Expr> = None;
        let mut changed = false;
        for item in &mut select.projection {
            let expr = match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                _ => continue,
            };
            if let Some(by) = &given {
                changed |= substitute(expr, name, by);
            }
            if let SelectItem::ExprWithAlias { expr, alias } = item
                && given.is_none()
                && same_name(alias, name)
            {
                given = Some(expr.clone());
            }
        }
        if let Some(by) = &given {
            for e in [&mut select.selection, &mut select.qualify]
                .into_iter()
                .flatten()
            {
                changed |= substitute(e, name, by);
            }
        }
        changed
    }
    fn substitute(e: &mut Expr, name: &str, by: &Expr) -> bool {
        let mut changed = false;
        let _ = visit_expressions_mut(e, |x| {
            if let Expr::Identifier(id) = x
                && same_name(id, name)
            {
                *x = Expr::Nested(Box::new(by.clone()));
                changed = true;
            }
            ControlFlow::<()>::Continue(())
        });
        changed
    }
    // As DataFusion normalises identifiers: unquoted ones lowercased.
    fn same_name(id: &Ident, name: &str) -> bool {
        match id.quote_style {
            Some(_) => id.value == name,
            None => id.value.to_lowercase() == name,
        }
    }
    let mut v = Lateral {
        name,
        changed: false,
    };
    let _ = statement.visit(&mut v);
    v.changed
}

/// Integer division as the warehouse does it: `/` of two integers cast to
/// DOUBLE where the warehouse gives a fraction; DuckDB's `//` and MySQL's
/// `DIV` (integer division) as DataFusion's truncating `/`.
#[derive(Debug)]
struct Division {
    rule: DivisionRule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DivisionRule {
    Fraction,
    Truncate,
    Refuse,
}

impl ExprPlanner for Division {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> DFResult<PlannerResult<RawBinaryExpr>> {
        let integers = match (expr.left.get_type(schema), expr.right.get_type(schema)) {
            (Ok(l), Ok(r)) => l.is_integer() && r.is_integer(),
            _ => false,
        };
        if !integers {
            return Ok(PlannerResult::Original(expr));
        }
        let RawBinaryExpr { op, left, right } = expr;
        Ok(match op {
            BinaryOperator::Divide if self.rule == DivisionRule::Refuse => {
                return Err(DataFusionError::Plan(format!(
                    "`{left} / {right}` divides two integers, which truncates in Postgres and Redshift but gives a fraction in Snowflake, BigQuery, DuckDB and Databricks: set the warehouse with `dialect` in [transform] or --dialect (or cast one side)"
                )));
            }
            BinaryOperator::Divide if self.rule == DivisionRule::Fraction => {
                PlannerResult::Planned(binary_expr(
                    cast(left, DataType::Float64),
                    Operator::Divide,
                    cast(right, DataType::Float64),
                ))
            }
            BinaryOperator::DuckIntegerDivide | BinaryOperator::MyIntegerDivide => {
                PlannerResult::Planned(binary_expr(left, Operator::Divide, right))
            }
            op => PlannerResult::Original(RawBinaryExpr { op, left, right }),
        })
    }
}

/// Rewrite the warehouse functions of a parsed statement into DataFusion
/// expressions, innermost first.
fn rewrite(
    statement: &mut datafusion::sql::sqlparser::ast::Statement,
    w: Warehouse,
) -> DFResult<()> {
    let mut failed = None;
    let _ = visit_expressions_mut(statement, |e| match rewrite_expr(e, w) {
        Ok(()) => ControlFlow::Continue(()),
        Err(err) => {
            failed = Some(err);
            ControlFlow::Break(())
        }
    });
    failed.map_or(Ok(()), Err)
}

/// A date or time part as the warehouses name it, in DataFusion's words.
fn date_part(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "year" | "years" | "y" | "yy" | "yyy" | "yyyy" | "yr" | "yrs" => "year",
        "quarter" | "quarters" | "q" | "qtr" | "qtrs" => "quarter",
        "month" | "months" | "mm" | "mon" | "mons" => "month",
        "week" | "weeks" | "w" | "wk" | "weekofyear" | "woy" | "wy" | "isoweek" => "week",
        "day" | "days" | "d" | "dd" | "dayofmonth" => "day",
        "hour" | "hours" | "h" | "hh" | "hr" | "hrs" => "hour",
        "minute" | "minutes" | "m" | "mi" | "min" | "mins" => "minute",
        "second" | "seconds" | "s" | "sec" | "secs" => "second",
        "millisecond" | "milliseconds" | "ms" | "msec" => "millisecond",
        "microsecond" | "microseconds" | "us" | "usec" => "microsecond",
        "dayofweek" | "dow" | "weekday" => "dow",
        "dayofyear" | "doy" | "yearday" => "doy",
        "epoch" | "epoch_second" | "epoch_seconds" => "epoch",
        _ => return None,
    })
}

/// The date part an argument names: an identifier (`day`) or a string
/// literal (`'day'`).
fn part_of(e: &Expr) -> Option<&'static str> {
    match e {
        Expr::Identifier(Ident { value, .. }) => date_part(value),
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => date_part(s),
            _ => None,
        },
        _ => None,
    }
}

/// The plain expression arguments of a call (none when it has other kinds).
fn plain_args(f: &Function) -> Option<Vec<Expr>> {
    let FunctionArguments::List(list) = &f.args else {
        return match f.args {
            FunctionArguments::None => Some(Vec::new()),
            _ => None,
        };
    };
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn set_args(f: &mut Function, args: Vec<Expr>) {
    if let FunctionArguments::List(list) = &mut f.args {
        list.args = args
            .into_iter()
            .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
            .collect();
    }
}

fn rename(f: &mut Function, name: &str) {
    f.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]);
}

fn literal(s: &str) -> Expr {
    Expr::value(Value::SingleQuotedString(s.to_string()))
}

/// An expression written in SQL text (the arguments spliced in by their
/// own SQL), parsed with the warehouse's dialect.
fn parse(sql: &str, w: Warehouse) -> DFResult<Expr> {
    let dialect = dialect_from_str(w.as_str())
        .ok_or_else(|| DataFusionError::Plan(format!("unknown SQL dialect {}", w.as_str())))?;
    Parser::new(dialect.as_ref())
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| DataFusionError::Plan(format!("cannot rewrite `{sql}`: {e}")))
}

fn wrong_arity(name: &str, want: &str) -> DataFusionError {
    DataFusionError::Plan(format!("{name}() takes {want}"))
}

/// `x` moved by `n` units of `part` (`n` any integer expression).
fn add(part: &str, n: &Expr, x: &Expr) -> String {
    let (n, part) = match part {
        "quarter" => (format!("({n}) * 3"), "month"),
        "week" => (format!("({n}) * 7"), "day"),
        p => (n.to_string(), p),
    };
    format!("({x}) + CAST(concat(CAST({n} AS VARCHAR), ' {part}') AS INTERVAL)")
}

/// Boundaries of `part` crossed from `a` to `b`, as Snowflake's and
/// Redshift's `datediff` count them.
fn diff(part: &str, a: &Expr, b: &Expr) -> String {
    let dp = |p: &str, x: &Expr| format!("CAST(date_part('{p}', {x}) AS BIGINT)");
    let years = format!("({} - {})", dp("year", b), dp("year", a));
    let seconds = |p: &str, unit: u64| {
        format!(
            "CAST((date_part('epoch', date_trunc('{p}', {b})) - date_part('epoch', date_trunc('{p}', {a}))) / {unit} AS BIGINT)"
        )
    };
    match part {
        "year" => years,
        "quarter" => format!(
            "({years} * 4 + {} - {})",
            dp("quarter", b),
            dp("quarter", a)
        ),
        "month" => format!("({years} * 12 + {} - {})", dp("month", b), dp("month", a)),
        "week" => seconds("week", 604_800),
        "day" => seconds("day", 86_400),
        "hour" => seconds("hour", 3_600),
        "minute" => seconds("minute", 60),
        _ => seconds("second", 1),
    }
}

/// Rewrite one expression if it calls a warehouse function.
fn rewrite_expr(e: &mut Expr, w: Warehouse) -> DFResult<()> {
    let Expr::Function(f) = e else {
        return Ok(());
    };
    let name = match f.name.0.last() {
        Some(ObjectNamePart::Identifier(i)) if f.name.0.len() == 1 => i.value.to_ascii_lowercase(),
        _ => return Ok(()),
    };
    let Some(args) = plain_args(f) else {
        return Ok(());
    };
    let new = match (name.as_str(), args.as_slice()) {
        ("iff", [c, a, b]) => format!("CASE WHEN {c} THEN {a} ELSE {b} END"),
        ("iff", _) => return Err(wrong_arity("iff", "a condition and two values")),
        ("div0", [a, b]) => format!("CASE WHEN ({b}) = 0 THEN 0 ELSE ({a}) / ({b}) END"),
        ("div0null", [a, b]) => {
            format!("CASE WHEN ({b}) = 0 OR ({b}) IS NULL THEN 0 ELSE ({a}) / ({b}) END")
        }
        ("safe_divide", [a, b]) => format!("CASE WHEN ({b}) = 0 THEN NULL ELSE ({a}) / ({b}) END"),
        ("zeroifnull", [a]) => format!("coalesce({a}, 0)"),
        ("nullifzero", [a]) => format!("nullif({a}, 0)"),
        ("len", [a]) => format!("character_length({a})"),
        ("sha2", [x, rest @ ..]) => {
            let bits = match rest {
                [] => "256".to_string(),
                [b] => b.to_string(),
                _ => return Err(wrong_arity("sha2", "a value and a digest size")),
            };
            if !["224", "256", "384", "512"].contains(&bits.as_str()) {
                return Err(DataFusionError::Plan(format!(
                    "sha2(): digest size {bits}: 224, 256, 384 or 512"
                )));
            }
            format!("encode(sha{bits}(CAST({x} AS VARCHAR)), 'hex')")
        }
        ("count_if" | "countif", [x]) => {
            rename(f, "count");
            set_args(f, vec![parse(&format!("CASE WHEN {x} THEN 1 END"), w)?]);
            return Ok(());
        }
        ("boolor_agg", [_]) => {
            rename(f, "bool_or");
            return Ok(());
        }
        ("booland_agg", [_]) => {
            rename(f, "bool_and");
            return Ok(());
        }
        ("dateadd" | "timestampadd" | "timeadd", [p, n, x]) => match part_of(p) {
            Some(part) => add(part, n, x),
            None => {
                return Err(DataFusionError::Plan(format!(
                    "{name}(): unknown date part `{p}`"
                )));
            }
        },
        // Databricks' date_add(d, n) adds days; BigQuery's takes an INTERVAL.
        ("date_add", [x, i @ Expr::Interval(_)]) => format!("({x}) + {i}"),
        ("date_sub", [x, i @ Expr::Interval(_)]) => format!("({x}) - {i}"),
        ("date_add", [x, n]) if w == Warehouse::Databricks => add("day", n, x),
        ("date_sub", [x, n]) if w == Warehouse::Databricks => {
            add("day", &parse(&format!("-({n})"), w)?, x)
        }
        ("datediff" | "timestampdiff", [p, a, b]) => match part_of(p) {
            Some(part) => diff(part, a, b),
            None => {
                return Err(DataFusionError::Plan(format!(
                    "{name}(): unknown date part `{p}`"
                )));
            }
        },
        // Databricks' datediff(end, start) counts days.
        ("datediff", [end, start]) if w == Warehouse::Databricks => diff("day", start, end),
        // BigQuery's date_diff(end, start, part).
        ("date_diff" | "timestamp_diff" | "datetime_diff", [end, start, p]) => match part_of(p) {
            Some(part) => diff(part, start, end),
            None => {
                return Err(DataFusionError::Plan(format!(
                    "{name}(): unknown date part `{p}`"
                )));
            }
        },
        ("last_day", [x, rest @ ..]) => {
            let part = match rest {
                [] => "month",
                [p] => part_of(p).unwrap_or("month"),
                _ => return Err(wrong_arity("last_day", "a date and a date part")),
            };
            let step = match part {
                "year" | "quarter" | "month" | "week" => part,
                other => {
                    return Err(DataFusionError::Plan(format!(
                        "last_day(): date part `{other}`: year, quarter, month or week"
                    )));
                }
            };
            let add_one = add(
                step,
                &parse("1", w)?,
                &parse(&format!("date_trunc('{step}', {x})"), w)?,
            );
            format!("CAST({add_one} - INTERVAL '1 day' AS DATE)")
        }
        // A part written as a bare word: `date_trunc(month, x)`; BigQuery's
        // `date_trunc(x, MONTH)` swapped.
        ("date_trunc" | "date_part" | "datepart", [p, x]) if part_of(p).is_some() => {
            let part = part_of(p).unwrap_or_default();
            set_args(f, vec![literal(part), x.clone()]);
            if name == "datepart" {
                rename(f, "date_part");
            }
            return Ok(());
        }
        ("date_trunc" | "timestamp_trunc" | "datetime_trunc", [x, p])
            if w == Warehouse::Bigquery && part_of(p).is_some() =>
        {
            let part = part_of(p).unwrap_or_default();
            rename(f, "date_trunc");
            set_args(f, vec![literal(part), x.clone()]);
            return Ok(());
        }
        _ => return Ok(()),
    };
    // The rewrites written as SQL text are scalar functions: no window.
    if f.over.is_some() {
        return Err(DataFusionError::Plan(format!(
            "{name}() is not a window function"
        )));
    }
    *e = parse(&new, w)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{EngineOptions, session};
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

    async fn one(w: Option<Warehouse>, sql: &str) -> String {
        let options = EngineOptions {
            threads: Some(1),
            warehouse: w,
            ..EngineOptions::default()
        };
        let ctx = session(&options).unwrap();
        let df = plan(&ctx, sql, SQLOptions::new()).await.expect(sql);
        let batches = df.collect().await.expect(sql);
        let fmt = FormatOptions::default().with_null("NULL");
        let f = ArrayFormatter::try_new(batches[0].column(0).as_ref(), &fmt).unwrap();
        f.value(0).to_string()
    }

    #[tokio::test]
    async fn integer_division_follows_the_warehouse() {
        let sql = "select (2544 / 100)::numeric(16, 2)";
        assert_eq!(one(None, sql).await, "25.00");
        assert_eq!(one(Some(Warehouse::Postgres), sql).await, "25.00");
        for w in [
            Warehouse::Snowflake,
            Warehouse::Duckdb,
            Warehouse::Bigquery,
            Warehouse::Databricks,
        ] {
            let sql = if w == Warehouse::Bigquery {
                "select cast(2544 / 100 as numeric(16, 2))"
            } else {
                sql
            };
            assert_eq!(one(Some(w), sql).await, "25.44", "{w:?}");
        }
        assert_eq!(one(Some(Warehouse::Duckdb), "select 7 // 2").await, "3");
        // SQL for a warehouse not known: no silent answer either way.
        let options = EngineOptions {
            refuse_integer_division: true,
            ..EngineOptions::default()
        };
        let ctx = session(&options).unwrap();
        let err = plan(
            &ctx,
            "select x / 100 from (values (2544)) t(x)",
            SQLOptions::new(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("divides two integers") && err.contains("--dialect"),
            "{err}"
        );
        let ok = plan(
            &ctx,
            "select x / 100.0 from (values (2544)) t(x)",
            SQLOptions::new(),
        )
        .await;
        assert!(ok.is_ok());
    }

    /// Every value of the first row, as text.
    async fn row(w: Warehouse, sql: &str) -> DFResult<Vec<String>> {
        let options = EngineOptions {
            threads: Some(1),
            warehouse: Some(w),
            ..EngineOptions::default()
        };
        let ctx = session(&options).unwrap();
        let batches = plan(&ctx, sql, SQLOptions::new()).await?.collect().await?;
        let fmt = FormatOptions::default().with_null("NULL");
        Ok(batches[0]
            .columns()
            .iter()
            .map(|c| {
                ArrayFormatter::try_new(c.as_ref(), &fmt)
                    .unwrap()
                    .value(0)
                    .to_string()
            })
            .collect())
    }

    #[tokio::test]
    async fn lateral_column_aliases_where_the_warehouse_has_them() {
        let t = "from (values (1, 10), (2, 20)) t(id, amount)";
        let sql = format!(
            "select amount / 10 as units, units * 3 as tripled, tripled + units as four {t} where id = 2"
        );
        for w in [
            Warehouse::Snowflake,
            Warehouse::Duckdb,
            Warehouse::Databricks,
            Warehouse::Redshift,
        ] {
            let got = row(w, &sql).await.unwrap();
            let want = if w.divides_to_fraction() {
                ["2.0", "6.0", "8.0"]
            } else {
                ["2", "6", "8"]
            };
            assert_eq!(got, want, "{w:?}");
        }
        // In WHERE and QUALIFY, in a CTE and in a subquery too.
        let sql = format!(
            "with c as (select id * 2 as twice, twice + 1 as odd {t}) \
             select * from (select odd, odd > 3 as big from c) where big qualify row_number() over (order by odd) = 1"
        );
        assert_eq!(
            row(Warehouse::Snowflake, &sql).await.unwrap(),
            ["5", "true"]
        );
        // A real column of the alias's name is the column.
        let sql = format!("select amount * 2 as id, id as original {t} where id = 1");
        assert_eq!(row(Warehouse::Snowflake, &sql).await.unwrap(), ["20", "1"]);
        // BigQuery and Postgres have none: the error is DataFusion's.
        let sql = format!("select amount as a, a + 1 as b {t}");
        let err = row(Warehouse::Bigquery, &sql)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("a"), "{err}");
        // A name that is no alias stays an error.
        let err = row(Warehouse::Snowflake, &format!("select nope {t}"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[tokio::test]
    async fn warehouse_functions_compute_what_the_warehouse_computes() {
        let s = Some(Warehouse::Snowflake);
        assert_eq!(one(s, "select iff(1 < 2, 'a', 'b')").await, "a");
        assert_eq!(one(s, "select div0(1, 0)").await, "0.0");
        assert_eq!(one(s, "select zeroifnull(null::int)").await, "0");
        assert_eq!(
            one(s, "select dateadd(day, 3, '2024-02-27'::date)").await,
            "2024-03-01"
        );
        assert_eq!(
            one(s, "select dateadd(month, -1, '2024-03-31'::date)").await,
            "2024-02-29"
        );
        assert_eq!(
            one(
                s,
                "select datediff(day, '2024-01-01'::date, '2024-03-01'::date)"
            )
            .await,
            "60"
        );
        assert_eq!(
            one(
                s,
                "select datediff(month, '2023-12-31'::date, '2024-01-01'::date)"
            )
            .await,
            "1"
        );
        assert_eq!(
            one(
                s,
                "select datediff('year', '2023-12-31'::date, '2024-01-01'::date)"
            )
            .await,
            "1"
        );
        assert_eq!(
            one(s, "select datediff(hour, '2024-01-01 10:59:00'::timestamp, '2024-01-01 11:00:00'::timestamp)").await,
            "1"
        );
        assert_eq!(
            one(s, "select last_day('2024-02-10'::date)").await,
            "2024-02-29"
        );
        assert_eq!(
            one(s, "select date_trunc(month, '2024-02-10'::date)::date").await,
            "2024-02-01"
        );
        assert_eq!(
            one(s, "select count_if(x > 1) from (values (1), (2), (3)) t(x)").await,
            "2"
        );
        assert_eq!(
            one(s, "select md5('a')").await,
            "0cc175b9c0f1b6a831c399e269772661"
        );
        assert_eq!(
            one(s, "select sha2('a')").await,
            "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
        );
        let b = Some(Warehouse::Bigquery);
        assert_eq!(one(b, "select safe_divide(1, 0)").await, "NULL");
        assert_eq!(
            one(
                b,
                "select countif(x > 1) from (select 1 as x union all select 2 union all select 3) t"
            )
            .await,
            "2"
        );
        assert_eq!(
            one(
                b,
                "select date_diff(cast('2024-03-01' as date), cast('2024-01-01' as date), DAY)"
            )
            .await,
            "60"
        );
        assert_eq!(
            one(
                b,
                "select logical_or(x > 2) from (select 1 as x union all select 3) t"
            )
            .await,
            "true"
        );
        // What the README says DataFusion has of its own, under the dialects.
        assert_eq!(one(s, "select nvl(null, 1)").await, "1");
        assert_eq!(one(s, "select nvl2(null, 1, 2)").await, "2");
        assert_eq!(one(s, "select '7'::int + 1").await, "8");
        assert_eq!(
            one(s, "select x from (values (1), (2)) t(x) qualify row_number() over (order by x desc) = 1").await,
            "2"
        );
        assert_eq!(one(b, "select `x` from (select 3 as x) t").await, "3");
        let d = Some(Warehouse::Databricks);
        assert_eq!(one(d, "select `x` from (select 4 as x) t").await, "4");
        assert_eq!(
            one(d, "select date_add('2024-02-28'::date, 2)").await,
            "2024-03-01"
        );
    }
}
