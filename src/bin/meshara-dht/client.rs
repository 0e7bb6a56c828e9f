//! The one-shot commands against a running network: `put`, `get`,
//! `find-node` and `find-peer`. Each starts a client-mode node (it asks but
//! answers nothing and enters no routing table), joins through the
//! bootstrap addresses, runs one query, prints the result as text or one
//! JSON object (`--json`), and shuts down.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use meshara_dht::identity::Identity;
use meshara_dht::node::{QueryOutcome, QueryStats};
use meshara_dht::record::{Record, RecordPublicKey, SignedRecord};
use meshara_dht::runtime::{Dht, QueryRequest};
use meshara_dht::wire::{Contact, MAX_VALUE_SIZE};
use meshara_dht::{Key, NodeId};
use serde_json::json;

use crate::advert::NodeAdvert;
use crate::bootstrap::{self, BOOTSTRAP_FILE};
use crate::error::CliError;
use crate::progress::Progress;
use crate::Outcome;

/// Options shared by the commands that query a running network.
#[derive(Debug, Args)]
pub(crate) struct NetArgs {
    /// Bootstrap node as HOST:PORT (repeat the flag or separate with
    /// commas); MESHARA_DHT_BOOTSTRAP and <state-dir>/bootstrap.txt add more.
    #[arg(long, value_name = "ADDR", value_delimiter = ',')]
    bootstrap: Vec<String>,
    /// Directory holding bootstrap.txt and the default key file.
    /// Default: $XDG_STATE_HOME/meshara-dht, else ~/.local/state/meshara-dht.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Local UDP address to query from. Default: a free port on the
    /// wildcard address of the bootstrap nodes' address family.
    #[arg(long, value_name = "ADDR")]
    bind: Option<SocketAddr>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Options of `meshara-dht put`.
#[derive(Debug, Args)]
pub(crate) struct PutArgs {
    /// The value to store (at most 1000 bytes).
    #[arg(long)]
    value: String,
    /// Store a mutable record signed by --key-file instead of an immutable
    /// one (whose key is the SHA-1 of the value).
    #[arg(long)]
    mutable: bool,
    /// Sequence number of the mutable record; a store keeps the highest.
    /// Default: the current unix time in milliseconds.
    #[arg(long, requires = "mutable")]
    seq: Option<u64>,
    /// Salt of the mutable record (one key can own several records).
    #[arg(long, requires = "mutable")]
    salt: Option<String>,
    /// Key file that signs the mutable record, generated if missing.
    /// Default: <state-dir>/client.key.
    #[arg(long, value_name = "FILE", requires = "mutable")]
    key_file: Option<PathBuf>,
    #[command(flatten)]
    net: NetArgs,
}

/// Options of `meshara-dht get`.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// The key, 40 hex digits.
    key: Key,
    /// Look for a signed mutable record (else an immutable one).
    #[arg(long)]
    mutable: bool,
    #[command(flatten)]
    net: NetArgs,
}

/// Options of `meshara-dht find-node`.
#[derive(Debug, Args)]
pub(crate) struct FindNodeArgs {
    /// The id to look up, 40 hex digits.
    id: NodeId,
    #[command(flatten)]
    net: NetArgs,
}

/// Options of `meshara-dht find-peer`.
#[derive(Debug, Args)]
pub(crate) struct FindPeerArgs {
    /// The node id, 40 hex digits.
    id: NodeId,
    #[command(flatten)]
    net: NetArgs,
}

/// Default key file name for signing from the command line; distinct from
/// a node's own key so a client never writes the node's record.
const CLIENT_KEY_FILE: &str = "client.key";

/// Starts a client-mode node and joins through the bootstrap addresses.
async fn connect(net: &NetArgs, progress: Progress) -> Result<Dht, CliError> {
    let dir = match &net.state_dir {
        Some(dir) => Some(dir.clone()),
        None => bootstrap::default_state_dir().ok(),
    };
    let addrs = match &dir {
        Some(dir) => bootstrap::gather(&net.bootstrap, dir)?,
        None => bootstrap::gather(&net.bootstrap, Path::new(""))?,
    };
    if addrs.is_empty() {
        let file = dir.unwrap_or_default().join(BOOTSTRAP_FILE);
        return Err(CliError::NoBootstrap { file });
    }
    let resolved = bootstrap::resolve_all(&addrs).await?;
    let bind = net.bind.unwrap_or_else(|| {
        if !resolved.is_empty() && resolved.iter().all(SocketAddr::is_ipv6) {
            SocketAddr::from(([0u16; 8], 0))
        } else {
            SocketAddr::from(([0u8; 4], 0))
        }
    });
    let dht = Dht::builder().bind(bind).client_mode(true).spawn().await?;
    let spinner = progress.spinner("joining the network");
    let joined = dht.bootstrap_from(resolved).await;
    spinner.finish_and_clear();
    joined?;
    Ok(dht)
}

