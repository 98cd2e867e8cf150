//! Stage 3, align: decide what can be compared with what. From the two output
//! schemas it derives the schema diff (added, removed, retyped, reordered,
//! nullability, each classed compatible or breaking), resolves the key on
//! both sides, and picks for every shared column the common type its values
//! are compared in (int32 vs int64 compare as int64, int vs float as float64)
//! and how its strings are normalised first. Nothing here reads data.

use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use crate::error::{Error, Result, did_you_mean};
use crate::report::{NamedType, NullabilityChange, SchemaDiff, TypeChange};

/// A column present on both sides, the type both are cast to, and how its
/// strings are normalised before they are compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub name: String,
    pub v1_type: DataType,
    pub v2_type: DataType,
    pub common: DataType,
    pub normalize: Normalize,
    /// A string side parsed as a date or timestamp with this format
    /// (`[compare.columns.NAME] format`) to compare with the other side's.
    pub parse: Option<String>,
}

/// How a string column's values are normalised on both sides before they
/// are compared (and paired, for a key): `[compare.columns.NAME] trim`,
/// `ignore_case`, `collapse_whitespace`. Other types are compared as they
/// are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Normalize {
    /// Leading and trailing whitespace removed.
    pub trim: bool,
    /// Compared in lower case.
    pub ignore_case: bool,
    /// Every run of whitespace as one space.
    pub collapse_whitespace: bool,
}

impl Normalize {
    pub fn any(self) -> bool {
        self.trim || self.ignore_case || self.collapse_whitespace
    }
}

/// What the compare stage needs: the key, the compared columns, the schema diff.
#[derive(Debug, Clone)]
pub struct Alignment {
    pub schema: SchemaDiff,
    /// Key columns (empty = keyless, whole-row multiset comparison).
    pub key: Vec<Pair>,
    /// Value columns compared on matched rows, in v1 order.
    pub columns: Vec<Pair>,
}

/// Each of `names` is a column of v1 or v2; else a usage error naming it
/// as `what`, with the closest column name.
fn check_named(v1: &Schema, v2: &Schema, names: &[String], what: &str) -> Result<()> {
    for name in names {
        if v1.field_with_name(name).is_err() && v2.field_with_name(name).is_err() {
            let all = v1
                .fields()
                .iter()
                .chain(v2.fields().iter())
                .map(|f| f.name().as_str());
            let hint = did_you_mean(name, all)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(Error::Usage(format!(
                "{what} `{name}` is in neither v1 nor v2{hint}"
            )));
        }
    }
    Ok(())
}

/// Align two output schemas for comparison. Every column the options name
/// (ignored, or with its own tolerance) must exist on some side: a typo
/// would otherwise silently compare with the wrong settings.
pub fn align(
    v1: &Schema,
    v2: &Schema,
    key: &[String],
    ignore: &[String],
    tolerated: &[String],
    normalized: &std::collections::BTreeMap<String, Normalize>,
) -> Result<Alignment> {
    check_named(v1, v2, ignore, "ignored column")?;
    check_named(v1, v2, tolerated, "tolerance column")?;
    let names: Vec<String> = normalized.keys().cloned().collect();
    check_named(v1, v2, &names, "normalised column")?;
    let normalize = |name: &str| normalized.get(name).copied().unwrap_or_default();
    let schema = schema_diff(v1, v2);
    let mut key_pairs = Vec::with_capacity(key.len());
    for name in key {
        let f1 = find_key(v1, name, "v1")?;
        let f2 = find_key(v2, name, "v2")?;
        let common =
            comparison_type(f1.data_type(), f2.data_type()).ok_or_else(|| Error::KeyType {
                column: name.clone(),
                v1_type: f1.data_type().to_string(),
                v2_type: f2.data_type().to_string(),
            })?;
        key_pairs.push(Pair {
            name: name.clone(),
            v1_type: f1.data_type().clone(),
            v2_type: f2.data_type().clone(),
            common,
            normalize: normalize(name),
            parse: None,
        });
    }
    let columns = v1
        .fields()
        .iter()
        .filter(|f| !key.contains(f.name()) && !ignore.contains(f.name()))
        .filter_map(|f1| {
            let f2 = v2.field_with_name(f1.name()).ok()?;
            let common = comparison_type(f1.data_type(), f2.data_type())?;
            Some(Pair {
                name: f1.name().clone(),
                v1_type: f1.data_type().clone(),
                v2_type: f2.data_type().clone(),
                common,
                normalize: normalize(f1.name()),
                parse: None,
            })
        })
        .collect();
    Ok(Alignment {
        schema,
        key: key_pairs,
        columns,
    })
}

