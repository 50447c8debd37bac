//! The `openclaw` binary: parse the command line and hand off. `gateway [run]` serves;
//! every other command is an operator client ([`openclaw::commands`]).

use clap::Parser;
use openclaw::cli::Cli;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Only the allocator option is read here, before config (which owns the environment).
    openclaw::alloc::tune(std::env::var_os("MIMALLOC_PURGE_DELAY").is_some());
    let cli = Cli::parse();
    let code = match (&cli.command, cli.gateway_run()) {
        (_, Some(run)) => openclaw::run::run_gateway(&cli.global, run),
        (None, None) => {
            let run = openclaw::cli::GatewayRunArgs::default();
            openclaw::run::run_gateway(&cli.global, &run)
        }
        (Some(cmd), None) => openclaw::commands::run(&cli.global, cmd),
    };
    std::process::exit(code);
}
