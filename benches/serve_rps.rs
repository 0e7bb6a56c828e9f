//! Requests per second one node serves on loopback.
//!
//! A `Dht` node (the *server*) joins a loopback `Testnet`, so its routing
//! table holds real contacts and every answer carries a full list of them.
//! Load-generator threads then send FIND_NODE requests (random targets,
//! random transaction ids, one fixed sender id, `read_only: true`) from
//! their own UDP sockets, each keeping a bounded window of requests
//! outstanding, so the figure is what the server does and not how fast the
//! kernel drops datagrams. Only decoded `Nodes` answers from the server's id
//! with a transaction id we are waiting for count. A request unanswered
//! after `LOSS_TIMEOUT` counts as lost and frees its slot.
//!
//! Every request comes from 127.0.0.1, so the server runs with the per-IP
//! request rate limit and the anti-amplification byte budget raised out of
//! the way (see [`server_config`]); with `Config::default()` one IP gets
//! 200 requests per second and 8 KiB per second of unverified answers.
//!
//! The server and the testnet run on one current-thread tokio runtime (one
//! core); each client is a plain OS thread with a blocking socket.
//!
//! `cargo bench --bench serve_rps [-- --secs S --clients C --window W]`;
//! without `--bench` (as `cargo test --benches` runs it) it does a short
//! smoke run and checks that answers arrived.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use meshara_dht::runtime::{Dht, Testnet};
use meshara_dht::wire::{self, Body, Message, Request, Response, TxId};
use meshara_dht::{Config, NodeId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A request unanswered for this long is counted lost.
const LOSS_TIMEOUT: Duration = Duration::from_millis(500);

/// The load generator's fixed sender id.
const CLIENT_ID: [u8; 20] = [0x42; 20];

/// Random lookup targets each client cycles through.
const TARGETS: usize = 4096;

#[derive(Debug, Clone)]
struct Options {
    full: bool,
    testnet: usize,
    warmup: Duration,
    measure: Duration,
    clients: usize,
    window: usize,
}

impl Options {
    fn parse() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let full = args.iter().any(|a| a == "--bench");
        let mut o = if full {
            Options {
                full,
                testnet: 30,
                warmup: Duration::from_secs(1),
                measure: Duration::from_secs(5),
                clients: 1,
                window: 64,
            }
        } else {
            Options {
                full,
                testnet: 8,
                warmup: Duration::from_millis(100),
                measure: Duration::from_millis(300),
                clients: 1,
                window: 8,
            }
        };
        let value = |name: &str| -> Option<u64> {
            let at = args.iter().position(|a| a == name)?;
            args.get(at + 1)?.parse().ok()
        };
        if let Some(s) = value("--secs") {
            o.measure = Duration::from_secs(s.max(1));
        }
        if let Some(c) = value("--clients") {
            o.clients = usize::try_from(c).unwrap_or(1).max(1);
        }
        if let Some(w) = value("--window") {
            o.window = usize::try_from(w).unwrap_or(1).max(1);
        }
        if let Some(n) = value("--testnet") {
            o.testnet = usize::try_from(n).unwrap_or(2).max(2);
        }
        o
    }
}

/// `Config::local()` with the per-source limits raised so that one
/// load-generating IP is not throttled: no request rate limit, and an
/// unbounded byte budget toward addresses that never answered us.
fn server_config() -> Config {
    Config {
        rate_limit_requests_per_sec: u32::MAX,
        rate_limit_burst: u32::MAX,
        unverified_bytes_per_sec: u32::MAX,
        ..Config::local()
    }
}

/// What one client counted inside the measured window.
#[derive(Debug, Default, Clone, Copy)]
struct ClientCount {
    /// Requests sent in the window.
    sent: u64,
    /// Valid answers received in the window.
    answered: u64,
    /// Contacts carried by those answers.
    contacts: u64,
    /// Requests sent in the window that timed out.
    lost: u64,
    /// Datagrams received in the window that were not a valid answer to an
    /// outstanding request (late, garbage, wrong sender or kind).
    invalid: u64,
    /// CPU time the client thread used in the window.
    cpu: Duration,
}

impl std::ops::AddAssign for ClientCount {
    fn add_assign(&mut self, o: Self) {
        self.sent += o.sent;
        self.answered += o.answered;
        self.contacts += o.contacts;
        self.lost += o.lost;
        self.invalid += o.invalid;
        self.cpu += o.cpu;
    }
}

