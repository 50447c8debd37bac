//! `nodes`: N node sockets (role `node`, each its own Ed25519 device, declaring `system.which`)
//! connect and are approved by an operator (`node.pair.list` / `node.pair.approve`); then
//! `node.invoke` round trips go through the gateway open loop at `--rate` per second, spread over
//! the nodes, each node answering its `node.invoke.request` with a `node.invoke.result` at once.
//! Latency is from each call's scheduled send time; gateway CPU (`--pid`) is measured over the
//! invoke phase alone and reported per invoke.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clap::Args;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::time::timeout;

use super::Common;
use crate::client::{ClientCfg, Conn, Head};
use crate::report::{hist_headers, hist_json, hist_row, new_hist, record, Outcome, Table};
use crate::{progress, split, sys};

#[derive(Args, Debug)]
pub struct NodesArgs {
    #[command(flatten)]
    pub common: Common,
    /// Node sockets to connect and approve.
    #[arg(long, default_value_t = 1000)]
    pub nodes: usize,
    /// Measured `node.invoke` calls.
    #[arg(short = 'n', long, default_value_t = 10_000)]
    pub n: usize,
    /// Invokes per second (open loop), spread round-robin over the nodes.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Node handshakes in flight while connecting.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The `connect` of a node host: role node, no scopes, a v3-signed device block.
fn node_connect(key: &SigningKey, token: &str, nonce: &str, ts: u64) -> (String, String) {
    let pk = key.verifying_key().to_bytes();
    let id = hex::encode(Sha256::digest(pk));
    let msg = format!("v3|{id}|node-host|node|node||{ts}|{token}|{nonce}|linux|linux");
    let sig = key.sign(msg.as_bytes());
    let p = json!({
        "minProtocol": 4, "maxProtocol": 4,
        "client": { "id": "node-host", "displayName": "lt", "version": "loadtest", "platform": "linux",
                    "deviceFamily": "Linux", "mode": "node" },
        "role": "node", "scopes": [], "caps": ["system"], "commands": ["system.which"],
        "auth": { "token": token },
        "device": { "id": id, "publicKey": URL_SAFE_NO_PAD.encode(pk),
                    "signature": URL_SAFE_NO_PAD.encode(sig.to_bytes()), "signedAt": ts, "nonce": nonce },
    });
    let frame = json!({ "type": "req", "id": "connect", "method": "connect", "params": p });
    (frame.to_string(), id)
}

/// Connect one node; returns it and its node id.
async fn open_node(cfg: &ClientCfg) -> Result<(Conn, String)> {
    timeout(cfg.timeout, async {
        let mut c = Conn::open(cfg).await?;
        let ch = c.next_text().await?;
        let v: Value = serde_json::from_slice(&ch)?;
        let nonce = v["payload"]["nonce"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ts = v["payload"]["ts"].as_u64().unwrap_or_else(now_ms);
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let (frame, id) = node_connect(&key, &cfg.token, &nonce, ts);
        c.send_text(frame.into_bytes()).await?;
        while !crate::client::is_hello(&c.next_text().await?)? {}
        Ok((c, id))
    })
    .await
    .map_err(|_| anyhow!("node handshake timed out"))?
}

/// A node's life: answer every `node.invoke.request` at once; count them.
async fn serve_node(mut c: Conn, id: String, answered: Arc<AtomicU64>, alive: Arc<AtomicUsize>) {
    let mut n = 0u64;
    while let Ok(buf) = c.next_text().await {
        let Ok(h) = Head::parse(&buf) else { continue };
        if h.kind != "event" || h.event != Some("node.invoke.request") {
            continue;
        }
        let Some(p) = h.payload else { continue };
        let Ok(v) = serde_json::from_str::<Value>(p.get()) else {
            continue;
        };
        n += 1;
        let res = json!({ "type": "req", "id": format!("n{n}"), "method": "node.invoke.result",
            "params": { "id": v["id"], "nodeId": id, "ok": true,
                        "payloadJSON": r#"{"bins":{"uname":"/usr/bin/uname"}}"# } });
        if c.send_text(res.to_string().into_bytes()).await.is_err() {
            break;
        }
        answered.fetch_add(1, Ordering::Relaxed);
    }
    alive.fetch_sub(1, Ordering::AcqRel);
}

/// Approve every pending node surface among `ids` (bounded by `deadline`).
async fn approve_all(op: &mut Conn, ids: &[String], deadline: Instant) -> Result<usize> {
    let want: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut approved = 0;
    while approved < ids.len() {
        if Instant::now() >= deadline {
            bail!(
                "approved {approved}/{} nodes before the deadline",
                ids.len()
            );
        }
        let buf = op.call("node.pair.list", "{}").await?;
        let v: Value = serde_json::from_slice(&buf)?;
        let pending = v["payload"]["pending"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mine: Vec<&Value> = pending
            .iter()
            .filter(|r| r["nodeId"].as_str().is_some_and(|n| want.contains(n)))
            .collect();
        if mine.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        for r in mine {
            let p = json!({ "requestId": r["requestId"] }).to_string();
            op.call("node.pair.approve", &p).await?;
            approved += 1;
            progress::inc(1);
        }
    }
    Ok(approved)
}

pub async fn run(a: &NodesArgs) -> Result<Outcome> {
    if !(a.rate > 0.0 && a.rate.is_finite()) {
        bail!("--rate must be > 0");
    }
    let cfg = a.common.client_cfg();
    let deadline = a.common.deadline(Instant::now());
    progress::phase("nodes connect", a.nodes as u64);
    let t_open = Instant::now();
    let (answered, alive) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut ids = Vec::with_capacity(a.nodes);
    let mut set = tokio::task::JoinSet::new();
    let next = Arc::new(AtomicUsize::new(0));
    for _ in 0..a.concurrency.clamp(1, a.nodes.max(1)) {
        let (cfg, next, answered, alive) =
            (cfg.clone(), next.clone(), answered.clone(), alive.clone());
        let n = a.nodes;
        set.spawn(async move {
            let mut mine = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let (c, id) = open_node(&cfg).await?;
                alive.fetch_add(1, Ordering::AcqRel);
                progress::inc(1);
                tokio::spawn(serve_node(c, id.clone(), answered.clone(), alive.clone()));
                mine.push(id);
            }
            anyhow::Ok(mine)
        });
    }
    while let Some(r) = set.join_next().await {
        ids.extend(r??);
    }
    let connect_s = t_open.elapsed().as_secs_f64();
    let mut op = Conn::connect(&cfg).await?;
    progress::phase("nodes approve", a.nodes as u64);
    let t_ap = Instant::now();
    approve_all(&mut op, &ids, deadline).await?;
    let approve_s = t_ap.elapsed().as_secs_f64();
    drop(op);
    progress::phase(&format!("node.invoke @{:.0}/s", a.rate), a.n as u64);
    let cpu0 = a.common.pid.and_then(sys::cpu_total);
    let (hist, failed, errors, secs, sent) = invoke_loop(a, &cfg, &ids, deadline).await?;
    let cpu = match (a.common.pid.and_then(sys::cpu_total), cpu0) {
        (Some(b), Some(a0)) => Some(b.saturating_sub(a0) as f64 / sys::clk_tck() as f64),
        _ => None,
    };
    progress::clear();
    let mut t = Table::new(hist_headers("nodes"));
    t.row(hist_row(&format!("node.invoke @{}/s", a.rate), &hist));
    t.print();
    let per = cpu.map(|c| c * 1e6 / hist.len().max(1) as f64);
    println!(
        "{} nodes connected in {connect_s:.2} s, approved in {approve_s:.2} s; {} invokes ({failed} not ok), \
         {:.1}/s over {secs:.2} s; nodes answered {}{}",
        ids.len(),
        hist.len(),
        hist.len() as f64 / secs,
        answered.load(Ordering::Relaxed),
        per.map(|p| format!("; gateway CPU {p:.1} µs per invoke")).unwrap_or_default()
    );
    crate::report::print_errors(&errors, failed);
    let json = json!({
        "nodes": ids.len(), "connect_s": crate::report::r3(connect_s),
        "approve_s": crate::report::r3(approve_s), "rate": a.rate, "sent": sent,
        "invokes": hist.len(), "failed": failed, "errors": errors,
        "invoke_cpu_s": cpu.map(crate::report::r3), "cpu_us_per_invoke": per.map(crate::report::r3),
        "rtt": hist_json(&hist),
    });
    Ok(Outcome::new(json).hist("node.invoke", hist))
}

type Loop = (hdrhistogram::Histogram<u64>, u64, Vec<String>, f64, usize);

/// The open loop: a pacer thread sends `node.invoke` on schedule; this task reads answers.
async fn invoke_loop(
    a: &NodesArgs,
    cfg: &ClientCfg,
    ids: &[String],
    deadline: Instant,
) -> Result<Loop> {
    let (mut rd, mut wr) = split::connect(cfg).await?;
    let n = a.n;
    let t0 = Instant::now() + Duration::from_millis(5);
    let interval = Duration::from_secs_f64(1.0 / a.rate);
    let due = move |i: u64| t0 + interval.mul_f64(i as f64);
    let ids2: Vec<String> = ids.to_vec();
    let writer = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Handle::current();
        let mut sent = 0usize;
        for i in 0..n {
            let at = due(i as u64);
            if at >= deadline {
                break;
            }
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            let node = &ids2[i % ids2.len()];
            let f = format!(
                r#"{{"type":"req","id":"r{i}","method":"node.invoke","params":{{"nodeId":"{node}","command":"system.which","params":{{"bins":["uname"]}},"idempotencyKey":"k{i}","timeoutMs":15000}}}}"#
            );
            if rt
                .block_on(split::send_text(&mut wr, f.into_bytes()))
                .is_err()
            {
                break;
            }
            sent += 1;
        }
        let end = r#"{"type":"req","id":"end","method":"health","params":{}}"#;
        let _ = rt.block_on(split::send_text(&mut wr, end.as_bytes().to_vec()));
        (sent, wr)
    });
    let (mut hist, mut failed, mut errors) = (new_hist(), 0u64, Vec::new());
    let mut writer = writer;
    // The write half stays open until every answer is read (a half-close would end the socket).
    let mut done: Option<(usize, split::Wr)> = None;
    loop {
        if done.as_ref().is_some_and(|(s, _)| hist.len() >= *s as u64) {
            break;
        }
        // A read is never cancelled and resumed (fastwebsockets reads are not cancel-safe):
        // a stall longer than the step bound ends the loop.
        let Ok(buf) = timeout(cfg.timeout, split::read_text(&mut rd)).await else {
            break;
        };
        let buf = buf?;
        let now = Instant::now();
        let h = Head::parse(&buf)?;
        if h.kind != "res" {
            continue;
        }
        if h.id == Some("end") {
            done = Some((&mut writer).await?);
            continue;
        }
        let Some(i) =
            h.id.and_then(|s| s.strip_prefix('r'))
                .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        record(&mut hist, now.saturating_duration_since(due(i)));
        progress::inc(1);
        if h.ok != Some(true) {
            failed += 1;
            if errors.len() < 5 {
                errors.push(h.error_text());
            }
        }
    }
    let sent = match done {
        Some((sent, mut wr)) => {
            split::close(&mut wr).await;
            sent
        }
        None => {
            writer.abort();
            hist.len() as usize
        }
    };
    Ok((hist, failed, errors, t0.elapsed().as_secs_f64(), sent))
}