fn find_key<'a>(schema: &'a Schema, name: &str, side: &'static str) -> Result<&'a Field> {
    schema.field_with_name(name).map_err(|_| {
        let names = schema.fields().iter().map(|f| f.name().as_str());
        let hint = match did_you_mean(name, names) {
            Some(s) => format!(" (did you mean `{s}`?)"),
            None => format!(
                "; its columns are: {}",
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Error::KeyMissing {
            column: name.to_string(),
            side,
            hint,
        }
    })
}

/// The schema diff of two outputs, every change classed.
pub fn schema_diff(v1: &Schema, v2: &Schema) -> SchemaDiff {
    let named = |f: &Field| NamedType {
        name: f.name().clone(),
        data_type: f.data_type().to_string(),
    };
    let added: Vec<_> = v2
        .fields()
        .iter()
        .filter(|f| v1.field_with_name(f.name()).is_err())
        .map(|f| named(f))
        .collect();
    let removed: Vec<_> = v1
        .fields()
        .iter()
        .filter(|f| v2.field_with_name(f.name()).is_err())
        .map(|f| named(f))
        .collect();
    let mut changed = Vec::new();
    let mut nullability = Vec::new();
    for f1 in v1.fields() {
        let Ok(f2) = v2.field_with_name(f1.name()) else {
            continue;
        };
        if !f1.data_type().equals_datatype(f2.data_type()) {
            let (compatible, note) = classify_type_change(f1.data_type(), f2.data_type());
            changed.push(TypeChange {
                name: f1.name().clone(),
                v1_type: f1.data_type().to_string(),
                v2_type: f2.data_type().to_string(),
                compatible,
                note,
                comparable: comparison_type(f1.data_type(), f2.data_type()).is_some(),
            });
        }
        if f1.is_nullable() != f2.is_nullable() {
            nullability.push(NullabilityChange {
                name: f1.name().clone(),
                v1_nullable: f1.is_nullable(),
                v2_nullable: f2.is_nullable(),
                // Becoming non-nullable only narrows what readers see. Becoming
                // nullable is allowed by the schema; actual NULLs show up in
                // the value comparison (value_to_null) and are judged there.
                compatible: true,
            });
        }
    }
    let common_v1: Vec<&String> = v1
        .fields()
        .iter()
        .map(|f| f.name())
        .filter(|n| v2.field_with_name(n).is_ok())
        .collect();
    let common_v2: Vec<&String> = v2
        .fields()
        .iter()
        .map(|f| f.name())
        .filter(|n| v1.field_with_name(n).is_ok())
        .collect();
    let reordered = common_v1
        .iter()
        .zip(common_v2.iter())
        .filter(|(a, b)| a != b)
        .map(|(a, _)| (*a).clone())
        .collect();
    let breaking = !removed.is_empty() || changed.iter().any(|c| !c.compatible);
    SchemaDiff {
        added,
        removed,
        changed,
        nullability,
        reordered,
        renamed: Vec::new(),
        proposed_renames: Vec::new(),
        breaking,
        logic_changed: None,
    }
}

/// Broad family of a type, used to tell widening from a change of kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    SignedInt,
    UnsignedInt,
    Float,
    Decimal,
    String,
    Binary,
    Bool,
    Date,
    Time,
    Timestamp,
    Duration,
    Interval,
    Null,
    Other,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::SignedInt | Kind::UnsignedInt => "integer",
            Kind::Float => "floating point",
            Kind::Decimal => "decimal",
            Kind::String => "string",
            Kind::Binary => "binary",
            Kind::Bool => "boolean",
            Kind::Date => "date",
            Kind::Time => "time",
            Kind::Timestamp => "timestamp",
            Kind::Duration => "duration",
            Kind::Interval => "interval",
            Kind::Null => "null",
            Kind::Other => "nested",
        }
    }

    fn is_numeric(self) -> bool {
        matches!(
            self,
            Kind::SignedInt | Kind::UnsignedInt | Kind::Float | Kind::Decimal
        )
    }
}

