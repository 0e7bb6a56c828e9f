//! `meshara-dht`: the command-line face of the crate.
//!
//! This file owns the command line (clap), logging set-up, the async
//! runtime and the exit code; each subcommand lives in its own module and
//! returns a [`CliError`] that `main` prints as one sentence. Nothing here
//! knows the protocol: every network operation goes through
//! [`meshara_dht::runtime::Dht`].
//!
//! Exit codes: 0 success, 1 error, 2 bad command line (clap), 3 "not
//! found" (`get`, `find-peer`).

mod advert;
mod bootstrap;
mod client;
mod error;
mod metrics;
mod node;
mod progress;
mod sim;
mod state;
mod testnet;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;
use crate::progress::Progress;

/// A Kademlia DHT for Meshara peer discovery: run a local test network, a
/// long-running node, or query a running network.
#[derive(Debug, Parser)]
#[command(name = "meshara-dht", version, propagate_version = true)]
struct Cli {
    /// No progress bars (they are also off when stdout is not a terminal).
    #[arg(long, short, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start N real nodes on loopback UDP, advertise and look them up, and
    /// print latency, hop and resource figures.
    Testnet(testnet::TestnetArgs),
    /// Run a long-running node (for example a bootstrap node).
    Node(node::NodeArgs),
    /// Store a value (immutable, or signed mutable with --mutable).
    Put(client::PutArgs),
    /// Fetch the value stored under a key.
    Get(client::GetArgs),
    /// List the nodes closest to an id.
    FindNode(client::FindNodeArgs),
    /// Find the address a node advertises under its id.
    FindPeer(client::FindPeerArgs),
    /// Simulate a network of real engines on virtual time (up to 200,000
    /// nodes) and print hop, message and latency figures.
    Sim(sim::SimArgs),
}

/// What a command asks `main` to exit with, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Exit 0.
    Done,
    /// Exit 3: the key or peer looked up was not found.
    NotFound,
}

/// Exit code for [`Outcome::NotFound`].
const EXIT_NOT_FOUND: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&CliError::Runtime(e)),
    };
    let progress = Progress::new(!cli.quiet);
    match runtime.block_on(run(cli.command, progress)) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::NotFound) => ExitCode::from(EXIT_NOT_FOUND),
        Err(e) => fail(&e),
    }
}

async fn run(command: Command, progress: Progress) -> Result<Outcome, CliError> {
    match command {
        Command::Testnet(args) => testnet::run(args, progress).await,
        Command::Node(args) => node::run(args).await,
        Command::Put(args) => client::put(args, progress).await,
        Command::Get(args) => client::get(args, progress).await,
        Command::FindNode(args) => client::find_node(args, progress).await,
        Command::FindPeer(args) => client::find_peer(args, progress).await,
        Command::Sim(args) => sim::run(args, progress).await,
    }
}

fn fail(e: &CliError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

/// `tracing` to stderr, filtered by `RUST_LOG`; without it, `info` for a
/// long-running node and `warn` for everything else.
fn init_logging(command: &Command) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;

    let default = match command {
        Command::Node(_) => "info",
        _ => "warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
