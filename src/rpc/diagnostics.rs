//! `system.info`, `diagnostics.lanes`, `diagnostics.stability`: the host and process as they
//! are (procfs, `statvfs`, the runtime monitor), the run queues per session, and the
//! stability record (`crate::diagnostics`). Host facts are read off the runtime.

use std::path::Path;

use openclaw_proto::{ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::agent::check_keys;
use super::{params, Ctx};
use crate::diagnostics::DEFAULT_LIMIT;
use crate::health::rss_bytes;
use crate::server::VERSION;

/// Node's name for the CPU architecture (`process.arch`).
fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        "x86" => "ia32",
        other => other,
    }
}

/// `(MemTotal, MemAvailable)` in bytes from /proc/meminfo.
fn memory() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("MemTotal:"), field("MemAvailable:"))
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|r| r.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
}

fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// `(total, available)` bytes of the file system holding `path`.
fn disk(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into our zeroed struct; `c` is a valid NUL-terminated path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    let frsize = s.f_frsize as u64;
    Some((s.f_blocks as u64 * frsize, s.f_bavail as u64 * frsize))
}

fn kernel_release(platform: &str) -> &str {
    platform.strip_prefix("linux ").unwrap_or(platform)
}

/// `system.info {}` (reads procfs and the file system: runs beside the read loop).
pub async fn system_info(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, &[], req.method())?;
    let gw = c.gw.clone();
    let state = gw.cfg.load().state_dir.clone();
    let (mem, model, load, disk_now) = tokio::task::spawn_blocking(move || {
        (
            memory(),
            cpu_model(),
            load_average(),
            disk(&state).map(|d| (state, d)),
        )
    })
    .await
    .map_err(|_| ErrorShape::new(openclaw_proto::ErrorCode::Unavailable, "system.info failed"))?;
    let release = kernel_release(&gw.boot.platform).to_string();
    let mut v = json!({
        "machineName": gw.boot.host,
        "hostname": gw.boot.host,
        "platform": std::env::consts::OS,
        "release": release,
        "arch": arch(),
        "osLabel": format!("Linux {release}"),
        "port": gw.cfg.load().port,
        "nodeVersion": format!("openclaw-rs {VERSION}"),
        "pid": std::process::id(),
        "processInstanceId": gw.boot.boot_id,
        "uptimeMs": gw.uptime_ms(),
        "cpuCount": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "memoryTotalBytes": mem.0,
        "memoryFreeBytes": mem.1,
        "eventLoop": gw.monitor.event_loop(),
        "processMemory": { "rssBytes": rss_bytes() },
    });
    if let Some(m) = model {
        v["cpuModel"] = json!(m);
    }
    if let Some(l) = load {
        v["loadAverage"] = json!(l);
    }
    if let Some((path, (total, avail))) = disk_now {
        v["disks"] = json!([{ "path": path, "totalBytes": total, "availableBytes": avail }]);
        v["diskTotalBytes"] = json!(total);
        v["diskAvailableBytes"] = json!(avail);
        v["diskPath"] = json!(path);
    }
    Ok(v)
}

/// `diagnostics.lanes`: one lane per session with runs in flight; a session runs one turn at
/// a time while later ones queue (the gateway has no global run cap, so no global lane).
pub fn lanes(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let _: Value = params(req)?;
    let draining = c.gw.shutdown.is_triggered();
    let lanes: Vec<Value> =
        c.gw.agents
            .runs
            .lanes_snapshot()
            .into_iter()
            .map(|(key, active, queued)| {
                json!({
                    "lane": format!("session:{key}"), "queuedCount": queued, "activeCount": active,
                    "maxConcurrent": 1, "draining": draining, "generation": 0, "blockedBy": null,
                })
            })
            .collect();
    Ok(json!({ "ts": crate::clock::now_ms(), "lanes": lanes, "dynamic": null }))
}

/// `diagnostics.stability {type?, limit?}` (other keys ignored, as on the Node gateway).
pub fn stability(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    let kind = p.get("type").and_then(Value::as_str);
    let limit = p
        .get("limit")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_LIMIT, |l| {
            l.clamp(1, crate::diagnostics::CAPACITY as u64) as usize
        });
    Ok(c.gw.agents.diag.stability(kind, limit))
}