/// Strip encodings that do not change the logical type.
fn logical(dt: &DataType) -> &DataType {
    match dt {
        DataType::Dictionary(_, v) => logical(v),
        DataType::RunEndEncoded(_, v) => logical(v.data_type()),
        other => other,
    }
}

fn kind(dt: &DataType) -> Kind {
    use DataType::*;
    match logical(dt) {
        Int8 | Int16 | Int32 | Int64 => Kind::SignedInt,
        UInt8 | UInt16 | UInt32 | UInt64 => Kind::UnsignedInt,
        Float16 | Float32 | Float64 => Kind::Float,
        Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => Kind::Decimal,
        Utf8 | LargeUtf8 | Utf8View => Kind::String,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Kind::Binary,
        Boolean => Kind::Bool,
        Date32 | Date64 => Kind::Date,
        Time32(_) | Time64(_) => Kind::Time,
        Timestamp(..) => Kind::Timestamp,
        Duration(_) => Kind::Duration,
        Interval(_) => Kind::Interval,
        Null => Kind::Null,
        _ => Kind::Other,
    }
}

fn int_width(dt: &DataType) -> u32 {
    use DataType::*;
    match dt {
        Int8 | UInt8 => 8,
        Int16 | UInt16 | Float16 => 16,
        Int32 | UInt32 | Float32 => 32,
        Int64 | UInt64 | Float64 => 64,
        _ => 0,
    }
}

fn decimal_parts(dt: &DataType) -> Option<(u8, i8, u32)> {
    use DataType::*;
    match dt {
        Decimal32(p, s) => Some((*p, *s, 32)),
        Decimal64(p, s) => Some((*p, *s, 64)),
        Decimal128(p, s) => Some((*p, *s, 128)),
        Decimal256(p, s) => Some((*p, *s, 256)),
        _ => None,
    }
}

fn unit_rank(u: &TimeUnit) -> u8 {
    match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    }
}

/// Is a change of column type from `v1` to `v2` safe for readers?
pub fn classify_type_change(v1: &DataType, v2: &DataType) -> (bool, String) {
    let (compatible, note) = classify(v1, v2);
    let note = if note == "changes kind" || note == "changes numeric kind" {
        format!("{note} ({} → {})", kind(v1).label(), kind(v2).label())
    } else {
        note.to_string()
    };
    (compatible, note)
}

