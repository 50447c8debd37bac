//! `logs.tail`: pages of the JSON-lines log file with byte-offset cursors.
//!
//! Without a cursor: the last `limit` complete lines within the last `maxBytes` bytes, and
//! `cursor` = end of file. With a cursor: complete lines from that offset on (at most
//! `limit` lines / `maxBytes` bytes), `cursor` = just after the last line returned. A cursor
//! past the end (the file was rotated or truncated) starts over from the top with
//! `reset:true`. File reads run on the blocking pool.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{params, Ctx};

/// Default page size in lines (the CLI sends 200).
pub const DEFAULT_LIMIT: usize = 200;
/// Largest `limit` accepted.
pub const MAX_LIMIT: usize = 5000;
/// Default page size in bytes (the CLI sends 250 000).
pub const DEFAULT_MAX_BYTES: usize = 250_000;
/// Largest `maxBytes` accepted.
pub const MAX_MAX_BYTES: usize = 1_000_000;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TailParams {
    cursor: Option<u64>,
    limit: Option<usize>,
    max_bytes: Option<usize>,
}

/// `logs.tail`.
pub async fn tail(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    let p: TailParams = params(req)?;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    let max_bytes = p.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ErrorShape::invalid_params(
            "logs.tail",
            "limit must be 1..5000",
        ));
    }
    if !(1..=MAX_MAX_BYTES).contains(&max_bytes) {
        return Err(ErrorShape::invalid_params(
            "logs.tail",
            "maxBytes must be 1..1000000",
        ));
    }
    let file = crate::logging::log_file_path(&gw.cfg.load().logging);
    tokio::task::spawn_blocking(move || read_page(file, p.cursor, limit, max_bytes))
        .await
        .map_err(|e| ErrorShape::new(ErrorCode::Unavailable, format!("logs.tail failed: {e}")))?
}

/// Read one page (blocking).
pub fn read_page(
    file: PathBuf,
    cursor: Option<u64>,
    limit: usize,
    max_bytes: usize,
) -> Result<Value, ErrorShape> {
    let name = file.display().to_string();
    let mut f = match std::fs::File::open(&file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(json!({ "file": name, "cursor": 0, "size": 0, "lines": [] }))
        }
        Err(e) => {
            return Err(ErrorShape::new(
                ErrorCode::Unavailable,
                format!("cannot read log file: {e}"),
            ))
        }
    };
    let io = |e: std::io::Error| {
        ErrorShape::new(ErrorCode::Unavailable, format!("cannot read log file: {e}"))
    };
    let size = f.metadata().map_err(io)?.len();
    let mut reset = false;
    let (start, from_tail) = match cursor {
        Some(c) if c <= size => (c, false),
        Some(_) => {
            reset = true;
            (0, false)
        }
        None => (size.saturating_sub(max_bytes as u64), true),
    };
    let len = (size - start).min(max_bytes as u64) as usize;
    f.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf).map_err(io)?;
    // Only complete lines: drop a partial tail (and, reading from the tail, a partial head).
    let end = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut begin = 0;
    if from_tail && start > 0 {
        begin = buf[..end]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(end, |i| i + 1);
    }
    let body = &buf[begin..end];
    let mut lines: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut next = start + end as u64;
    let mut truncated = from_tail && start > 0;
    if lines.len() > limit {
        if from_tail {
            lines.drain(..lines.len() - limit);
        } else {
            let kept: usize = lines[..limit].iter().map(|l| l.len() + 1).sum();
            next = start + (begin + kept) as u64;
            lines.truncate(limit);
        }
        truncated = true;
    }
    let lines: Vec<String> = lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    let mut v = json!({ "file": name, "cursor": next, "size": size, "lines": lines });
    if truncated {
        v["truncated"] = json!(true);
    }
    if reset {
        v["reset"] = json!(true);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(content: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("oc-logs-{}.log", uuid::Uuid::new_v4()));
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn tail_then_follow_with_cursor() {
        let p = tmp("a\nb\nc\npartial");
        let v = read_page(p.clone(), None, 2, 1000).unwrap();
        assert_eq!(v["lines"], json!(["b", "c"]));
        assert_eq!(v["cursor"], 6);
        assert_eq!(v["size"], 13);
        std::fs::write(&p, "a\nb\nc\npartial line\nd\n").unwrap();
        let v = read_page(p.clone(), Some(6), 200, 1000).unwrap();
        assert_eq!(v["lines"], json!(["partial line", "d"]));
        assert_eq!(v["cursor"], 21);
        let v = read_page(p.clone(), Some(21), 200, 1000).unwrap();
        assert_eq!(v["lines"], json!([]));
        let v = read_page(p.clone(), Some(999), 200, 1000).unwrap();
        assert_eq!(v["reset"], true);
        assert_eq!(v["lines"].as_array().unwrap().len(), 5);
        let v = read_page(p.clone(), Some(0), 2, 1000).unwrap();
        assert_eq!(v["lines"], json!(["a", "b"]));
        assert_eq!(v["cursor"], 4);
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn missing_file_is_empty() {
        let v = read_page("/nonexistent/oc.log".into(), None, 10, 100).unwrap();
        assert_eq!(v["lines"], json!([]));
    }
}
