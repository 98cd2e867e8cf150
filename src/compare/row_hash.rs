//! A 64-bit hash of a row's compared columns, as a scalar function.
//!
//! The keyed comparison first pairs keys carrying only this hash; rows whose
//! hashes agree are unchanged (their values are bit for bit identical) and
//! only the rest are read again in full and compared cell by cell. Each
//! column is hashed with its own seed (DataFusion's vectorised hashing), a
//! NULL gets its own marker, and the columns are folded in order through a
//! strong 64-bit mixer, so swapped values or a NULL moving between columns
//! change the hash. Two different rows agree with probability about 2^-64.
//!
//! With the profile on, the census does not call it: the profile hashes
//! every value anyway (a hash that is the same on every machine) and makes
//! the row hash from those (`profile/exec.rs`); this function serves
//! `--no-profile`.
//!
//! Its values need only agree within one run. The determinism check orders
//! rows by a different hash (xxHash64 of the row format, in
//! `determinism.rs`) because that order must be the same on every machine.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, UInt64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result as DfResult;
use datafusion::common::hash_utils::{RandomState, create_hashes};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};

/// Whether values of `t` can be hashed here (flat types only; nested or
/// exotic columns take the full comparison path instead).
pub fn hashable(t: &DataType) -> bool {
    use DataType::*;
    match t {
        Null | Boolean | Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64
        | Float16 | Float32 | Float64 | Decimal32(..) | Decimal64(..) | Decimal128(..)
        | Decimal256(..) | Date32 | Date64 | Time32(_) | Time64(_) | Timestamp(..)
        | Duration(_) | Interval(_) | Utf8 | LargeUtf8 | Utf8View | Binary | LargeBinary
        | BinaryView | FixedSizeBinary(_) => true,
        Dictionary(_, v) => hashable(v),
        _ => false,
    }
}

/// `row_hash(c1, ..., cn)` over the given expressions (a constant when none).
pub fn expr(args: Vec<Expr>) -> Expr {
    if args.is_empty() {
        return lit(0u64);
    }
    udf().call(args)
}

/// The row hash function, which workers of the distributed engine
/// register under the name plans give it.
pub fn udf() -> ScalarUDF {
    ScalarUDF::from(RowHash::new())
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RowHash {
    signature: Signature,
}

impl RowHash {
    fn new() -> Self {
        RowHash {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

/// MurmurHash3's 64-bit finaliser: a bijection with full avalanche.
pub(crate) fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// Hash of each row of `columns` (all of `rows` length).
pub fn hash_rows(columns: &[ArrayRef], rows: usize) -> DfResult<Vec<u64>> {
    let mut row = vec![0x9e37_79b9_7f4a_7c15u64; rows];
    let mut col = vec![0u64; rows];
    for (j, c) in columns.iter().enumerate() {
        let j = j as u64;
        // NULL rows keep this marker: create_hashes leaves them untouched.
        col.fill(fmix64(0xdead_beef ^ j));
        create_hashes([c], &RandomState::with_seed(j + 1), &mut col)?;
        for (r, h) in row.iter_mut().zip(&col) {
            *r = fmix64(*r ^ h);
        }
    }
    Ok(row)
}

impl ScalarUDFImpl for RowHash {
    fn name(&self) -> &str {
        "diffgate_row_hash"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::UInt64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        // A constant column (a literal, or one the planner folded) comes as
        // a scalar: expand it to the batch's length.
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<DfResult<Vec<ArrayRef>>>()?;
        let hashes = hash_rows(&arrays, rows)?;
        Ok(ColumnarValue::Array(Arc::new(UInt64Array::from(hashes))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};

    fn h(cols: Vec<ArrayRef>) -> Vec<u64> {
        let n = cols[0].len();
        hash_rows(&cols, n).unwrap()
    }

    #[test]
    fn equal_rows_agree_and_any_change_disagrees() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(1), None, Some(2)]));
        let b: ArrayRef = Arc::new(StringArray::from(vec![
            Some("x"),
            Some("y"),
            Some("x"),
            None,
        ]));
        let hs = h(vec![a, b]);
        assert_ne!(hs[0], hs[1], "one string changed");
        assert_ne!(hs[0], hs[2], "a value became NULL");
        let again = h(vec![
            Arc::new(Int64Array::from(vec![Some(1)])),
            Arc::new(StringArray::from(vec![Some("x")])),
        ]);
        assert_eq!(hs[0], again[0], "same values, same hash in another batch");
    }

    #[test]
    fn position_and_null_placement_matter() {
        // (NULL, 5) vs (5, NULL) and (1, 2) vs (2, 1).
        let x: ArrayRef = Arc::new(Int64Array::from(vec![None, Some(5), Some(1), Some(2)]));
        let y: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), None, Some(2), Some(1)]));
        let hs = h(vec![x, y]);
        assert_ne!(hs[0], hs[1]);
        assert_ne!(hs[2], hs[3]);
    }

    #[test]
    fn floats_hash_their_values() {
        let f: ArrayRef = Arc::new(Float64Array::from(vec![0.1, 0.1 + 1e-12, -0.0, 0.0]));
        let hs = h(vec![f]);
        assert_ne!(hs[0], hs[1], "float noise is a candidate, decided later");
        // Agreeing is safe only because the comparison also holds -0.0 = 0.0.
        assert_eq!(hs[2], hs[3], "signed zeros hash alike");
    }
}