fn classify(v1: &DataType, v2: &DataType) -> (bool, &'static str) {
    use DataType::*;
    let (a, b) = (logical(v1), logical(v2));
    if a.equals_datatype(b) {
        return (true, "same logical type, different encoding");
    }
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        return match (ka, kb) {
            (Kind::UnsignedInt, Kind::SignedInt) if int_width(b) > int_width(a) => {
                (true, "widening")
            }
            (Kind::Null, _) => (true, "was always NULL"),
            _ if ka.is_numeric() && kb.is_numeric() => (false, "changes numeric kind"),
            _ => (false, "changes kind"),
        };
    }
    match ka {
        Kind::SignedInt | Kind::UnsignedInt | Kind::Float => {
            if int_width(b) > int_width(a) {
                (true, "widening")
            } else {
                (false, "narrowing")
            }
        }
        Kind::Decimal => {
            let ((pa, sa, wa), (pb, sb, wb)) =
                (decimal_parts(a).unwrap(), decimal_parts(b).unwrap());
            if sa != sb {
                (false, "decimal scale changes")
            } else if pb >= pa && wb >= wa {
                (true, "widening")
            } else {
                (false, "narrowing")
            }
        }
        Kind::String | Kind::Binary => match (a, b) {
            (LargeUtf8, Utf8 | Utf8View) | (LargeBinary, Binary | BinaryView) => {
                (false, "narrowing")
            }
            (FixedSizeBinary(_), _) | (_, FixedSizeBinary(_)) => (false, "changes binary width"),
            _ => (true, "widening"),
        },
        Kind::Date => match (a, b) {
            (Date32, Date64) => (true, "widening"),
            _ => (false, "narrowing"),
        },
        Kind::Timestamp => match (a, b) {
            (Timestamp(ua, ta), Timestamp(ub, tb)) => {
                if ta != tb {
                    (false, "time zone changes")
                } else if unit_rank(ub) > unit_rank(ua) {
                    (true, "finer precision")
                } else {
                    (false, "coarser precision")
                }
            }
            _ => (false, "changes kind"),
        },
        Kind::Time | Kind::Duration => {
            let rank = |d: &DataType| match d {
                Time32(u) | Time64(u) | Duration(u) => unit_rank(u),
                _ => 0,
            };
            if rank(b) > rank(a) {
                (true, "finer precision")
            } else {
                (false, "coarser precision")
            }
        }
        _ => (false, "changes type"),
    }
}

/// The type both sides' values are cast to for comparison, or `None` when
/// the kinds differ (a string is never compared with a number).
/// Compare the columns `formats` names whose one side is a string and
/// the other a date or timestamp: the string side is parsed with the
/// column's format (chrono's `strftime` syntax) into the other's type.
/// Each must be such a column, else a usage error naming it.
pub fn with_formats(
    alignment: &mut Alignment,
    v1: &Schema,
    v2: &Schema,
    formats: &std::collections::BTreeMap<String, String>,
) -> Result<()> {
    let names: Vec<String> = formats.keys().cloned().collect();
    check_named(v1, v2, &names, "column with a format")?;
    for (name, format) in formats {
        let bad = |m: &str| Error::Usage(format!("format of column `{name}`: {m}"));
        let (Ok(f1), Ok(f2)) = (v1.field_with_name(name), v2.field_with_name(name)) else {
            return Err(bad("the column is not in both v1 and v2"));
        };
        let (t1, t2) = (f1.data_type(), f2.data_type());
        let temporal = |t: &DataType| matches!(kind(logical(t)), Kind::Date | Kind::Timestamp);
        let text = |t: &DataType| kind(logical(t)) == Kind::String;
        let common = match (text(t1), text(t2)) {
            (true, false) if temporal(t2) => logical(t2).clone(),
            (false, true) if temporal(t1) => logical(t1).clone(),
            _ => {
                return Err(bad(&format!(
                    "a format compares a string with a date or timestamp; here v1 is {t1} and v2 {t2}"
                )));
            }
        };
        if alignment.key.iter().any(|k| &k.name == name) {
            return Err(bad("key columns are compared as they are"));
        }
        let pair = Pair {
            name: name.clone(),
            v1_type: t1.clone(),
            v2_type: t2.clone(),
            common,
            normalize: Normalize::default(),
            parse: Some(format.clone()),
        };
        // In v1's column order.
        let at = v1.index_of(name).unwrap_or(usize::MAX);
        let pos = alignment
            .columns
            .iter()
            .position(|p| v1.index_of(&p.name).unwrap_or(0) > at)
            .unwrap_or(alignment.columns.len());
        alignment.columns.retain(|p| &p.name != name);
        alignment
            .columns
            .insert(pos.min(alignment.columns.len()), pair);
        for c in alignment
            .schema
            .changed
            .iter_mut()
            .filter(|c| &c.name == name)
        {
            c.comparable = true;
            c.note = format!("{}; compared by parsing the string with {format:?}", c.note);
        }
    }
    Ok(())
}

