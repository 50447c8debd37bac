//! Writing the config file for `config.set` / `config.patch` / `config.apply` and the
//! settings pages: a JSON merge patch, the write itself (rotated backups, temp file, fsync,
//! rename, mode 0600) and putting the previous file back. Blocking: callers run it on the
//! blocking pool. Validation and reload are the caller's.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Backups kept beside the config file: `<file>.bak`, `<file>.bak.1` … `.bak.{N-1}`.
pub const CONFIG_BACKUPS: usize = 4;

/// RFC 7386 merge patch: objects merge key by key, `null` deletes, anything else replaces.
/// Paths listed in `replace` (dotted) are replaced whole instead of merged.
pub fn merge_patch(target: &mut Value, patch: &Value, path: &str, replace: &[String]) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() || replace.iter().any(|r| r == path) {
        *target = Value::Object(Default::default());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        let child = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        if v.is_null() {
            t.remove(k);
        } else if v.is_object() {
            merge_patch(
                t.entry(k.clone()).or_insert(Value::Null),
                v,
                &child,
                replace,
            );
        } else {
            t.insert(k.clone(), v.clone());
        }
    }
}

fn backup_name(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(if n == 0 {
        ".bak".to_string()
    } else {
        format!(".bak.{n}")
    });
    PathBuf::from(s)
}

/// Shift the backups up by one and copy the current file to `<file>.bak`.
fn rotate_backups(path: &Path) -> std::io::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    for n in (0..CONFIG_BACKUPS.saturating_sub(1)).rev() {
        let from = backup_name(path, n);
        if from.exists() {
            fs::rename(&from, backup_name(path, n + 1))?;
        }
    }
    fs::copy(path, backup_name(path, 0))?;
    Ok(())
}

/// Replace the config file with `text`: backups first, then a temp file in the same
/// directory, fsync, rename over the file, fsync the directory.
pub fn write_config(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    rotate_backups(path)?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Some(dir) = path.parent() {
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Put back what [`write_config`] replaced (`previous`: the old text; `None` when there
/// was no file).
pub fn restore_config(path: &Path, previous: Option<&str>) -> std::io::Result<()> {
    match previous {
        Some(text) => {
            let tmp = path.with_extension(format!("restore.{}", std::process::id()));
            fs::write(&tmp, text)?;
            fs::rename(&tmp, path)
        }
        None => fs::remove_file(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc7386() {
        let mut t = json!({ "a": { "b": 1, "c": 2 }, "d": [1], "e": 1 });
        merge_patch(
            &mut t,
            &json!({ "a": { "b": null, "x": { "y": 1 } }, "d": [2], "e": null }),
            "",
            &[],
        );
        assert_eq!(t, json!({ "a": { "c": 2, "x": { "y": 1 } }, "d": [2] }));
        let mut t = json!({ "m": { "p": { "k": 1, "old": 2 } } });
        merge_patch(
            &mut t,
            &json!({ "m": { "p": { "k": 3 } } }),
            "",
            &["m.p".into()],
        );
        assert_eq!(t, json!({ "m": { "p": { "k": 3 } } }));
    }

    #[test]
    fn writes_with_rotated_backups_and_restores() {
        let dir = std::env::temp_dir().join(format!("oc-write-{}", uuid::Uuid::new_v4()));
        let f = dir.join("openclaw.json");
        write_config(&f, "one").unwrap();
        assert!(!backup_name(&f, 0).exists());
        for text in ["two", "three", "four", "five", "six"] {
            write_config(&f, text).unwrap();
        }
        assert_eq!(fs::read_to_string(&f).unwrap(), "six");
        assert_eq!(fs::read_to_string(backup_name(&f, 0)).unwrap(), "five");
        assert_eq!(fs::read_to_string(backup_name(&f, 3)).unwrap(), "two");
        assert!(!backup_name(&f, 4).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&f).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        restore_config(&f, Some("five")).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "five");
        let _ = fs::remove_dir_all(dir);
    }
}
