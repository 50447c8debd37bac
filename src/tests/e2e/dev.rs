//! `openclaw --dev …` on the real binary with a temporary HOME and no OPENCLAW_* paths:
//! `--dev setup` writes `~/.openclaw-dev/openclaw.json` (the default `~/.openclaw` untouched),
//! the dev profile's default port is 19001, `--dev gateway run` serves with that config and
//! `--dev status` / `--dev health` reach it with the dev token (a non-dev CLI does not).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;
use tokio::process::Command;

use crate::doctor::run_bin;
use crate::lifecycle::Proc;
use crate::util::*;

const BIN: &str = env!("CARGO_BIN_EXE_openclaw");
/// The dev profile's base port (config-and-cli.md §3).
const DEV_PORT: u64 = 19_001;

fn home_env(home: &Path) -> Vec<(&'static str, String)> {
    vec![("HOME", home.display().to_string())]
}

#[tokio::test]
async fn dev_setup_gateway_and_status_use_the_dev_profile() {
    let home = temp_dir("dev-home");
    let envs = home_env(&home);
    let o = run_bin(&envs, &["--dev", "setup"]).await;
    assert_eq!(o.code, 0, "{o:?}");
    let dev = home.join(".openclaw-dev");
    let cfg_path = dev.join("openclaw.json");
    assert_eq!(o.stdout.trim(), format!("Wrote {}", cfg_path.display()));
    assert!(
        !home.join(".openclaw").exists(),
        "the default state dir stays untouched"
    );
    assert_eq!(
        std::fs::metadata(&dev).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    assert_eq!(cfg["gateway"]["mode"], "local");
    let token = cfg["gateway"]["auth"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(token.len() >= 32);

    let o = run_bin(
        &envs,
        &["--dev", "gateway", "status", "--json", "--no-probe"],
    )
    .await;
    assert_eq!(o.code, 0, "{o:?}");
    let st = o.json();
    assert_eq!(st["gateway"]["port"], DEV_PORT, "{st}");
    assert_eq!(st["config"]["cli"]["path"], cfg_path.display().to_string());
    assert_eq!(st["service"]["unit"], "openclaw-gateway-dev.service");

    // Keep the file log inside the temp HOME, then run the dev gateway on a free port.
    cfg["logging"] = serde_json::json!({ "file": home.join("dev.log") });
    std::fs::write(&cfg_path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    let mut gw = Command::new(BIN);
    gw.args(["--dev", "gateway", "run", "--port", "0"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut p = Proc::spawn(gw);
    let addr = p.listening().await;
    assert!(addr.ip().is_loopback(), "{addr}");
    assert!(
        dev.join("state").join("openclaw.sqlite").exists(),
        "the gateway keeps its state under ~/.openclaw-dev"
    );
    assert!(!home.join(".openclaw").exists());

    let mut envs_port = envs.clone();
    envs_port.push(("OPENCLAW_GATEWAY_PORT", addr.port().to_string()));
    let o = run_bin(&envs_port, &["--dev", "status", "--json"]).await;
    assert_eq!(o.code, 0, "{o:?}");
    let s = o.json();
    assert_eq!(s["gateway"]["reachable"], true, "{s}");
    assert_eq!(s["gateway"]["url"], format!("ws://{addr}"));
    let o = run_bin(&envs_port, &["--dev", "health"]).await;
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("Agents: main (default)"), "{o:?}");

    // Without --dev the CLI reads ~/.openclaw (no token there): the connect is refused.
    let o = run_bin(&envs_port, &["status", "--json"]).await;
    let g = &o.json()["gateway"];
    assert!(g.get("auth").is_none(), "{o:?}");
    assert!(
        g["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("connect failed")),
        "{o:?}"
    );

    p.signal(libc::SIGTERM);
    let (code, log) = p.finish().await;
    assert_eq!(code, 0, "{log}");
}
