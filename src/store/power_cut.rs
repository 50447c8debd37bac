//! A power-cut simulator for the SQLite stores (tests only): a VFS over the default one that
//! keeps every write in a shared in-memory "page cache" until `xSync`, the way a kernel does,
//! and at a chosen sync cuts the power — a random subset of the unsynced writes reaches the
//! files (some whole, some torn at a sector boundary, in any order) and the process dies by
//! SIGKILL. What SQLite builds on top (WAL, checksums, `synchronous=FULL`) is not ours: this
//! only decides which bytes were on the disk when the lights went out.
//!
//! On only when `OPENCLAW_TEST_POWER_CUT=<seed>:<n>` is set at start (`n` = the sync that
//! never completes; `0` = never cut, the test kills the process and every unsynced write is
//! lost). Files are considered created durably (no directory entries are modelled).

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::Path;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use rusqlite::ffi;

/// The environment variable that turns the simulator on: `<seed>:<n>`.
pub const ENV: &str = "OPENCLAW_TEST_POWER_CUT";

/// The name the VFS is registered under.
pub const VFS_NAME: &str = "openclaw-power-cut";

/// The unit a torn write is cut at (what a disk writes atomically).
const SECTOR: usize = 512;

/// An unsynced change to one file, in the order it was made.
enum Change {
    Write(u64, Vec<u8>),
    Truncate(u64),
}

/// The page cache of one file: what was written since its last sync.
#[derive(Default)]
struct Cached {
    changes: Vec<Change>,
    /// The size the file has with `changes` applied (meaningful when there are any).
    size: u64,
    /// The power went out: every further operation fails.
    dead: bool,
}

type Shared = Arc<Mutex<Cached>>;

/// Every file opened through the VFS, by path (handles of one file share its cache).
fn files() -> &'static Mutex<HashMap<String, Shared>> {
    static FILES: OnceLock<Mutex<HashMap<String, Shared>>> = OnceLock::new();
    FILES.get_or_init(Default::default)
}

/// Syncs so far, and the one at which the power goes (0: never).
static SYNCS: AtomicU64 = AtomicU64::new(0);
static CUT_AT: AtomicU64 = AtomicU64::new(0);
static SEED: AtomicU64 = AtomicU64::new(0);

/// The VFS name to open the stores with: `Some` when the environment asks for the simulator
/// (registered on first use).
pub fn from_env() -> Option<&'static str> {
    static ON: OnceLock<bool> = OnceLock::new();
    let on = *ON.get_or_init(|| {
        let Ok(v) = std::env::var(ENV) else {
            return false;
        };
        let (seed, n) = v.split_once(':').unwrap_or((v.as_str(), "0"));
        SEED.store(seed.trim().parse().unwrap_or(1), Ordering::Relaxed);
        CUT_AT.store(n.trim().parse().unwrap_or(0), Ordering::Relaxed);
        tracing::warn!(target: "store", "{ENV} is set: SQLite writes go through the power-cut simulator");
        register()
    });
    on.then_some(VFS_NAME)
}

/// Register the VFS (idempotent). `false` when SQLite has no default VFS to wrap.
pub fn register() -> bool {
    static DONE: OnceLock<bool> = OnceLock::new();
    *DONE.get_or_init(|| unsafe { register_vfs() })
}

/// A deterministic generator for the cut's choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Cut the power for the files under `only` (all when `None`): each unsynced change reaches
/// the disk whole, torn after a random number of sectors, or not at all, chosen by `seed`;
/// the cache is emptied and the files refuse every further operation.
pub fn cut_power(seed: u64, only: Option<&Path>) {
    let mut rng = Rng(seed.max(1));
    let mut all: Vec<(String, Shared)> = files()
        .lock()
        .iter()
        .filter(|(p, _)| match only {
            Some(o) => Path::new(p).starts_with(o),
            None => true,
        })
        .map(|(p, s)| (p.clone(), s.clone()))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, shared) in all {
        let mut c = shared.lock();
        let changes = std::mem::take(&mut c.changes);
        c.dead = true;
        let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) else {
            continue;
        };
        if rng.below(2) == 0 {
            // Written back in order until the cut: a prefix lands, the next write is torn.
            let k = rng.below(changes.len() as u64 + 1) as usize;
            for (i, change) in changes.into_iter().enumerate().take(k + 1) {
                land(
                    &f,
                    change,
                    if i < k { Landing::Whole } else { Landing::Torn },
                    &mut rng,
                );
            }
        } else {
            // Written back in any order: each change whole, torn or lost.
            for change in changes {
                let how = [Landing::Lost, Landing::Whole, Landing::Torn][rng.below(3) as usize];
                land(&f, change, how, &mut rng);
            }
        }
    }
}

/// How much of one unsynced change is on the disk after the cut.
#[derive(Clone, Copy)]
enum Landing {
    Lost,
    Whole,
    /// Whole sectors from its start, a random number of them short of the whole.
    Torn,
}

