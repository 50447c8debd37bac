//! The connect handshake without a socket: parse the `connect` request, authenticate the
//! shared token, negotiate, build `hello-ok` (with its health/presence snapshot) and encode
//! the response — everything a handshake costs the gateway besides the network.

use std::net::SocketAddr;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use openclaw::config::{self, Env, LoadArgs};
use openclaw::server::Gateway;
use openclaw_net::{ConnInfo, Outbound};
use openclaw_proto::{parse_inbound, res_ok, Inbound};
use serde_json::json;

const TOKEN: &str = "bench-token-0123456789";

fn handshake(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("oc-bench-hs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cfg_path = dir.join("openclaw.json");
    std::fs::write(
        &cfg_path,
        r#"{ gateway: { mode: "local", auth: { mode: "token" } } }"#,
    )
    .expect("config");
    let env = Env::from_pairs([
        ("HOME", dir.display().to_string()),
        (
            "OPENCLAW_STATE_DIR",
            dir.join("state").display().to_string(),
        ),
        ("OPENCLAW_CONFIG_PATH", cfg_path.display().to_string()),
        ("OPENCLAW_GATEWAY_TOKEN", TOKEN.to_string()),
    ]);
    let mut cfg = config::load(&LoadArgs::default(), &env).expect("config loads");
    cfg.logging.file = dir.join("openclaw.log");
    let gw = Gateway::new(cfg).expect("gateway state");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let peer: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let info = ConnInfo {
        conn_id: 1,
        peer,
        local: "127.0.0.1:18789".parse().expect("addr"),
        path: "/".into(),
        headers: Vec::new(),
    };
    let frame = json!({ "type": "req", "id": "1", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": { "id": "gateway-client", "version": "bench", "platform": "linux", "mode": "backend" },
        "role": "operator", "scopes": ["operator.read", "operator.write"], "caps": [],
        "auth": { "token": TOKEN },
    }})
    .to_string();
    let out = Outbound::new(64 * 1024 * 1024);
    c.bench_function("handshake/connect_to_hello_ok", |b| {
        b.iter(|| {
            let Ok(Inbound::Request(req)) = parse_inbound(frame.as_bytes()) else {
                panic!("connect frame parses")
            };
            let (authed, hello) = rt
                .block_on(openclaw::connect::connect(&gw, &info, "nonce", &req))
                .unwrap_or_else(|_| panic!("connect succeeds"));
            black_box(res_ok(req.id(), &hello));
            // The socket joins the hub once hello-ok is queued (and leaves, to keep the
            // subscriber list the same size across iterations).
            openclaw::connect::joined(&gw, &authed, &out);
            gw.hub.leave(authed.conn);
            black_box(authed);
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, handshake);
criterion_main!(benches);
