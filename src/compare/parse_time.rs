//! Strings compared with dates and timestamps: `[compare.columns.NAME]
//! format` names the `strftime` format (chrono's syntax) the string side
//! is written in, and this function, `diffgate_parse_time(text, format)`,
//! reads it into a zone-less microsecond timestamp that the comparison
//! then casts to the other side's type (a date keeps its day; a zoned
//! timestamp reads the text as wall-clock time in its zone). A text that
//! does not parse is NULL, so it shows as a value against NULL, never as
//! an error of the run. The format is an argument, not captured state.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarUDF, Volatility, create_udf, lit};

/// `text` (a string expression) parsed with `format`.
pub fn expr(text: Expr, format: &str) -> Expr {
    udf().call(vec![
        datafusion::logical_expr::cast(text, DataType::Utf8),
        lit(format),
    ])
}

fn udf() -> ScalarUDF {
    create_udf(
        "diffgate_parse_time",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Timestamp(TimeUnit::Microsecond, None),
        Volatility::Immutable,
        Arc::new(parse),
    )
}

fn parse(args: &[ColumnarValue]) -> datafusion::error::Result<ColumnarValue> {
    let format = match args.get(1) {
        Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(f)))) => f.clone(),
        _ => return exec_err!("diffgate_parse_time: the format must be a text literal"),
    };
    let Some(text) = args.first() else {
        return exec_err!("diffgate_parse_time: no text to parse");
    };
    let array = text.to_array(1)?;
    let array = cast(&array, &DataType::Utf8)?;
    let strings = array.as_string::<i32>();
    let out: TimestampMicrosecondArray = strings
        .iter()
        .map(|s| s.and_then(|s| micros(s, &format)))
        .collect();
    Ok(match text {
        ColumnarValue::Scalar(_) => ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?),
        ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(out)),
    })
}

/// `s` as microseconds since the epoch, read with `format` as a date and
/// time, else as a date at midnight.
fn micros(s: &str, format: &str) -> Option<i64> {
    use chrono::{NaiveDate, NaiveDateTime};
    NaiveDateTime::parse_from_str(s, format)
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s, format)
                .ok()?
                .and_hms_opt(0, 0, 0)
        })
        .map(|t| t.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Array;

    use super::*;

    #[test]
    fn dates_and_times_parse_and_anything_else_is_null() {
        let day = micros("31/01/2024", "%d/%m/%Y").unwrap();
        assert_eq!(day, 1_706_659_200_000_000);
        let t = micros("2024-01-31 10:30", "%Y-%m-%d %H:%M").unwrap();
        assert_eq!(
            t - micros("2024-01-31", "%Y-%m-%d").unwrap(),
            37_800_000_000
        );
        assert_eq!(micros("31/02/2024", "%d/%m/%Y"), None);
        assert_eq!(micros("soon", "%d/%m/%Y"), None);
        let out = parse(&[
            ColumnarValue::Array(Arc::new(datafusion::arrow::array::StringArray::from(vec![
                Some("01/02/2024"),
                None,
                Some("x"),
            ]))),
            ColumnarValue::Scalar(ScalarValue::Utf8(Some("%d/%m/%Y".into()))),
        ])
        .unwrap()
        .to_array(3)
        .unwrap();
        assert_eq!((out.null_count(), out.is_valid(0)), (2, true));
    }
}