fn land(f: &std::fs::File, change: Change, how: Landing, rng: &mut Rng) {
    use std::os::unix::fs::FileExt;
    match (change, how) {
        (_, Landing::Lost) => {}
        (Change::Write(off, data), Landing::Whole) => {
            let _ = f.write_all_at(&data, off);
        }
        (Change::Write(off, data), Landing::Torn) => {
            let sectors = data.len().div_ceil(SECTOR) as u64;
            let keep = (rng.below(sectors) as usize) * SECTOR;
            let _ = f.write_all_at(&data[..keep.min(data.len())], off);
        }
        (Change::Truncate(size), _) => {
            let _ = f.set_len(size);
        }
    }
}

/// Our file: SQLite's handle header, the shared cache (null for files we pass through), and
/// the wrapped VFS's file right after it.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    cached: *const Mutex<Cached>,
}

unsafe fn real(f: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    (f as *mut u8).add(std::mem::size_of::<File>()) as *mut ffi::sqlite3_file
}

unsafe fn cached<'a>(f: *mut ffi::sqlite3_file) -> Option<&'a Mutex<Cached>> {
    (*(f as *mut File)).cached.as_ref()
}

unsafe fn methods(f: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    &*(*real(f)).pMethods
}

/// The VFS we wrap (the default one).
static PARENT: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(std::ptr::null_mut());

unsafe fn register_vfs() -> bool {
    let parent = ffi::sqlite3_vfs_find(std::ptr::null());
    if parent.is_null() {
        return false;
    }
    PARENT.store(parent, Ordering::Release);
    let mut vfs: ffi::sqlite3_vfs = std::ptr::read(parent);
    vfs.szOsFile = (std::mem::size_of::<File>() as c_int) + (*parent).szOsFile;
    vfs.pNext = std::ptr::null_mut();
    vfs.zName = c"openclaw-power-cut".as_ptr();
    vfs.xOpen = Some(x_open);
    vfs.xDelete = Some(x_delete);
    let vfs = Box::leak(Box::new(vfs));
    ffi::sqlite3_vfs_register(vfs, 0) == ffi::SQLITE_OK
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 2,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: None,
    xUnfetch: None,
};

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    f: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let parent = PARENT.load(Ordering::Acquire);
    let me = f as *mut File;
    (*me).base.pMethods = std::ptr::null();
    (*me).cached = std::ptr::null();
    let rc = ((*parent).xOpen.expect("default VFS opens"))(parent, name, real(f), flags, out_flags);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    let durable = ffi::SQLITE_OPEN_MAIN_DB | ffi::SQLITE_OPEN_WAL | ffi::SQLITE_OPEN_MAIN_JOURNAL;
    if !name.is_null() && flags & durable != 0 {
        let path = CStr::from_ptr(name).to_string_lossy().into_owned();
        let shared = files().lock().entry(path).or_default().clone();
        (*me).cached = Arc::into_raw(shared);
    }
    (*me).base.pMethods = &METHODS;
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_delete(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    dir: c_int,
) -> c_int {
    if !name.is_null() {
        let path = CStr::from_ptr(name).to_string_lossy().into_owned();
        if let Some(s) = files().lock().get(&path) {
            let mut c = s.lock();
            if c.dead {
                return ffi::SQLITE_IOERR_DELETE;
            }
            c.changes.clear();
        }
    }
    let parent = PARENT.load(Ordering::Acquire);
    ((*parent).xDelete.expect("default VFS deletes"))(parent, name, dir)
}

unsafe extern "C" fn x_close(f: *mut ffi::sqlite3_file) -> c_int {
    let rc = (methods(f).xClose.expect("close"))(real(f));
    let me = f as *mut File;
    if !(*me).cached.is_null() {
        drop(Arc::from_raw((*me).cached));
        (*me).cached = std::ptr::null();
    }
    rc
}

