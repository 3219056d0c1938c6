//! `pit store backup PATH`: a consistent copy of the store, also while a run is using it
//! (the scalping design's disaster-recovery copies).
//!
//! redb has no backup call, and copying the file under a running writer could catch a
//! half-written commit. A read transaction, though, is one consistent snapshot that the
//! writer never waits for: every table is copied from it, row by row, into a new
//! database, committed (fsynced) by redb, then read back and counted before it takes its
//! final name. The copy is written beside the target as `<PATH>.partial` and renamed only
//! once verified, so a crash or a full disk never leaves a half backup under the name a
//! person will restore from; an existing file is never overwritten.

use super::schema::*;
use super::{Store, StoreError};
use redb::{Database, Key, ReadableDatabase, ReadableTableMetadata, TableDefinition, Value};
use std::path::{Path, PathBuf};

/// What a backup wrote.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupSummary {
    /// The copy.
    pub path: PathBuf,
    /// Tables copied (those the store has).
    pub tables: usize,
    /// Rows copied, all tables together.
    pub rows: u64,
    /// The copy's size on disk.
    pub bytes: u64,
}

impl BackupSummary {
    /// One line for a person.
    pub fn line(&self, from: &Path) -> String {
        format!(
            "backed up {} to {}: {} rows in {} tables, {} bytes",
            from.display(),
            self.path.display(),
            self.rows,
            self.tables,
            self.bytes
        )
    }
}

fn db_err(what: &str, path: &Path) -> impl FnOnce(redb::Error) -> StoreError {
    let at = format!("{what} {}", path.display());
    move |e| StoreError::Db(format!("{at}: {e}"))
}

/// Copy one table from the snapshot; a table this store never created is skipped.
/// Returns the rows copied, or `None` when the table does not exist.
fn copy_table<K: Key + 'static, V: Value + 'static>(
    def: TableDefinition<K, V>,
    from: &redb::ReadTransaction,
    to: &redb::WriteTransaction,
    dest: &Path,
    bar: &indicatif::ProgressBar,
) -> Result<Option<u64>, StoreError> {
    let src = match from.open_table(def) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(db_err("cannot read", dest)(e.into())),
    };
    let mut out = to
        .open_table(def)
        .map_err(|e| db_err("cannot write", dest)(e.into()))?;
    let mut rows = 0;
    for row in redb::ReadableTable::iter(&src).map_err(|e| db_err("cannot read", dest)(e.into()))? {
        let (k, v) = row.map_err(|e| db_err("cannot read", dest)(e.into()))?;
        out.insert(k.value(), v.value())
            .map_err(|e| db_err("cannot write", dest)(e.into()))?;
        rows += 1;
        bar.inc(1);
    }
    Ok(Some(rows))
}

/// Row count of one table of `db`, `None` when absent.
fn count<K: Key + 'static, V: Value + 'static>(
    def: TableDefinition<K, V>,
    tx: &redb::ReadTransaction,
    path: &Path,
) -> Result<Option<u64>, StoreError> {
    match tx.open_table(def) {
        Ok(t) => t
            .len()
            .map(Some)
            .map_err(|e| db_err("cannot count", path)(e.into())),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(db_err("cannot read", path)(e.into())),
    }
}

/// Every table of the schema, through one generic call each (their key and value types
/// differ, so a list of definitions cannot be iterated).
macro_rules! each_table {
    ($f:ident, $($arg:expr),*) => {
        [
            $f(SCHEMA, $($arg),*)?,
            $f(RUNS, $($arg),*)?,
            $f(ORDERS, $($arg),*)?,
            $f(OPEN_ORDERS, $($arg),*)?,
            $f(LAST_FILLS, $($arg),*)?,
            $f(ORDER_EVENTS, $($arg),*)?,
            $f(FILLS, $($arg),*)?,
            $f(POSITIONS, $($arg),*)?,
            $f(TRADES, $($arg),*)?,
            $f(ALERTS, $($arg),*)?,
            $f(DAILY, $($arg),*)?,
            $f(STRATEGIES, $($arg),*)?,
            $f(STATE, $($arg),*)?,
            $f(AUDIT, $($arg),*)?,
            $f(META, $($arg),*)?,
            $f(AGED, $($arg),*)?,
            $f(FILLS_V1, $($arg),*)?,
        ]
    };
}