pub fn comparison_type(v1: &DataType, v2: &DataType) -> Option<DataType> {
    use DataType::*;
    let (a, b) = (logical(v1), logical(v2));
    let (ka, kb) = (kind(a), kind(b));
    if ka == Kind::Null && kb == Kind::Null {
        return Some(Null);
    }
    if ka == Kind::Null {
        return comparison_type(b, b);
    }
    if kb == Kind::Null {
        return comparison_type(a, a);
    }
    if ka.is_numeric() && kb.is_numeric() {
        return Some(numeric_common(a, b, ka, kb));
    }
    if ka != kb {
        return None;
    }
    match ka {
        Kind::String => Some(if a == b { a.clone() } else { LargeUtf8 }),
        Kind::Binary => Some(if a == b { a.clone() } else { LargeBinary }),
        Kind::Bool => Some(Boolean),
        Kind::Date => Some(if a == b { a.clone() } else { Date64 }),
        Kind::Timestamp => match (a, b) {
            (Timestamp(ua, ta), Timestamp(ub, tb)) => {
                // A zone-less timestamp is a wall-clock time, not an instant:
                // it cannot be compared with a zoned one.
                if ta.is_some() != tb.is_some() {
                    return None;
                }
                let unit = if unit_rank(ub) > unit_rank(ua) {
                    ub
                } else {
                    ua
                };
                Some(Timestamp(*unit, ta.clone()))
            }
            _ => None,
        },
        _ => {
            if a.equals_datatype(b) {
                Some(a.clone())
            } else {
                datafusion::logical_expr::type_coercion::binary::comparison_coercion(a, b)
                    .filter(|t| kind(t) == ka)
            }
        }
    }
}

