//! The `meshara-dht` binary, run as a user would: loopback addresses only,
//! every wait bounded, and every child process killed by its pid when its
//! handle drops (even when an assertion fails first).
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_meshara-dht");

/// Upper bound for any one command or expected line.
const LIMIT: Duration = Duration::from_secs(120);

/// A fresh, empty directory for one test.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mdht-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with a clean environment for bootstrap discovery.
fn command() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("MESHARA_DHT_BOOTSTRAP")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    c
}

/// A finished one-shot invocation.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The last stdout line, parsed as JSON.
    fn json(&self) -> Value {
        let last = self.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// Runs the binary to completion, killing it if it outlives [`LIMIT`].
fn run(args: &[&str]) -> Run {
    let mut child = command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("meshara-dht {args:?} did not finish within {LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    Run {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    })
}

/// A `meshara-dht node` running in the background; killed (by pid) on drop.
struct NodeProc {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    id: String,
    addr: String,
}

impl NodeProc {
    /// Starts a node on a free loopback port and waits for its start line.
    fn start(state_dir: &Path, extra: &[&str]) -> Self {
        let mut child = command()
            .arg("node")
            .args(["--bind", "127.0.0.1:0", "--status-interval", "1"])
            .arg("--state-dir")
            .arg(state_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        thread::spawn(move || forward(out, "", tx));
        thread::spawn(move || forward(err, "stderr: ", tx2));
        let mut node = NodeProc {
            child,
            lines,
            seen: Vec::new(),
            id: String::new(),
            addr: String::new(),
        };
        let start = node.wait_for(|l| l.starts_with("node ") && l.contains(" listening on "));
        let words: Vec<&str> = start.split_whitespace().collect();
        node.id = words[1].to_string();
        node.addr = words[4].to_string();
        node
    }

    /// Waits (bounded) for a line matching `pred` and returns it.
    fn wait_for(&mut self, pred: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.seen.iter().find(|l| pred(l)) {
            return line.clone();
        }
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!("no such line; output: {:#?}", self.seen),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("node exited; output: {:#?}", self.seen)
                }
            }
        }
    }

    /// Sends SIGTERM (by pid) and waits, bounded, for a clean exit.
    fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(start.elapsed() < LIMIT, "node ignored SIGTERM");
            thread::sleep(Duration::from_millis(20));
        };
        self.wait_for(|l| l == "stopped");
        assert!(
            status.success(),
            "node exited with {status}: {:#?}",
            self.seen
        );
        std::mem::take(&mut self.seen)
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        // Kills this child by its pid (a no-op if it already exited).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward(pipe: impl Read, prefix: &'static str, tx: mpsc::Sender<String>) {
    for line in BufReader::new(pipe).lines() {
        let Ok(line) = line else { break };
        if tx.send(format!("{prefix}{line}")).is_err() {
            break;
        }
    }
}

#[test]
fn testnet_reports_full_success_as_json() {
    let r = run(&["testnet", "--nodes", "20", "--lookups", "50", "--json"]);
    assert!(r.status.success(), "{r:?}");
    let report = r.json();
    assert_eq!(report["nodes"], 20);
    assert_eq!(report["lookups"], 50);
    assert_eq!(report["get_success_rate"], 1.0, "{report}");
    assert_eq!(report["put_success_rate"], 1.0, "{report}");
    for field in [
        "bootstrap_s",
        "get_p50_ms",
        "get_p90_ms",
        "get_p99_ms",
        "put_p50_ms",
        "put_p90_ms",
        "put_p99_ms",
        "hops_p50",
        "hops_p99",
        "msgs_p50",
        "peak_rss_mb",
        "cpu_s",
    ] {
        assert!(report[field].is_number(), "{field} missing: {report}");
    }
    assert!(report["msgs_p50"].as_f64().unwrap() >= 1.0);
    assert_eq!(report["rt_min"], 19, "20 nodes all know each other");
    // The human report comes first.
    assert!(r.stdout.starts_with("testnet: 20 nodes on 127.0.0.1"));
}

