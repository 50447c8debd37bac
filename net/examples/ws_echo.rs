//! Echo server on the gateway's own WebSocket path (sniff → handshake → reader → outbound →
//! vectored writer), for the Autobahn fuzzing client: `cargo run --release -p openclaw-net
//! --example ws_echo -- PORT [io_uring]` (the second argument reads and writes through
//! io_uring rings).

use std::sync::Arc;

use openclaw_net::{
    full_body, App, ConnInfo, Flow, HttpBody, Message, NetLimits, Outbound, WsSession,
};

struct Echo;

struct EchoSession(Outbound);

impl App for Echo {
    type Session = EchoSession;

    async fn http(
        &self,
        _req: hyper::Request<hyper::body::Incoming>,
        _info: &ConnInfo,
    ) -> hyper::Response<HttpBody> {
        hyper::Response::new(full_body("ws_echo\n"))
    }

    fn ws_open(&self, out: Outbound, _info: ConnInfo) -> EchoSession {
        EchoSession(out)
    }
}

impl WsSession for EchoSession {
    async fn on_message(&mut self, msg: Message) -> Flow {
        if msg.text {
            self.0.send_text(msg.data);
        } else {
            self.0.send_binary(msg.data);
        }
        Flow::Continue
    }

    fn established(&self) -> bool {
        true
    }

    fn on_close(&mut self) {}
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(9001);
    #[allow(unused_mut)]
    let mut limits = NetLimits {
        max_payload: 64 << 20,
        ..NetLimits::default()
    };
    if std::env::args().nth(2).as_deref() == Some("io_uring") {
        #[cfg(all(target_os = "linux", feature = "io-uring"))]
        {
            // Every write through the ring (no direct sendmsg for lone replies), so the
            // Autobahn run covers the ring's send path.
            let pool = openclaw_net::uring::RingPool::start(2, b"", 0).expect("io_uring");
            limits.rings = Some(Arc::new(pool));
            eprintln!("ws_echo: writing through io_uring (ring only)");
        }
        #[cfg(not(all(target_os = "linux", feature = "io-uring")))]
        panic!("built without the io_uring backend");
    }
    let listener = openclaw_net::bind(([127, 0, 0, 1], port).into()).expect("bind");
    eprintln!("ws_echo listening on 127.0.0.1:{port}");
    let shutdown = openclaw_net::Shutdown::new();
    let s2 = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        s2.trigger();
    });
    openclaw_net::serve(listener, Arc::new(Echo), limits, shutdown).await;
}
