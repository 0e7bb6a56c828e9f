//! A real DHT network on loopback: starts N nodes (default 20) on
//! 127.0.0.1, bootstraps them, has every node publish a signed record and
//! fetches each from another node, printing what happened.
//!
//! ```sh
//! cargo run --release --example loopback -- 20
//! ```

use std::time::Instant;

use meshara_dht::node::QueryOutcome;
use meshara_dht::runtime::{QueryRequest, Testnet};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .map_err(|_| format!("not a node count: {arg:?}"))?,
        None => 20,
    };
    if n < 2 {
        return Err("need at least 2 nodes".into());
    }
    let started = Instant::now();
    let net = Testnet::new(n).await?;
    println!(
        "started and bootstrapped {n} nodes on loopback in {:.2?} (bootstrap node {})",
        started.elapsed(),
        net.bootstrap_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    let mut sizes = Vec::new();
    for node in &net.nodes {
        sizes.push(node.routing_table().await?.len());
    }
    sizes.sort_unstable();
    println!(
        "routing tables: min {} / median {} / max {} contacts",
        sizes[0],
        sizes[sizes.len() / 2],
        sizes[sizes.len() - 1]
    );

    let mut keys = Vec::new();
    for node in &net.nodes {
        let record = node.sign("", 1, format!("I am {}", node.local_addr()))?;
        keys.push(record.key());
        node.put_mutable(record).await?;
    }
    println!("{n} nodes published a signed record each");

    let (mut found, mut hops, mut msgs) = (0, Vec::new(), Vec::new());
    let t = Instant::now();
    for (i, key) in keys.iter().enumerate() {
        let reader = &net.nodes[(i + n / 2) % n];
        let (outcome, stats) = reader.query(QueryRequest::GetMutable(*key)).await?;
        if let QueryOutcome::Get {
            record: Some(r), ..
        } = outcome
        {
            if r.value() == format!("I am {}", net.nodes[i].local_addr()).as_bytes() {
                found += 1;
            }
        }
        hops.push(stats.hops);
        msgs.push(stats.messages);
    }
    hops.sort_unstable();
    msgs.sort_unstable();
    println!(
        "{found}/{n} records found by another node in {:.2?}; hops median {} max {}; messages median {}",
        t.elapsed(),
        hops[n / 2],
        hops[n - 1],
        msgs[n / 2]
    );
    let stats = net.nodes[0].stats().await?;
    println!(
        "bootstrap node: {} requests served, {} datagrams in, {} out, {} records stored",
        stats.node.requests_served,
        stats.node.datagrams_received,
        stats.node.datagrams_sent,
        stats.records_stored
    );
    net.shutdown().await;
    if found != n {
        return Err(format!("only {found} of {n} records found").into());
    }
    Ok(())
}
