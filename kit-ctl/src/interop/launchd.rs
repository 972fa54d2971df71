use super::Imported;
use kit_db::task::file::FileError;
use std::path::PathBuf;
pub fn import(_p: &[PathBuf]) -> Result<Imported, FileError> {
    todo!()
}