/// One load generator: keeps `window` FIND_NODE requests outstanding
/// against `server` until `until`, counting from `from`.
fn client(
    server: SocketAddr,
    server_id: NodeId,
    window: usize,
    seed: u64,
    from: Instant,
    until: Instant,
) -> std::io::Result<ClientCount> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(server)?;
    socket.set_read_timeout(Some(Duration::from_millis(20)))?;
    let mut rng = StdRng::seed_from_u64(seed);
    let targets: Vec<NodeId> = (0..TARGETS).map(|_| NodeId::random(&mut rng)).collect();
    let sender = NodeId::from_bytes(CLIENT_ID);
    let mut outstanding: HashMap<TxId, Instant> = HashMap::with_capacity(window * 2);
    let mut count = ClientCount::default();
    let mut out = Vec::with_capacity(128);
    let mut buf = vec![0u8; 2048];
    let mut next_target = 0usize;
    let mut last_sweep = Instant::now();
    let mut cpu_at_start = None;
    loop {
        let now = Instant::now();
        if now >= until {
            break;
        }
        let in_window = now >= from;
        if in_window && cpu_at_start.is_none() {
            cpu_at_start = thread_cpu();
        }
        while outstanding.len() < window {
            let txid: TxId = rng.gen();
            if outstanding.contains_key(&txid) {
                continue;
            }
            next_target = (next_target + 1) % TARGETS;
            let target = targets.get(next_target).copied().unwrap_or(sender);
            let msg = Message {
                txid,
                sender,
                body: Body::Request {
                    read_only: true,
                    request: Request::FindNode {
                        target,
                        challenge: None,
                    },
                },
            };
            wire::encode_into(&msg, &mut out).map_err(std::io::Error::other)?;
            socket.send(&out)?;
            outstanding.insert(txid, now);
            if in_window {
                count.sent += 1;
            }
        }
        match socket.recv(&mut buf) {
            Ok(n) => {
                let valid = match buf.get(..n).map(wire::decode) {
                    Some(Ok(Message {
                        txid,
                        sender: from_id,
                        body: Body::Response(Response::Nodes { nodes, .. }),
                    })) if from_id == server_id && outstanding.remove(&txid).is_some() => {
                        Some(nodes.len())
                    }
                    _ => None,
                };
                if in_window {
                    match valid {
                        Some(contacts) => {
                            count.answered += 1;
                            count.contacts += contacts as u64;
                        }
                        None => count.invalid += 1,
                    }
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
        if now.duration_since(last_sweep) >= Duration::from_millis(50) {
            last_sweep = now;
            outstanding.retain(|_, sent| {
                let expired = now.duration_since(*sent) >= LOSS_TIMEOUT;
                if expired && *sent >= from {
                    count.lost += 1;
                }
                !expired
            });
        }
    }
    count.cpu = thread_cpu()
        .zip(cpu_at_start)
        .map_or(Duration::ZERO, |(end, start)| end.saturating_sub(start));
    Ok(count)
}

/// CPU time (user + system) the calling thread has used, from
/// `/proc/thread-self/stat` (in clock ticks of 1/100 s, Linux's USER_HZ).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); field 3 is the first after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

async fn run(o: Options) -> Result<(), Box<dyn std::error::Error>> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let net = Testnet::with(o.testnet, loopback, Config::local(), 7).await?;
    let server = Dht::builder()
        .bind(loopback)
        .config(server_config())
        .seed(99)
        .bootstrap(net.bootstrap_addr())
        .spawn()
        .await?;
    server.bootstrap().await?;
    let table = server.routing_table().await?.len();
    println!(
        "serve_rps: nproc {}, load average {} (before)",
        thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    println!(
        "server {} with {table} contacts (testnet of {}), {} client socket(s) x window {}, \
         warm-up {:?}, window {:?}; rate limits raised (see server_config)",
        server.local_addr(),
        o.testnet,
        o.clients,
        o.window,
        o.warmup,
        o.measure
    );

    let start = Instant::now();
    let from = start + o.warmup;
    let until = from + o.measure;
    let (addr, id) = (server.local_addr(), server.node_id());
    let handles: Vec<_> = (0..o.clients)
        .map(|i| thread::spawn(move || client(addr, id, o.window, 1000 + i as u64, from, until)))
        .collect();
    tokio::time::sleep_until(tokio::time::Instant::from_std(from)).await;
    let before = server.stats().await?;
    // The server task runs on this thread (current-thread runtime).
    let cpu_before = thread_cpu();
    tokio::time::sleep_until(tokio::time::Instant::from_std(until)).await;
    let cpu_after = thread_cpu();
    let after = server.stats().await?;
    let server_cpu = cpu_after
        .zip(cpu_before)
        .map_or(Duration::ZERO, |(end, start)| end.saturating_sub(start));
    // The clients stop at `until`; the server has nothing left to do.
    let mut total = ClientCount::default();
    for h in handles {
        total += h.join().map_err(|_| "client thread panicked")??;
    }
    let secs = o.measure.as_secs_f64();
    let served = after.node.requests_served - before.node.requests_served;
    println!(
        "answered {} in {secs:.1} s = {:.0} valid answers/s (server served {:.0}/s); \
         sent {}, lost {} ({:.3} %), invalid {}, mean {:.1} contacts per answer",
        total.answered,
        total.answered as f64 / secs,
        served as f64 / secs,
        total.sent,
        total.lost,
        100.0 * total.lost as f64 / total.sent.max(1) as f64,
        total.invalid,
        total.contacts as f64 / total.answered.max(1) as f64
    );
    let per_cpu_second = |cpu: Duration| {
        if cpu.is_zero() {
            "-".to_string()
        } else {
            format!("{:.0}", total.answered as f64 / cpu.as_secs_f64())
        }
    };
    println!(
        "CPU in window: server thread {:.2} s ({:.0} % of a core) = {} answers per server CPU-second; \
         clients {:.2} s",
        server_cpu.as_secs_f64(),
        100.0 * server_cpu.as_secs_f64() / secs,
        per_cpu_second(server_cpu),
        total.cpu.as_secs_f64()
    );
    println!(
        "server counters in window: rate-limited {}, throttled {}, send errors {}",
        after.node.requests_rate_limited - before.node.requests_rate_limited,
        after.node.responses_throttled - before.node.responses_throttled,
        after.send_errors - before.send_errors
    );
    println!("serve_rps: load average {} (after)", load_average());
    server.shutdown().await;
    net.shutdown().await;
    if total.answered == 0 {
        return Err("no valid answer received".into());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse();
    if !options.full {
        println!("serve_rps: smoke run (pass --bench, as `cargo bench` does, to measure)");
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(options))
}