/// Runs one query with a spinner, returning its outcome, cost and wall time.
async fn query(
    dht: &Dht,
    request: QueryRequest,
    what: &str,
    progress: Progress,
) -> Result<(QueryOutcome, QueryStats, Duration), CliError> {
    let spinner = progress.spinner(what);
    let t = Instant::now();
    let result = dht.query(request).await;
    spinner.finish_and_clear();
    let (outcome, stats) = result?;
    Ok((outcome, stats, t.elapsed()))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn public_key_hex(key: &RecordPublicKey) -> String {
    match key {
        RecordPublicKey::Ed25519(k) => hex(k),
        RecordPublicKey::Meshara(k) => hex(&k.0),
    }
}

/// A value as text if it is UTF-8, else as hex.
fn value_text(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(s) => s.to_string(),
        Err(_) => format!("(binary, hex) {}", hex(value)),
    }
}

fn cost(stats: &QueryStats, wall: Duration) -> String {
    format!(
        "{} hops, {} messages, {:.1} ms",
        stats.hops,
        stats.messages,
        wall.as_secs_f64() * 1000.0
    )
}

fn cost_json(stats: &QueryStats, wall: Duration) -> serde_json::Value {
    json!({
        "hops": stats.hops,
        "messages": stats.messages,
        "ms": (wall.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
    })
}

/// Prints `value` as one JSON line (the `--json` output).
fn print_json(value: serde_json::Value) {
    println!("{value}");
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `meshara-dht put`.
pub(crate) async fn put(args: PutArgs, progress: Progress) -> Result<Outcome, CliError> {
    if args.value.len() > MAX_VALUE_SIZE {
        return Err(CliError::ValueTooLarge {
            len: args.value.len(),
            max: MAX_VALUE_SIZE,
        });
    }
    let signed = if args.mutable {
        Some(sign_for_put(&args)?)
    } else {
        None
    };
    let dht = connect(&args.net, progress).await?;
    let record = match &signed {
        Some(record) => Record::Mutable(record.clone()),
        None => Record::Immutable(
            meshara_dht::record::ImmutableRecord::new(args.value.clone().into_bytes())
                .map_err(meshara_dht::error::DhtError::from)?,
        ),
    };
    let (outcome, stats, wall) =
        query(&dht, QueryRequest::Put(record), "storing", progress).await?;
    dht.shutdown().await;
    let QueryOutcome::Put {
        key,
        stored,
        refused,
        failed,
    } = outcome
    else {
        return Err(meshara_dht::error::DhtError::Shutdown.into());
    };
    if stored == 0 {
        return Err(match refused.first() {
            Some(&reason) => CliError::Refused {
                reason,
                refused: refused.len(),
                failed,
            },
            None => meshara_dht::error::DhtError::NotStored { refused, failed }.into(),
        });
    }
    if args.net.json {
        let mut out = json!({
            "key": key.to_string(),
            "mutable": args.mutable,
            "stored": stored,
            "cost": cost_json(&stats, wall),
        });
        if let (Some(record), Some(map)) = (&signed, out.as_object_mut()) {
            map.insert("seq".into(), json!(record.seq));
            map.insert("salt".into(), json!(args.salt.clone().unwrap_or_default()));
            map.insert(
                "public_key".into(),
                json!(public_key_hex(&record.public_key)),
            );
        }
        print_json(out);
    } else {
        println!("key {key}");
        if let Some(record) = &signed {
            println!(
                "signed by {} (seq {})",
                public_key_hex(&record.public_key),
                record.seq
            );
        }
        println!("stored on {stored} nodes ({})", cost(&stats, wall));
    }
    Ok(Outcome::Done)
}

/// The signed record for `put --mutable`, signed by the key file.
fn sign_for_put(args: &PutArgs) -> Result<SignedRecord, CliError> {
    let key_file = match &args.key_file {
        Some(path) => path.clone(),
        None => {
            let dir = bootstrap::state_dir(args.net.state_dir.as_deref())?;
            bootstrap::create_state_dir(&dir)?;
            dir.join(CLIENT_KEY_FILE)
        }
    };
    let (identity, created) = Identity::load_or_generate(&key_file, &mut rand::rngs::OsRng)?;
    if created {
        eprintln!("created key file {}", key_file.display());
    }
    let salt = args.salt.clone().unwrap_or_default().into_bytes();
    let seq = args.seq.unwrap_or_else(unix_ms);
    Ok(SignedRecord::sign_ed25519(
        identity.signing_key(),
        salt,
        seq,
        args.value.clone().into_bytes(),
    )
    .map_err(meshara_dht::error::DhtError::from)?)
}

/// `meshara-dht get`.
pub(crate) async fn get(args: GetArgs, progress: Progress) -> Result<Outcome, CliError> {
    let dht = connect(&args.net, progress).await?;
    let request = if args.mutable {
        QueryRequest::GetMutable(args.key)
    } else {
        QueryRequest::GetImmutable(args.key)
    };
    let (outcome, stats, wall) = query(&dht, request, "looking up", progress).await?;
    dht.shutdown().await;
    let record = match outcome {
        QueryOutcome::Get { record, .. } => record,
        _ => None,
    };
    let record = match (record, args.mutable) {
        (Some(r @ Record::Immutable(_)), false) | (Some(r @ Record::Mutable(_)), true) => r,
        _ => return not_found(args.key, args.net.json, &stats, wall),
    };
    let value = record.value();
    if args.net.json {
        let mut out = json!({
            "key": args.key.to_string(),
            "found": true,
            "value": std::str::from_utf8(value).ok(),
            "value_hex": hex(value),
            "cost": cost_json(&stats, wall),
        });
        if let (Record::Mutable(r), Some(map)) = (&record, out.as_object_mut()) {
            map.insert("seq".into(), json!(r.seq));
            map.insert("salt_hex".into(), json!(hex(&r.salt)));
            map.insert("public_key".into(), json!(public_key_hex(&r.public_key)));
        }
        print_json(out);
    } else {
        if let Record::Mutable(r) = &record {
            println!(
                "signed by {} (seq {})",
                public_key_hex(&r.public_key),
                r.seq
            );
        }
        println!("{}", value_text(value));
    }
    Ok(Outcome::Done)
}

fn not_found(
    key: Key,
    json: bool,
    stats: &QueryStats,
    wall: Duration,
) -> Result<Outcome, CliError> {
    if json {
        print_json(json!({
            "key": key.to_string(),
            "found": false,
            "cost": cost_json(stats, wall),
        }));
    }
    eprintln!("not found: no node has a record under {key}");
    Ok(Outcome::NotFound)
}

/// `meshara-dht find-node`.
pub(crate) async fn find_node(args: FindNodeArgs, progress: Progress) -> Result<Outcome, CliError> {
    let dht = connect(&args.net, progress).await?;
    let (outcome, stats, wall) = query(
        &dht,
        QueryRequest::FindNode(args.id),
        "looking up",
        progress,
    )
    .await?;
    dht.shutdown().await;
    let closest: Vec<Contact> = match outcome {
        QueryOutcome::FindNode { closest } => closest,
        _ => Vec::new(),
    };
    if args.net.json {
        let list: Vec<_> = closest
            .iter()
            .map(|c| json!({ "id": c.id.to_string(), "addr": c.addr.to_string() }))
            .collect();
        print_json(json!({
            "target": args.id.to_string(),
            "closest": list,
            "cost": cost_json(&stats, wall),
        }));
    } else {
        println!(
            "{} nodes closest to {} ({}):",
            closest.len(),
            args.id,
            cost(&stats, wall)
        );
        for c in &closest {
            println!("{} {}", c.id, c.addr);
        }
    }
    Ok(Outcome::Done)
}

/// `meshara-dht find-peer`.
pub(crate) async fn find_peer(args: FindPeerArgs, progress: Progress) -> Result<Outcome, CliError> {
    let dht = connect(&args.net, progress).await?;
    let (outcome, stats, wall) = query(
        &dht,
        QueryRequest::GetMutable(args.id),
        "looking up",
        progress,
    )
    .await?;
    dht.shutdown().await;
    let record = match outcome {
        QueryOutcome::Get {
            record: Some(Record::Mutable(r)),
            ..
        } => r,
        _ => return not_found(args.id, args.net.json, &stats, wall),
    };
    let advert = NodeAdvert::from_record(args.id, &record)?;
    if args.net.json {
        print_json(json!({
            "id": args.id.to_string(),
            "found": true,
            "addr": advert.addr.to_string(),
            "advertised_at_ms": advert.advertised_at_ms,
            "cost": cost_json(&stats, wall),
        }));
    } else {
        let age_s = unix_ms().saturating_sub(advert.advertised_at_ms) / 1000;
        println!(
            "{} is at {} (advertised {age_s} s ago; {})",
            args.id,
            advert.addr,
            cost(&stats, wall)
        );
    }
    Ok(Outcome::Done)
}