fn numeric_common(a: &DataType, b: &DataType, ka: Kind, kb: Kind) -> DataType {
    use DataType::*;
    if ka == Kind::Float || kb == Kind::Float {
        return Float64;
    }
    let scale = |d: &DataType| decimal_parts(d).map_or(0, |(_, s, _)| s);
    if ka == Kind::Decimal || kb == Kind::Decimal {
        let wide = [a, b].iter().any(|d| matches!(d, Decimal256(..)));
        let s = scale(a).max(scale(b));
        return if wide {
            Decimal256(76, s)
        } else {
            Decimal128(38, s)
        };
    }
    match (ka, kb) {
        (Kind::UnsignedInt, Kind::UnsignedInt) => UInt64,
        _ if matches!(a, UInt64) || matches!(b, UInt64) => Decimal128(20, 0),
        _ => Int64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: &[(&str, DataType, bool)]) -> Schema {
        Schema::new(
            fields
                .iter()
                .map(|(n, t, null)| Field::new(*n, t.clone(), *null))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn widening_is_compatible_and_narrowing_breaks() {
        use DataType::*;
        assert!(classify_type_change(&Int32, &Int64).0);
        assert!(classify_type_change(&Int8, &Int16).0);
        assert!(!classify_type_change(&Int64, &Int32).0);
        assert!(classify_type_change(&Float32, &Float64).0);
        assert!(classify_type_change(&Decimal128(10, 2), &Decimal128(18, 2)).0);
        assert!(!classify_type_change(&Decimal128(10, 2), &Decimal128(18, 3)).0);
        assert!(classify_type_change(&Utf8, &LargeUtf8).0);
        assert!(!classify_type_change(&LargeUtf8, &Utf8).0);
        assert!(
            classify_type_change(
                &Timestamp(TimeUnit::Millisecond, None),
                &Timestamp(TimeUnit::Microsecond, None)
            )
            .0
        );
        assert!(
            !classify_type_change(
                &Timestamp(TimeUnit::Microsecond, None),
                &Timestamp(TimeUnit::Second, None)
            )
            .0
        );
        assert!(!classify_type_change(&Int64, &Utf8).0);
        assert!(!classify_type_change(&Boolean, &Int32).0);
        assert!(!classify_type_change(&Int64, &Float64).0);
        assert!(classify_type_change(&UInt16, &Int32).0);
        let dict = Dictionary(Box::new(Int32), Box::new(Utf8));
        assert!(classify_type_change(&dict, &Utf8).0);
    }

    #[test]
    fn all_null_columns_compare_as_null_without_recursing() {
        // A column that is NULL in both versions (e.g. `SELECT NULL AS x`,
        // or a header-only CSV) once recursed without end.
        use DataType::*;
        assert_eq!(comparison_type(&Null, &Null), Some(Null));
        assert_eq!(comparison_type(&Null, &Int64), Some(Int64));
        assert_eq!(comparison_type(&Utf8, &Null), Some(Utf8));
    }

    #[test]
    fn comparison_types_stay_within_a_kind() {
        use DataType::*;
        assert_eq!(comparison_type(&Int32, &Int64), Some(Int64));
        assert_eq!(comparison_type(&Int64, &Float64), Some(Float64));
        assert_eq!(
            comparison_type(&Decimal128(10, 2), &Decimal128(12, 4)),
            Some(Decimal128(38, 4))
        );
        assert_eq!(comparison_type(&Utf8, &LargeUtf8), Some(LargeUtf8));
        assert_eq!(comparison_type(&Utf8, &Int64), None);
        assert_eq!(comparison_type(&Boolean, &Int8), None);
        assert_eq!(comparison_type(&Null, &Int32), Some(Int64));
    }

    #[test]
    fn schema_diff_classes_every_change() {
        use DataType::*;
        let v1 = schema(&[
            ("id", Int64, false),
            ("a", Int32, true),
            ("b", Utf8, true),
            ("c", Float64, true),
        ]);
        let v2 = schema(&[
            ("id", Int64, false),
            ("b", Int64, true),
            ("a", Int64, false),
            ("d", Utf8, true),
        ]);
        let d = schema_diff(&v1, &v2);
        assert_eq!(
            d.added.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["d"]
        );
        assert_eq!(
            d.removed
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>(),
            ["c"]
        );
        assert_eq!(d.changed.len(), 2);
        let a = d.changed.iter().find(|c| c.name == "a").unwrap();
        assert!(a.compatible && a.comparable);
        let b = d.changed.iter().find(|c| c.name == "b").unwrap();
        assert!(!b.compatible && !b.comparable);
        assert_eq!(d.nullability.len(), 1);
        assert_eq!(d.reordered, ["a", "b"]);
        assert!(d.breaking);
    }

    #[test]
    fn missing_key_is_an_error_naming_the_side_and_a_suggestion() {
        use DataType::*;
        let v1 = schema(&[("order_id", Int64, false)]);
        let v2 = schema(&[("orderid", Int64, false)]);
        let err = align(
            &v1,
            &v2,
            &["order_id".into()],
            &[],
            &[],
            &Default::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`order_id`") && err.contains("v2") && err.contains("orderid"),
            "{err}"
        );
    }

    #[test]
    fn incomparable_key_types_are_an_error() {
        use DataType::*;
        let v1 = schema(&[("id", Int64, false)]);
        let v2 = schema(&[("id", Utf8, false)]);
        let err = align(&v1, &v2, &["id".into()], &[], &[], &Default::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("Int64") && err.contains("Utf8"), "{err}");
    }
}