fn partial_path(dest: &Path) -> PathBuf {
    let mut p = dest.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

impl Store {
    /// Write a verified copy of everything committed so far to `dest` (module docs).
    pub fn backup(&self, dest: &Path) -> Result<BackupSummary, StoreError> {
        self.backup_with(dest, &indicatif::ProgressBar::hidden())
    }

    /// [`Store::backup`], counting the rows copied on `bar` (its length set to the rows
    /// the snapshot holds).
    pub fn backup_with(
        &self,
        dest: &Path,
        bar: &indicatif::ProgressBar,
    ) -> Result<BackupSummary, StoreError> {
        if dest.exists() {
            return Err(StoreError::Io(format!(
                "{} already exists; a backup never overwrites a file (choose another path)",
                dest.display()
            )));
        }
        if same_file(dest, self.path()) {
            return Err(StoreError::Io(format!(
                "{} is the store itself",
                dest.display()
            )));
        }
        let tmp = partial_path(dest);
        let _ = std::fs::remove_file(&tmp);
        let result = self.backup_into(&tmp, dest, bar);
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn backup_into(
        &self,
        tmp: &Path,
        dest: &Path,
        bar: &indicatif::ProgressBar,
    ) -> Result<BackupSummary, StoreError> {
        let snapshot = self
            .db()
            .begin_read()
            .map_err(|e| db_err("cannot read", self.path())(e.into()))?;
        let total = each_table!(count, &snapshot, self.path());
        bar.set_length(total.iter().flatten().sum());
        bar.set_position(0);
        let copied = {
            let db = Database::create(tmp)
                .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", tmp.display())))?;
            let tx = db
                .begin_write()
                .map_err(|e| db_err("cannot write", tmp)(e.into()))?;
            let copied = each_table!(copy_table, &snapshot, &tx, tmp, bar);
            tx.commit()
                .map_err(|e| db_err("cannot commit", tmp)(e.into()))?;
            // Read the copy back: every table the snapshot had, with as many rows.
            let check = db
                .begin_read()
                .map_err(|e| db_err("cannot read back", tmp)(e.into()))?;
            let counted = each_table!(count, &check, tmp);
            if counted != copied {
                return Err(StoreError::Db(format!(
                    "backup {}: read back {counted:?} rows per table, copied {copied:?}",
                    tmp.display()
                )));
            }
            copied
        };
        std::fs::rename(tmp, dest).map_err(|e| {
            StoreError::Io(format!(
                "cannot rename {} to {}: {e}",
                tmp.display(),
                dest.display()
            ))
        })?;
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename itself reaches the disk with its folder.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(BackupSummary {
            path: dest.to_path_buf(),
            tables: copied.iter().flatten().count(),
            rows: copied.iter().flatten().sum(),
            bytes: std::fs::metadata(dest).map_or(0, |m| m.len()),
        })
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_history(dir: &Path) -> Store {
        let store = Store::open(&dir.join("pit.redb")).unwrap();
        store
            .begin_run(RunRow {
                id: 0,
                started: "2026-11-30T00:00:00Z".into(),
                engine_start: crate::domain::Timestamp(1),
                mode: "headless".into(),
                version: "test".into(),
                seed: 7,
                config: String::new(),
                pid: 1,
            })
            .unwrap();
        store
    }

    #[test]
    fn a_backup_opens_as_a_store_with_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_history(dir.path());
        let dest = dir.path().join("copy.redb");
        let s = store.backup(&dest).unwrap();
        assert!(s.rows >= 2, "{s:?}");
        assert!(!partial_path(&dest).exists());
        drop(store);
        let copy = Store::open_existing(&dest).unwrap();
        assert_eq!(copy.runs().unwrap().len(), 1);
        assert_eq!(copy.schema_version().unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_backup_never_overwrites_and_never_targets_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_history(dir.path());
        let dest = dir.path().join("taken");
        std::fs::write(&dest, b"precious").unwrap();
        let e = store.backup(&dest).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"precious");
        let e = store.backup(store.path()).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
    }

    #[test]
    fn a_backup_into_a_missing_folder_says_so_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_history(dir.path());
        let dest = dir.path().join("no/such/folder/copy.redb");
        let e = store.backup(&dest).unwrap_err().to_string();
        assert!(e.contains("cannot create"), "{e}");
        assert!(!dest.exists());
    }
}
