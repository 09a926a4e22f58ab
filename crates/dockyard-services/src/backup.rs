//! Backup and restore of a whole instance: the database (a logical dump from
//! one consistent snapshot, see `dockyard_store::backup`) plus the data dir's
//! files, in one `.tar.gz`.
//!
//! The archive is written to a temporary file and renamed into place, so a
//! backup that fails half-way leaves nothing that looks like a backup.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Component, Path, PathBuf};

use dockyard_store::{BackupManifest, Store};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use crate::ServiceError;

/// What a backup contained, also stored in the archive as `backup.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupSummary {
    pub dockyard_version: String,
    pub database: BackupManifest,
    pub files: u64,
    pub file_bytes: u64,
}

/// Files in the data dir that are the live database itself; the logical dump covers them.
fn is_database_file(relative: &Path) -> bool {
    relative.components().count() == 1
        && relative.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.starts_with("dockyard.db"))
}

fn backup_error(error: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("backup: {error}"))
}

/// Writes a backup of `store` and `data_dir` to `output`.
pub async fn create_backup(store: &Store, data_dir: &Path, output: &Path) -> Result<BackupSummary, ServiceError> {
    let parent = output.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(backup_error)?;
    let staging = parent.join(format!(".dockyard-backup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let dump_dir = staging.join("db");
    let database = store.dump(&dump_dir).await.map_err(|error| ServiceError::Internal(error.to_string()))?;
    let output_owned = output.to_path_buf();
    let data_dir = data_dir.to_path_buf();
    let staging_for_task = staging.clone();
    let result =
        tokio::task::spawn_blocking(move || write_archive(&staging_for_task, &data_dir, &output_owned, database))
            .await
            .map_err(backup_error)?;
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn write_archive(
    staging: &Path,
    data_dir: &Path,
    output: &Path,
    database: BackupManifest,
) -> Result<BackupSummary, ServiceError> {
    let temporary = output.with_extension("partial");
    let file = File::create(&temporary).map_err(backup_error)?;
    let mut archive = tar::Builder::new(GzEncoder::new(BufWriter::new(file), Compression::fast()));
    archive.follow_symlinks(false);
    let mut summary =
        BackupSummary { dockyard_version: env!("CARGO_PKG_VERSION").to_owned(), database, files: 0, file_bytes: 0 };
    for table in &summary.database.tables {
        let path = staging.join("db").join(format!("{}.jsonl", table.name));
        archive.append_path_with_name(&path, format!("db/{}.jsonl", table.name)).map_err(backup_error)?;
    }
    let skip: Vec<PathBuf> =
        [output, temporary.as_path(), staging].iter().filter_map(|path| std::fs::canonicalize(path).ok()).collect();
    if data_dir.exists() {
        add_dir(&mut archive, data_dir, data_dir, &skip, &mut summary)?;
    }
    let manifest = serde_json::to_vec_pretty(&summary).map_err(backup_error)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
    header.set_cksum();
    archive.append_data(&mut header, "backup.json", manifest.as_slice()).map_err(backup_error)?;
    let encoder = archive.into_inner().map_err(backup_error)?;
    let writer = encoder.finish().map_err(backup_error)?;
    let file = writer.into_inner().map_err(|error| backup_error(error.error()))?;
    file.sync_all().map_err(backup_error)?;
    std::fs::rename(&temporary, output).map_err(backup_error)?;
    Ok(summary)
}

fn add_dir(
    archive: &mut tar::Builder<GzEncoder<BufWriter<File>>>,
    root: &Path,
    dir: &Path,
    skip: &[PathBuf],
    summary: &mut BackupSummary,
) -> Result<(), ServiceError> {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).map_err(backup_error)?.collect::<Result<_, _>>().map_err(backup_error)?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        if std::fs::canonicalize(&path).is_ok_and(|canonical| skip.contains(&canonical)) {
            continue;
        }
        let relative = path.strip_prefix(root).map_err(backup_error)?;
        if is_database_file(relative) {
            continue;
        }
        let file_type = entry.file_type().map_err(backup_error)?;
        let name = Path::new("data").join(relative);
        if file_type.is_dir() {
            archive.append_dir(&name, &path).map_err(backup_error)?;
            add_dir(archive, root, &path, skip, summary)?;
        } else if file_type.is_file() || file_type.is_symlink() {
            archive.append_path_with_name(&path, &name).map_err(backup_error)?;
            summary.files += 1;
            summary.file_bytes += entry.metadata().map(|metadata| metadata.len()).unwrap_or(0);
        }
    }
    Ok(())
}

/// Restores a backup into `store` and `data_dir`. Without `replace`, the
/// database must be empty. The database part is all-or-nothing.
pub async fn restore_backup(
    store: &Store,
    data_dir: &Path,
    input: &Path,
    replace: bool,
) -> Result<BackupSummary, ServiceError> {
    store.migrate().await?;
    let parent = data_dir.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let staging = parent.join(format!(".dockyard-restore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(backup_error)?;
    let input = input.to_path_buf();
    let staging_for_task = staging.clone();
    let unpacked =
        tokio::task::spawn_blocking(move || unpack(&input, &staging_for_task)).await.map_err(backup_error)?;
    let result = async {
        let summary = unpacked?;
        store
            .load(&staging.join("db"), &summary.database, replace)
            .await
            .map_err(|error| ServiceError::conflict("restore_refused", error.to_string()))?;
        let files = staging.join("data");
        std::fs::create_dir_all(data_dir).map_err(backup_error)?;
        if replace {
            // Replacing an instance replaces its files too: nothing of the old one stays.
            clear_data_dir(data_dir, &staging)?;
        }
        if files.exists() {
            copy_tree(&files, data_dir)?;
        }
        Ok(summary)
    }
    .await;
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn unpack(input: &Path, staging: &Path) -> Result<BackupSummary, ServiceError> {
    let file = File::open(input).map_err(|error| {
        ServiceError::conflict("restore_refused", format!("cannot open {}: {error}", input.display()))
    })?;
    let mut archive = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    archive.set_preserve_permissions(true);
    for entry in archive.entries().map_err(backup_error)? {
        let mut entry = entry.map_err(backup_error)?;
        let path = entry.path().map_err(backup_error)?.into_owned();
        // Only plain relative paths under db/, data/ or backup.json: no `..`, no absolute paths.
        let safe = path.components().all(|component| matches!(component, Component::Normal(_)));
        let known = path.starts_with("db") || path.starts_with("data") || path == Path::new("backup.json");
        let kind = entry.header().entry_type();
        let allowed_kind = kind.is_file() || kind.is_dir() || kind.is_symlink();
        if !(safe && known && allowed_kind) {
            return Err(ServiceError::conflict(
                "restore_refused",
                format!("unexpected entry {} in the backup", path.display()),
            ));
        }
        if kind.is_symlink() {
            // A link may only point inside the tree it lives in.
            let target = entry.link_name().map_err(backup_error)?.unwrap_or_default().into_owned();
            let depth = path.components().count().saturating_sub(2);
            let mut level: isize = depth as isize;
            for component in target.components() {
                match component {
                    Component::ParentDir => level -= 1,
                    Component::Normal(_) => level += 1,
                    _ => level = -1,
                }
                if level < 0 {
                    return Err(ServiceError::conflict(
                        "restore_refused",
                        format!("link {} points outside the backup", path.display()),
                    ));
                }
            }
        }
        entry.unpack_in(staging).map_err(backup_error)?;
    }
    // The tar reader stops at the end-of-archive marker; reading the gzip stream to
    // its end makes the decoder check the CRC and length trailer, so a damaged
    // archive is refused instead of restoring damaged files.
    let mut decoder = archive.into_inner();
    std::io::copy(&mut decoder, &mut std::io::sink())
        .map_err(|error| ServiceError::conflict("restore_refused", format!("the archive is damaged: {error}")))?;
    let manifest = std::fs::read(staging.join("backup.json"))
        .map_err(|_| ServiceError::conflict("restore_refused", "not a Dockyard backup: backup.json is missing"))?;
    serde_json::from_slice(&manifest)
        .map_err(|error| ServiceError::conflict("restore_refused", format!("backup.json: {error}")))
}

/// Removes everything in the data dir except the live database files (already
/// replaced inside the database) and the restore's own staging directory.
fn clear_data_dir(data_dir: &Path, staging: &Path) -> Result<(), ServiceError> {
    let staging = std::fs::canonicalize(staging).ok();
    for entry in std::fs::read_dir(data_dir).map_err(backup_error)? {
        let entry = entry.map_err(backup_error)?;
        let path = entry.path();
        if is_database_file(Path::new(&entry.file_name())) || std::fs::canonicalize(&path).ok() == staging {
            continue;
        }
        if entry.file_type().map_err(backup_error)?.is_dir() {
            std::fs::remove_dir_all(&path).map_err(backup_error)?;
        } else {
            std::fs::remove_file(&path).map_err(backup_error)?;
        }
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), ServiceError> {
    for entry in std::fs::read_dir(from).map_err(backup_error)? {
        let entry = entry.map_err(backup_error)?;
        let target = to.join(entry.file_name());
        let file_type = entry.file_type().map_err(backup_error)?;
        if file_type.is_dir() {
            std::fs::create_dir_all(&target).map_err(backup_error)?;
            copy_tree(&entry.path(), &target)?;
        } else if file_type.is_symlink() {
            let link = std::fs::read_link(entry.path()).map_err(backup_error)?;
            let _ = std::fs::remove_file(&target);
            #[cfg(unix)]
            std::os::unix::fs::symlink(link, &target).map_err(backup_error)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(backup_error)?;
        }
    }
    Ok(())
}