#[test]
fn node_serves_put_and_get_from_other_invocations() {
    let dirs = TempDir::new("putget");
    let mut a = NodeProc::start(&dirs.join("a"), &[]);
    a.wait_for(|l| l.starts_with("advertised "));
    let client = dirs.join("client");
    let client = client.to_str().unwrap();
    let net = ["--bootstrap", a.addr.as_str(), "--state-dir", client];

    let put = run(&[&["put", "--value", "hello dht", "--json"][..], &net].concat());
    assert!(put.status.success(), "{put:?}");
    let key = put.json()["key"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 40);
    // Node A alone holds it: a client never counts itself.
    assert_eq!(put.json()["stored"], 1);

    let get = run(&[&["get", key.as_str(), "--json"][..], &net].concat());
    assert!(get.status.success(), "{get:?}");
    assert_eq!(get.json()["value"], "hello dht");
    // Text output is the value itself.
    let text = run(&[&["get", key.as_str()][..], &net].concat());
    assert_eq!(text.stdout, "hello dht\n");

    // A signed mutable record, with a generated key file.
    let key_file = dirs.join("signer.key");
    let key_file = key_file.to_str().unwrap();
    let mput = run(&[
        &[
            "put",
            "--mutable",
            "--seq",
            "7",
            "--salt",
            "s",
            "--value",
            "v7",
            "--key-file",
            key_file,
            "--json",
        ][..],
        &net,
    ]
    .concat());
    assert!(mput.status.success(), "{mput:?}");
    assert!(Path::new(key_file).exists());
    let mkey = mput.json()["key"].as_str().unwrap().to_string();
    let mget = run(&[&["get", mkey.as_str(), "--mutable", "--json"][..], &net].concat());
    assert!(mget.status.success(), "{mget:?}");
    assert_eq!(mget.json()["value"], "v7");
    assert_eq!(mget.json()["seq"], 7);

    // A lower sequence number is refused, with the reason.
    let older = run(&[
        &[
            "put",
            "--mutable",
            "--seq",
            "6",
            "--salt",
            "s",
            "--value",
            "v6",
            "--key-file",
            key_file,
        ][..],
        &net,
    ]
    .concat());
    assert_eq!(older.status.code(), Some(1), "{older:?}");
    assert_eq!(
        older.stderr,
        "error: no node stored the record: a record with sequence 7 is stored; \
         a write needs a higher one (1 refused, 0 did not answer)\n"
    );

    // The node's own advertisement names its address.
    let peer = run(&[&["find-peer", a.id.as_str(), "--json"][..], &net].concat());
    assert!(peer.status.success(), "{peer:?}");
    assert_eq!(peer.json()["addr"], a.addr.as_str());

    // A key nobody stored: exit code 3 and one sentence on stderr.
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let none = run(&[&["get", missing][..], &net].concat());
    assert_eq!(none.status.code(), Some(3), "{none:?}");
    assert_eq!(
        none.stderr,
        format!("not found: no node has a record under {missing}\n")
    );
    a.stop();
}

#[test]
fn restarted_node_keeps_its_id_and_rejoins_without_bootstrap() {
    let dirs = TempDir::new("restart");
    let mut a = NodeProc::start(&dirs.join("a"), &[]);
    a.wait_for(|l| l.starts_with("advertised "));
    let b_dir = dirs.join("b");
    let mut b = NodeProc::start(&b_dir, &["--bootstrap", a.addr.as_str()]);
    b.wait_for(|l| l.starts_with("joined: 1 of 1 addresses answered"));
    let b_id = b.id.clone();
    b.stop();
    assert!(b_dir.join("routing.bin").exists());

    // No --bootstrap, no environment, no bootstrap.txt: only the saved table.
    let mut b2 = NodeProc::start(&b_dir, &[]);
    assert_eq!(b2.id, b_id, "same key file, same node id");
    b2.wait_for(|l| {
        l == format!(
            "loaded 1 saved contacts from {}",
            b_dir.join("routing.bin").display()
        )
    });
    b2.wait_for(|l| l.starts_with("joined: 1 of 1 addresses answered; routing table 1 contacts"));
    b2.wait_for(|l| l.starts_with("status: routing table 1 contacts"));

    // Through B alone, a lookup finds A.
    let client = dirs.join("client");
    let found = run(&[
        "find-node",
        a.id.as_str(),
        "--bootstrap",
        b2.addr.as_str(),
        "--state-dir",
        client.to_str().unwrap(),
        "--json",
    ]);
    assert!(found.status.success(), "{found:?}");
    let closest = found.json()["closest"].as_array().unwrap().clone();
    assert_eq!(closest[0]["id"], a.id.as_str());
    assert_eq!(closest[0]["addr"], a.addr.as_str());
    b2.stop();
    a.stop();
}

