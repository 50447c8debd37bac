//! The power-cut simulator against SQLite itself: what a synced commit wrote survives any cut,
//! unsynced commits survive as a prefix (whole transactions, in order) or not at all, and the
//! file passes an integrity check whatever the cut kept.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::{cut_power, register, VFS_NAME};

fn open_simulated(path: &Path) -> Connection {
    assert!(register(), "the simulator registers over the default VFS");
    let c = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), VFS_NAME).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "FULL").unwrap();
    c
}

fn temp(seed: u64) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("openclaw-power-cut-{}-{seed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Commits `n` transactions of `rows` rows each, tagged `txn`, starting at `first`.
fn commit(c: &Connection, first: i64, n: i64, rows: i64) {
    for t in first..first + n {
        let tx = c.unchecked_transaction().unwrap();
        for r in 0..rows {
            tx.execute(
                "INSERT INTO t (txn, pad) VALUES (?1, ?2)",
                (t, format!("{t}-{r}-{}", "x".repeat(300))),
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
}

#[test]
fn synced_commits_survive_every_cut_and_unsynced_ones_only_as_a_prefix() {
    let mut kept_some_unsynced = false;
    for seed in 1..=12u64 {
        let dir = temp(seed);
        let path = dir.join("s.sqlite");
        {
            let c = open_simulated(&path);
            c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, txn INTEGER, pad TEXT)")
                .unwrap();
            commit(&c, 0, 30, 5);
            // A checkpoint moves synced pages into the database file, through the cache.
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .unwrap();
            commit(&c, 30, 10, 5);
            // From here on nothing is synced: these commits sit in the page cache only.
            c.pragma_update(None, "synchronous", "OFF").unwrap();
            commit(&c, 40, 20, 5);
            let seen: i64 = c
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(seen, 300, "reads see the cached writes");
            cut_power(seed, Some(&dir));
            let after = c.execute("INSERT INTO t (txn, pad) VALUES (-1, 'after')", []);
            assert!(after.is_err(), "a dead file takes no write: {after:?}");
        }
        let c = Connection::open(&path).unwrap();
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "seed {seed}");
        let txns: Vec<(i64, i64)> = c
            .prepare("SELECT txn, count(*) FROM t GROUP BY txn ORDER BY txn")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            txns.len() >= 40,
            "seed {seed}: a synced commit was lost: {txns:?}"
        );
        for (i, (t, n)) in txns.iter().enumerate() {
            assert_eq!(
                (*t, *n),
                (i as i64, 5),
                "seed {seed}: not whole, in-order transactions"
            );
        }
        kept_some_unsynced |= txns.len() > 40;
        drop(c);
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        kept_some_unsynced,
        "no cut kept any unsynced commit: the cut is not random"
    );
}
