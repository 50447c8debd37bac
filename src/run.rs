//! `openclaw gateway run`: resolve config, pass the startup guards, start logging, bind the
//! port (retrying `EADDRINUSE` like the Node gateway), serve until SIGTERM/SIGINT, then shut
//! down gracefully. Returns the process exit code.

use std::net::SocketAddr;
use std::time::Duration;

use crate::cli::{GatewayRunArgs, GlobalArgs};
use crate::config::{self, Env, EXIT_CONFIG};
use crate::server::Gateway;

/// Attempts to bind while the port is in use (the Node gateway: 20 × 500 ms).
pub const BIND_RETRIES: u32 = 20;
/// Pause between bind attempts.
pub const BIND_RETRY_DELAY: Duration = Duration::from_millis(500);

/// Run the gateway in the foreground; the process exit code.
pub fn run_gateway(global: &GlobalArgs, args: &GatewayRunArgs) -> i32 {
    let env = Env::from_process();
    let load = match args.load_args(global) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return e.exit_code();
        }
    };
    let cfg = match config::load(&load, &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return e.exit_code();
        }
    };
    if let Err(e) = config::startup_guard(&cfg, args.allow_unconfigured) {
        eprintln!("{e}");
        return e.exit_code();
    }
    let _log = match crate::logging::init(&cfg.logging, args.verbose, false) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    for w in &cfg.warnings {
        tracing::warn!(target: "gateway", "{w}");
    }
    // One gateway per state dir. Under a supervisor a healthy incumbent wins: exit 78 so the
    // unit's RestartPreventExitStatus=78 ends the restart loop.
    let supervised = cfg.under_systemd || cfg.supervisor_external;
    let lock = match crate::lock::acquire(&cfg.state_dir, supervised, crate::lock::LOCK_TIMEOUT) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(target: "gateway", "{e}");
            eprintln!("{e}");
            return match e {
                crate::lock::LockRefused::IncumbentHealthy { .. } => EXIT_CONFIG,
                _ => 1,
            };
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("openclaw-rt")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(target: "gateway", "cannot start runtime: {e}");
            return 1;
        }
    };
    rt.block_on(supervise(cfg, load, env, args.force, lock))
}

/// What one serving period ended with.
enum Served {
    /// Stop the process with this code.
    Exit(i32),
    /// Restart in-process (config change needing a restart, SIGUSR1); the port we had.
    Restart(u16),
}