unsafe extern "C" fn x_read(
    f: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amt: c_int,
    off: i64,
) -> c_int {
    let Some(shared) = cached(f) else {
        return (methods(f).xRead.expect("read"))(real(f), buf, amt, off);
    };
    let c = shared.lock();
    if c.dead {
        return ffi::SQLITE_IOERR_READ;
    }
    let rc = (methods(f).xRead.expect("read"))(real(f), buf, amt, off);
    if c.changes.is_empty() || (rc != ffi::SQLITE_OK && rc != ffi::SQLITE_IOERR_SHORT_READ) {
        return rc;
    }
    let out = std::slice::from_raw_parts_mut(buf as *mut u8, amt as usize);
    let (start, end) = (off as u64, off as u64 + amt as u64);
    for change in &c.changes {
        match change {
            Change::Write(at, data) => {
                let (a, b) = ((*at).max(start), (*at + data.len() as u64).min(end));
                if a < b {
                    out[(a - start) as usize..(b - start) as usize]
                        .copy_from_slice(&data[(a - at) as usize..(b - at) as usize]);
                }
            }
            Change::Truncate(size) if *size < end => {
                out[(*size).saturating_sub(start) as usize..].fill(0);
            }
            Change::Truncate(_) => {}
        }
    }
    if c.size < end {
        out[c.size.saturating_sub(start) as usize..].fill(0);
        return ffi::SQLITE_IOERR_SHORT_READ;
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_write(
    f: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amt: c_int,
    off: i64,
) -> c_int {
    let Some(shared) = cached(f) else {
        return (methods(f).xWrite.expect("write"))(real(f), buf, amt, off);
    };
    let mut c = shared.lock();
    if c.dead {
        return ffi::SQLITE_IOERR_WRITE;
    }
    if c.changes.is_empty() {
        c.size = real_size(f);
    }
    let data = std::slice::from_raw_parts(buf as *const u8, amt as usize).to_vec();
    c.size = c.size.max(off as u64 + amt as u64);
    c.changes.push(Change::Write(off as u64, data));
    ffi::SQLITE_OK
}

unsafe fn real_size(f: *mut ffi::sqlite3_file) -> u64 {
    let mut n: i64 = 0;
    (methods(f).xFileSize.expect("size"))(real(f), &mut n);
    n.max(0) as u64
}

unsafe extern "C" fn x_truncate(f: *mut ffi::sqlite3_file, size: i64) -> c_int {
    let Some(shared) = cached(f) else {
        return (methods(f).xTruncate.expect("truncate"))(real(f), size);
    };
    let mut c = shared.lock();
    if c.dead {
        return ffi::SQLITE_IOERR_TRUNCATE;
    }
    let size = size.max(0) as u64;
    c.size = size;
    c.changes.push(Change::Truncate(size));
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    let Some(shared) = cached(f) else {
        return (methods(f).xSync.expect("sync"))(real(f), flags);
    };
    let n = SYNCS.fetch_add(1, Ordering::Relaxed) + 1;
    if n == CUT_AT.load(Ordering::Relaxed) {
        // This sync never completes: the power goes while it would run.
        eprintln!("{ENV}: power cut at sync {n}");
        cut_power(SEED.load(Ordering::Relaxed) ^ n, None);
        libc::kill(libc::getpid(), libc::SIGKILL);
        return ffi::SQLITE_IOERR_FSYNC;
    }
    let mut c = shared.lock();
    if c.dead {
        return ffi::SQLITE_IOERR_FSYNC;
    }
    let m = methods(f);
    for change in std::mem::take(&mut c.changes) {
        let rc = match change {
            Change::Write(at, data) => (m.xWrite.expect("write"))(
                real(f),
                data.as_ptr().cast(),
                data.len() as c_int,
                at as i64,
            ),
            Change::Truncate(size) => (m.xTruncate.expect("truncate"))(real(f), size as i64),
        };
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    (m.xSync.expect("sync"))(real(f), flags)
}

unsafe extern "C" fn x_file_size(f: *mut ffi::sqlite3_file, out: *mut i64) -> c_int {
    if let Some(shared) = cached(f) {
        let c = shared.lock();
        if c.dead {
            return ffi::SQLITE_IOERR_FSTAT;
        }
        if !c.changes.is_empty() {
            *out = c.size as i64;
            return ffi::SQLITE_OK;
        }
    }
    (methods(f).xFileSize.expect("size"))(real(f), out)
}

unsafe extern "C" fn x_lock(f: *mut ffi::sqlite3_file, l: c_int) -> c_int {
    (methods(f).xLock.expect("lock"))(real(f), l)
}

unsafe extern "C" fn x_unlock(f: *mut ffi::sqlite3_file, l: c_int) -> c_int {
    (methods(f).xUnlock.expect("unlock"))(real(f), l)
}

unsafe extern "C" fn x_check_reserved_lock(f: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    (methods(f).xCheckReservedLock.expect("reserved"))(real(f), out)
}

unsafe extern "C" fn x_file_control(
    f: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    if op == ffi::SQLITE_FCNTL_SIZE_HINT && !(*(f as *mut File)).cached.is_null() {
        // A hint would grow the real file behind the cache's back.
        return ffi::SQLITE_OK;
    }
    (methods(f).xFileControl.expect("fcntl"))(real(f), op, arg)
}

unsafe extern "C" fn x_sector_size(f: *mut ffi::sqlite3_file) -> c_int {
    (methods(f).xSectorSize.expect("sector"))(real(f))
}

unsafe extern "C" fn x_device_characteristics(f: *mut ffi::sqlite3_file) -> c_int {
    (methods(f).xDeviceCharacteristics.expect("device"))(real(f))
}

unsafe extern "C" fn x_shm_map(
    f: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    (methods(f).xShmMap.expect("shm map"))(real(f), region, size, extend, out)
}

unsafe extern "C" fn x_shm_lock(
    f: *mut ffi::sqlite3_file,
    off: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    (methods(f).xShmLock.expect("shm lock"))(real(f), off, n, flags)
}

unsafe extern "C" fn x_shm_barrier(f: *mut ffi::sqlite3_file) {
    (methods(f).xShmBarrier.expect("shm barrier"))(real(f))
}

unsafe extern "C" fn x_shm_unmap(f: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    (methods(f).xShmUnmap.expect("shm unmap"))(real(f), delete)
}

#[cfg(test)]
#[path = "power_cut_tests.rs"]
mod tests;
