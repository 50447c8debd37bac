//! The `openclaw` binary: parse the command line and hand off. `gateway [run]` serves;
//! the operator commands land with their own issue and say so until then.

use clap::Parser;
use openclaw::cli::{Cli, Command};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    let code = match (&cli.command, cli.gateway_run()) {
        (_, Some(run)) => openclaw::run::run_gateway(&cli.global, run),
        (None, None) => {
            let run = openclaw::cli::GatewayRunArgs::default();
            openclaw::run::run_gateway(&cli.global, &run)
        }
        (Some(cmd), None) => {
            let name = match cmd {
                Command::Gateway(_) => "gateway <subcommand>",
                Command::Health(_) => "health",
                Command::Status(_) => "status",
                Command::Logs(_) => "logs",
                Command::Doctor(_) => "doctor",
                Command::Secrets(_) => "secrets",
                Command::Setup(_) => "setup",
            };
            eprintln!("openclaw {name}: not available in this build yet (use the stock OpenClaw CLI against this gateway)");
            2
        }
    };
    std::process::exit(code);
}