/// Serve, restarting in-process on request until a stop signal. The state lock is held
/// throughout, and a restart keeps the port it had.
async fn supervise(
    mut cfg: config::GatewayConfig,
    load: config::LoadArgs,
    env: Env,
    force: bool,
    mut lock: crate::lock::StateLock,
) -> i32 {
    // Handlers first: a signal that arrives once we say "listening" must be graceful.
    let mut signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(target: "gateway", "cannot install signal handlers: {e}");
            return 1;
        }
    };
    let mut force = force;
    let mut port_hint = None;
    loop {
        let served = serve(
            cfg.clone(),
            force,
            &mut lock,
            &mut signals,
            &load,
            &env,
            port_hint,
        );
        match served.await {
            Served::Exit(code) => return code,
            Served::Restart(port) => {
                force = false;
                let (l, e) = (load.clone(), env.clone());
                match tokio::task::spawn_blocking(move || config::load(&l, &e)).await {
                    Ok(Ok(next)) => {
                        // A change of port/bind is honoured; otherwise keep the bound port.
                        port_hint = (next.port == cfg.port && next.bind_host == cfg.bind_host)
                            .then_some(port);
                        cfg = next;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(target: "gateway/reload", "restarting with the previous config: {e}");
                        port_hint = Some(port);
                    }
                    Err(_) => port_hint = Some(port),
                }
                tracing::info!(target: "gateway", "restarting in-process");
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    cfg: config::GatewayConfig,
    force: bool,
    lock: &mut crate::lock::StateLock,
    signals: &mut Signals,
    load: &config::LoadArgs,
    env: &Env,
    port_hint: Option<u16>,
) -> Served {
    let restart_allowed = cfg
        .parsed
        .pointer("/commands/restart")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(true);
    let reload_mode = cfg.reload_mode;
    let addr = SocketAddr::new(cfg.bind_host, port_hint.unwrap_or(cfg.port));
    let supervised = cfg.under_systemd || cfg.supervisor_external;
    let token_note = cfg.auth.token_is_ephemeral;
    tracing::info!(target: "gateway", "{} → {}", cfg.bind_reason, cfg.bind_host);
    let gw = match tokio::task::spawn_blocking(move || Gateway::new(cfg)).await {
        Ok(Ok(gw)) => gw,
        Ok(Err(e)) => {
            tracing::error!(target: "gateway", "{e}");
            return Served::Exit(1);
        }
        Err(e) => {
            tracing::error!(target: "gateway", "{e}");
            return Served::Exit(1);
        }
    };
    if force && addr.port() != 0 {
        if let Err(code) = free_port(addr).await {
            return Served::Exit(code);
        }
    }
    let listeners = match listen(addr, supervised, lock).await {
        Ok(l) => l,
        Err(code) => return Served::Exit(code),
    };
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let running = crate::serve::start_many(gw.clone(), listeners);
    for a in &addrs {
        tracing::info!(target: "gateway", "listening on ws://{a} (PID {})", std::process::id());
    }
    if token_note {
        tracing::warn!(target: "gateway", "no gateway token configured: generated an ephemeral token for this run (set gateway.auth.token or OPENCLAW_GATEWAY_TOKEN)");
    }
    let bound = addrs.first().map_or(0, |a| a.port());
    let (restart_tx, mut restart_rx) = tokio::sync::mpsc::channel::<String>(1);
    if reload_mode != config::ReloadMode::Off {
        tokio::spawn(crate::reload::watch(
            gw.clone(),
            load.clone(),
            env.clone(),
            restart_tx,
        ));
    }
    let restart = stop_or_restart(signals, &mut restart_rx, &gw, restart_allowed).await;
    match restart {
        None => {
            crate::serve::begin_shutdown(&gw, "gateway stopping");
            running.wait().await;
            tracing::info!(target: "gateway", "stopped");
            Served::Exit(0)
        }
        Some(reason) => {
            tracing::info!(target: "gateway", "restart requested: {reason}");
            crate::serve::begin_restart(&gw);
            running.wait().await;
            Served::Restart(bound)
        }
    }
}

/// `--force`: stop whoever listens on the port first.
async fn free_port(addr: SocketAddr) -> Result<(), i32> {
    let probe = SocketAddr::new(
        if addr.ip().is_unspecified() {
            [127, 0, 0, 1].into()
        } else {
            addr.ip()
        },
        addr.port(),
    );
    match tokio::task::spawn_blocking(move || crate::force::free_port(probe)).await {
        Ok(Ok(pids)) if !pids.is_empty() => {
            tracing::warn!(target: "gateway", "--force: stopped pid {pids:?} listening on port {}", addr.port());
            Ok(())
        }
        Ok(Ok(_)) => Ok(()),
        Ok(Err(msg)) => {
            tracing::error!(target: "gateway", "{msg}");
            eprintln!("{msg}");
            Err(1)
        }
        Err(e) => {
            tracing::error!(target: "gateway", "--force failed: {e}");
            Err(1)
        }
    }
}

/// Bind `addr` (its port recorded in the lock). A custom host other than 127.0.0.1 /
/// 0.0.0.0 keeps a mandatory loopback listener too, so local tools (the CLI, health checks)
/// always reach the gateway on 127.0.0.1.
async fn listen(
    addr: SocketAddr,
    supervised: bool,
    lock: &mut crate::lock::StateLock,
) -> Result<Vec<tokio::net::TcpListener>, i32> {
    let listener = bind_with_retry(addr, supervised).await?;
    lock.record(listener.local_addr().ok().map(|a| a.port()));
    let mut listeners = vec![listener];
    if !addr.ip().is_loopback() && !addr.ip().is_unspecified() {
        let port = listeners[0]
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(addr.port());
        let loopback = SocketAddr::new([127, 0, 0, 1].into(), port);
        listeners.push(bind_with_retry(loopback, supervised).await?);
    }
    Ok(listeners)
}

/// Serve until a stop signal (`None`) or a restart: SIGUSR1 (unless `commands.restart` is
/// false), a config file change the watcher says needs one, or a config write over RPC
/// that needs one.
async fn stop_or_restart(
    signals: &mut Signals,
    restart_rx: &mut tokio::sync::mpsc::Receiver<String>,
    gw: &Gateway,
    restart_allowed: bool,
) -> Option<String> {
    loop {
        tokio::select! {
            sig = signals.next() => match sig {
                Sig::Stop => return None,
                Sig::Restart if restart_allowed => return Some("SIGUSR1".to_string()),
                Sig::Restart => {
                    tracing::warn!(target: "gateway", "SIGUSR1 ignored: commands.restart is false");
                }
            },
            Some(reason) = restart_rx.recv() => return Some(reason),
            reason = gw.restarts.wait() => return Some(reason),
        }
    }
}

async fn bind_with_retry(
    addr: SocketAddr,
    supervised: bool,
) -> Result<tokio::net::TcpListener, i32> {
    let mut tries = 0;
    loop {
        match openclaw_net::bind(addr) {
            Ok(l) => return Ok(l),
            Err(openclaw_net::NetError::Bind { source, .. })
                if source.kind() == std::io::ErrorKind::AddrInUse =>
            {
                let probe = SocketAddr::new([127, 0, 0, 1].into(), addr.port());
                if supervised
                    && tokio::task::spawn_blocking(move || crate::force::is_gateway(probe))
                        .await
                        .unwrap_or(false)
                {
                    let msg = format!(
                        "a healthy gateway already listens on ws://{probe}; leaving it in charge"
                    );
                    tracing::warn!(target: "gateway", "{msg}");
                    eprintln!("{msg}");
                    return Err(EXIT_CONFIG);
                }
                tries += 1;
                if tries >= BIND_RETRIES {
                    tracing::error!(target: "gateway", "another gateway instance is already listening on ws://{addr}");
                    eprintln!("another gateway instance is already listening on ws://{addr}");
                    return Err(1);
                }
                tokio::time::sleep(BIND_RETRY_DELAY).await;
            }
            Err(e) => {
                tracing::error!(target: "gateway", "failed to bind gateway socket on ws://{addr}: {e}");
                eprintln!("failed to bind gateway socket on ws://{addr}: {e}");
                return Err(1);
            }
        }
    }
}

/// What a signal asks for.
enum Sig {
    /// SIGTERM / SIGINT.
    Stop,
    /// SIGUSR1: in-process restart.
    Restart,
}

/// SIGTERM, SIGINT and SIGUSR1, registered before the port is announced.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }

    async fn next(&mut self) -> Sig {
        tokio::select! {
            _ = self.term.recv() => Sig::Stop,
            _ = self.int.recv() => Sig::Stop,
            _ = self.usr1.recv() => Sig::Restart,
        }
    }
}

/// Exit code for invalid config (re-exported for `main`).
pub const EXIT_INVALID_CONFIG: i32 = EXIT_CONFIG;
