//! Unit tests of `crate::cli` (kept here to keep `src/cli.rs` under the size limit;
//! included from `src/cli.rs` via `#[path]`, so they are a child module with private access).
use super::*;
use clap::CommandFactory;

fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("openclaw").chain(args.iter().copied())).unwrap()
}

#[test]
fn clap_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn bare_gateway_is_run() {
    let cli = parse(&[
        "gateway",
        "--port",
        "18800",
        "--bind",
        "lan",
        "--token",
        "t",
        "--verbose",
    ]);
    let run = cli.gateway_run().unwrap();
    assert_eq!(run.port, Some(18800));
    assert_eq!(run.bind, Some(BindMode::Lan));
    assert_eq!(run.token.as_ref().unwrap().expose(), "t");
    assert!(format!("{cli:?}").contains("***") && !format!("{cli:?}").contains("\"t\""));
    let la = run.load_args(&cli.global).unwrap();
    assert!(la.verbose && la.port == Some(18800));
}

#[test]
fn gateway_run_and_global_flags() {
    let cli = parse(&[
        "--profile",
        "work",
        "gateway",
        "run",
        "--auth",
        "trusted-proxy",
        "--ws-log",
        "full",
        "--tailscale",
        "serve",
        "--allow-unconfigured",
        "--compact",
        "--no-color",
    ]);
    let run = cli.gateway_run().unwrap();
    assert_eq!(run.auth, Some(AuthMode::TrustedProxy));
    assert_eq!(run.ws_log_style(), WsLogStyle::Compact);
    assert!(run.allow_unconfigured && cli.global.no_color);
    assert_eq!(cli.global.profile.as_deref(), Some("work"));
    // `gateway --dev` is the global flag
    let cli = parse(&["gateway", "--dev"]);
    assert!(cli.global.dev && cli.gateway_run().is_some());
    assert!(Cli::try_parse_from(["openclaw", "gateway", "--port", "70000"]).is_err());
    assert!(
        Cli::try_parse_from(["openclaw", "gateway", "--port", "0"]).is_ok(),
        "0 = any free port"
    );
    assert!(Cli::try_parse_from(["openclaw", "gateway", "--bind", "0.0.0.0"]).is_err());
}

#[test]
fn dev_and_profile_conflict() {
    let cli = parse(&["--dev", "--profile", "x", "gateway"]);
    let err = cli
        .gateway_run()
        .unwrap()
        .load_args(&cli.global)
        .unwrap_err();
    assert_eq!(err.to_string(), "Cannot combine --dev with --profile");
    let cli = parse(&["gateway", "--reset"]);
    assert!(cli.gateway_run().unwrap().load_args(&cli.global).is_err());
}

#[test]
fn subcommands_parse() {
    let cli = parse(&[
        "gateway",
        "status",
        "--json",
        "--deep",
        "--require-rpc",
        "--no-probe",
    ]);
    match cli.command {
        Some(Command::Gateway(GatewayCommand {
            command: Some(GatewaySubcommand::Status(s)),
            ..
        })) => {
            assert!(s.json && s.deep && s.require_rpc && s.no_probe);
            assert_eq!(s.conn.timeout, 10_000);
        }
        other => panic!("{other:?}"),
    }
    let cli = parse(&[
        "gateway",
        "call",
        "health",
        "--params",
        "{\"a\":1}",
        "--expect-final",
        "--timeout",
        "500",
    ]);
    match cli.command {
        Some(Command::Gateway(GatewayCommand {
            command: Some(GatewaySubcommand::Call(c)),
            ..
        })) => {
            assert_eq!(
                (c.method.as_str(), c.params.as_str(), c.conn.timeout),
                ("health", "{\"a\":1}", 500)
            );
            assert!(c.expect_final);
        }
        other => panic!("{other:?}"),
    }
    let cli = parse(&["logs", "--follow", "--json"]);
    match cli.command {
        Some(Command::Logs(l)) => {
            assert!(l.follow && l.json);
            assert_eq!((l.limit, l.max_bytes, l.interval), (200, 250_000, 1_000));
        }
        other => panic!("{other:?}"),
    }
    for args in [
        &["health", "--json", "--verbose"][..],
        &["status", "--all", "--deep"],
        &["doctor", "--fix", "--yes", "--non-interactive"],
        &["secrets", "reload"],
        &["setup"],
        &[
            "gateway", "install", "--port", "1234", "--force", "--json", "--token", "x",
        ],
        &["gateway", "start"],
        &["gateway", "stop", "--force"],
        &["gateway", "restart"],
        &["gateway", "uninstall"],
        &["gateway", "probe", "--json"],
        &["gateway", "health", "--url", "ws://127.0.0.1:1"],
    ] {
        let cli = parse(args);
        assert!(cli.gateway_run().is_none(), "{args:?}");
    }
    // run flags are not accepted together with another gateway subcommand
    assert!(Cli::try_parse_from(["openclaw", "gateway", "--port", "1", "status"]).is_err());
}
