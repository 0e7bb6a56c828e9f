//! Tests of the join: what a bootstrap reports, whom it reaches, and which
//! buckets it refreshes after its self-lookup.

use super::*;

#[test]
fn bootstrap_populates_both_tables() {
    let mut net = Net::new(2, Config::local());
    let boot = net.addrs[0];
    let q = net.nodes[1].start_bootstrap(net.now, vec![boot]);
    let (outcome, _) = net.wait(1, q);
    assert_eq!(
        outcome,
        QueryOutcome::Bootstrap {
            reached: 1,
            table_size: 1
        }
    );
    net.settle();
    // The bootstrap node learned of the newcomer through a key proof.
    assert!(net.nodes[0].routing_table().contains(&net.nodes[1].id()));
    assert!(net.nodes[1].routing_table().contains(&net.nodes[0].id()));
    assert!(net.nodes[0].stats().key_proofs_verified >= 1);
}

#[test]
fn bootstrap_fills_tables_across_twenty_nodes() {
    let mut net = Net::bootstrapped(20, Config::local());
    net.settle();
    for (i, node) in net.nodes.iter().enumerate() {
        assert!(
            node.routing_table().len() >= 10,
            "node {i} knows only {} contacts",
            node.routing_table().len()
        );
    }
}

#[test]
fn bootstrap_with_unreachable_address_reports_zero_reached() {
    let mut net = Net::new(2, Config::local());
    net.online[0] = false;
    let boot = net.addrs[0];
    let q = net.nodes[1].start_bootstrap(net.now, vec![boot]);
    let (outcome, _) = net.wait(1, q);
    assert_eq!(
        outcome,
        QueryOutcome::Bootstrap {
            reached: 0,
            table_size: 0
        }
    );
}

/// Joins nodes `1..n` through node 0, one after the other, with `config`.
fn joined(n: usize, config: Config) -> Net {
    let mut net = Net::new(n, config);
    for i in 1..n {
        let boot = net.addrs[0];
        let now = net.now;
        let q = net.nodes[i].start_bootstrap(now, vec![boot]);
        net.wait(i, q);
    }
    net.settle();
    net
}

/// The self-lookup finds every node nearer than its k-th result, so the
/// buckets wholly inside that radius are complete: the join refreshes
/// only the buckets from the k-th result's bucket outwards (never one
/// nearer than the closest neighbour), fewer than "every bucket beyond
/// the closest neighbour" did, and still knows every node of the buckets
/// it skipped.
#[test]
fn bootstrap_refreshes_only_buckets_beyond_the_self_lookups_radius() {
    let k = 4;
    let config = Config {
        k,
        ..Config::local()
    };
    let n = 40;
    let net = joined(n, config);
    let mut skipped_some = 0;
    for joiner in n / 2..n {
        let id = net.nodes[joiner].id();
        // Brute force over the nodes that were there when it joined.
        let mut buckets: Vec<usize> = net.nodes[..joiner]
            .iter()
            .filter_map(|node| id.bucket_index(&node.id()))
            .collect();
        buckets.sort_unstable();
        let (nearest, kth) = (buckets[0], buckets[k - 1]);
        // Refreshes are one query per bucket from the first refreshed one
        // to the last; the bootstrap query itself is the other one.
        let refreshes = net.nodes[joiner].stats().queries_started - 1;
        let first_refreshed = crate::id::ID_BITS - refreshes as usize;
        assert!(
            first_refreshed >= (nearest + 1).max(kth),
            "joiner {joiner}: refreshed from bucket {first_refreshed}, nearest {nearest}, k-th {kth}"
        );
        if first_refreshed > nearest + 1 {
            skipped_some += 1;
        }
        // Every node of a skipped bucket made it into the table.
        let table = net.nodes[joiner].routing_table();
        for node in &net.nodes[..joiner] {
            if id
                .bucket_index(&node.id())
                .is_some_and(|b| b < first_refreshed)
            {
                assert!(
                    table.contains(&node.id()),
                    "joiner {joiner} misses a node of a skipped bucket"
                );
            }
        }
    }
    assert!(
        skipped_some >= 5,
        "only {skipped_some} joiners skipped a bucket"
    );
}