#[test]
fn corrupt_routing_table_is_reported_and_kept_aside() {
    let dir = TempDir::new("corrupt");
    let garbage = b"MDHTRT01 this is not a routing table";
    std::fs::write(dir.join("routing.bin"), garbage).unwrap();
    let mut node = NodeProc::start(dir.path(), &[]);
    let line = node.wait_for(|l| l.starts_with("routing table file "));
    assert!(
        line.contains("is corrupt (its checksum does not match); moved it to "),
        "{line}"
    );
    let aside: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("routing.bin.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), garbage);
    assert!(line.ends_with(&format!(
        "{} and starting without saved contacts",
        aside[0].display()
    )));
    // The node runs on: it starts a network of its own.
    node.wait_for(|l| l.starts_with("status: routing table 0 contacts"));
    node.stop();
}

#[test]
fn address_in_use_is_one_sentence_and_exit_code_1() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = TempDir::new("inuse");
    let r = run(&[
        "node",
        "--bind",
        &addr,
        "--state-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1), "{r:?}");
    assert!(
        r.stderr
            .starts_with(&format!("error: cannot bind UDP socket on {addr}: ")),
        "{r:?}"
    );
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
}

#[test]
fn unreachable_bootstrap_is_one_sentence_and_exit_code_1() {
    // Bound but silent: pings to it are never answered.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let dir = TempDir::new("unreachable");
    let r = run(&[
        "find-node",
        "0123456789abcdef0123456789abcdef01234567",
        "--bootstrap",
        &addr,
        "--state-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1), "{r:?}");
    assert_eq!(
        r.stderr,
        "error: no bootstrap node answered (1 addresses tried)\n"
    );
}

#[test]
fn missing_bootstrap_and_bad_flags_are_refused() {
    let dir = TempDir::new("nobootstrap");
    let r = run(&[
        "get",
        "0123456789abcdef0123456789abcdef01234567",
        "--state-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1), "{r:?}");
    assert!(
        r.stderr
            .starts_with("error: no bootstrap address: pass --bootstrap"),
        "{r:?}"
    );
    // clap refuses bad values with its usage exit code.
    let bad = run(&["testnet", "--nodes", "1"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    let bad_id = run(&["get", "xyz", "--bootstrap", "127.0.0.1:1"]);
    assert_eq!(bad_id.status.code(), Some(2), "{bad_id:?}");
    assert!(
        bad_id.stderr.contains("a node id is 40 hex digits"),
        "{bad_id:?}"
    );
}

#[test]
fn bootstrap_file_in_the_state_dir_is_used() {
    let dirs = TempDir::new("bootfile");
    let mut a = NodeProc::start(&dirs.join("a"), &[]);
    a.wait_for(|l| l.starts_with("advertised "));
    let client = dirs.join("client");
    std::fs::create_dir_all(&client).unwrap();
    std::fs::write(
        client.join("bootstrap.txt"),
        format!("# local test network\n{}\n", a.addr),
    )
    .unwrap();
    let r = run(&[
        "find-peer",
        a.id.as_str(),
        "--state-dir",
        client.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{r:?}");
    assert!(
        r.stdout
            .starts_with(&format!("{} is at {} (advertised ", a.id, a.addr)),
        "{r:?}"
    );
    a.stop();
}

#[test]
fn sim_prints_its_summary_and_ends_with_json() {
    let r = run(&[
        "sim",
        "--nodes",
        "60",
        "--lookups",
        "30",
        "--seed",
        "4",
        "--json",
    ]);
    assert!(r.status.success(), "{r:?}");
    let summary = r.json();
    assert_eq!(summary["nodes"], 60);
    assert_eq!(summary["lookups"], 30);
    assert_eq!(summary["success_rate"], 1.0, "{summary}");
    for field in [
        "hops_p50",
        "hops_p90",
        "hops_p99",
        "hops_max",
        "msgs_p50",
        "msgs_p99",
        "latency_p50_ms",
        "latency_p99_ms",
        "wall_s",
        "peak_rss_mb",
    ] {
        assert!(summary[field].is_number(), "{field} missing: {summary}");
    }
    assert!(r.stdout.contains("hops histogram"), "{}", r.stdout);
    // Bad values are refused by the command line, exit code 2.
    let bad = run(&["sim", "--loss", "1.5"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(bad.stderr.contains("not between 0 and 1"), "{}", bad.stderr);
}
