//! Durability across a simulated power cut of the real binary (`OPENCLAW_TEST_POWER_CUT`, the
//! SQLite page-cache simulator in `store::power_cut`): while `chat.send` requests are being
//! acknowledged and runs stream, the power goes — either nothing unsynced reaches the disk
//! (the test kills the process) or, at a chosen sync, a random part of it does, torn and out
//! of order. After a restart every acknowledged message is in `chat.history`, both SQLite
//! stores pass `PRAGMA integrity_check`, and a paired device's token still admits it.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::agents_crash::{agent_config, restart_and_check, send_until_closed, wait_for_acks};
use crate::devices::pair;
use crate::lifecycle::{command, Proc};
use crate::upstream::{Upstream, UpstreamOpts};
use crate::util::*;

#[tokio::test]
async fn nothing_acknowledged_is_lost_when_unsynced_writes_vanish() {
    power_cut(1, 0).await;
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_when_the_power_goes_mid_sync() {
    // Different seeds and moments: early (while the first sends are acknowledged) and later
    // (with WAL checkpoints behind), each landing a different random part of the cache.
    for (seed, cut) in [(2, 90), (3, 160), (4, 260)] {
        power_cut(seed, cut).await;
    }
}

/// One gateway life ended by a power cut at sync `cut` (0: by SIGKILL with every unsynced
/// write lost), then a restart that must find everything it acknowledged.
async fn power_cut(seed: u64, cut: u64) {
    let up = Upstream::start(UpstreamOpts {
        chunk_delay: Duration::from_millis(5),
        ..Default::default()
    })
    .await;
    let dir = temp_dir(&format!("power-cut-{seed}"));
    let cfg = agent_config(&dir, &up.openai_base());
    let mut cmd = command(&dir, Some(&cfg), &["gateway", "run", "--port", "0"]);
    cmd.env("OPENCLAW_TEST_POWER_CUT", format!("{seed}:{cut}"));
    let mut p = Proc::spawn(cmd);
    let addr = p.listening().await;
    let dev = Device::new();
    let device_token = pair(addr, &dev).await["auth"]["deviceToken"]
        .as_str()
        .expect("paired before the cut (raise the cut point if not)")
        .to_string();
    let live = Arc::new(Mutex::new(Vec::new()));
    let (sender, _) = operator(addr, &["operator.write"]).await;
    let sending = tokio::spawn(send_until_closed(sender, live.clone()));
    if cut == 0 {
        wait_for_acks(&live, 30).await;
        p.signal(libc::SIGKILL);
    }
    bounded("the sender to see the power go", sending)
        .await
        .unwrap();
    let (code, log) = p.finish().await;
    assert_eq!(code, -1, "killed, not exited; stderr:\n{log}");
    if cut > 0 {
        let line = format!("power cut at sync {cut}");
        assert!(log.contains(&line), "died without the cut ({line}):\n{log}");
    }
    let acked: Vec<(String, String)> = live.lock().drain(..).collect();
    eprintln!("power cut {seed}:{cut}: {} sends acknowledged", acked.len());
    assert!(
        acked.len() >= 5,
        "seed {seed}: only {} sends acknowledged",
        acked.len()
    );
    let (p2, _) = restart_and_check(&dir, &cfg, &dev, &device_token, &acked).await;
    p2.signal(libc::SIGTERM);
    assert_eq!(p2.finish().await.0, 0);
}
