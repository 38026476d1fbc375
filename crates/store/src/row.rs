//! Reading columns the same way from either driver's row type.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::StoreError;

/// The column reads the repositories need, implemented for both drivers'
/// rows so that row-to-struct code is written once.
pub(crate) trait RowExt {
    fn text(&self, col: &'static str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &'static str) -> Result<Option<String>, StoreError>;
    fn int(&self, col: &'static str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &'static str) -> Result<Option<i64>, StoreError>;
    fn flag(&self, col: &'static str) -> Result<bool, StoreError>;
    fn opt_real(&self, col: &'static str) -> Result<Option<f32>, StoreError>;
}

macro_rules! impl_row_ext {
    ($row:ty) => {
        impl RowExt for $row {
            fn text(&self, col: &'static str) -> Result<String, StoreError> {
                Ok(self.try_get(col)?)
            }
            fn opt_text(&self, col: &'static str) -> Result<Option<String>, StoreError> {
                Ok(self.try_get(col)?)
            }
            fn int(&self, col: &'static str) -> Result<i64, StoreError> {
                Ok(self.try_get(col)?)
            }
            fn opt_int(&self, col: &'static str) -> Result<Option<i64>, StoreError> {
                Ok(self.try_get(col)?)
            }
            fn flag(&self, col: &'static str) -> Result<bool, StoreError> {
                Ok(self.try_get(col)?)
            }
            fn opt_real(&self, col: &'static str) -> Result<Option<f32>, StoreError> {
                Ok(self.try_get(col)?)
            }
        }
    };
}

impl_row_ext!(SqliteRow);
impl_row_ext!(PgRow);

/// An `i64` column that must fit a `u32`.
pub(crate) fn to_u32(what: &'static str, v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::corrupt(what, format!("{v} is out of range")))
}
