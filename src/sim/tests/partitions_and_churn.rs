//! Partitions isolate groups until they heal; departed nodes receive
//! nothing and joiners bootstrap.

use super::*;

#[test]
fn a_partition_isolates_groups_until_it_heals() {
    let mut sim = base();
    sim.partition(2, Duration::from_secs(120));
    let during = sim.run_lookups(60);
    assert!(sim.network_stats().partitioned > 0);
    assert!(sim.partition_group(0).is_some());
    // Lookups only reach their own half of the network.
    assert!(during.recall_mean.unwrap_or(1.0) < 0.8, "{during}");
    sim.run_for(Duration::from_secs(120));
    assert_eq!(sim.partition_group(0), None);
    let blocked = sim.network_stats().partitioned;
    let after = sim.run_lookups(60);
    assert_eq!(sim.network_stats().partitioned, blocked);
    assert!(after.recall_mean.unwrap_or(0.0) > during.recall_mean.unwrap_or(1.0));
}

#[test]
fn departed_nodes_receive_nothing_and_joiners_bootstrap() {
    let mut sim = base();
    assert!(sim.remove_node(5, false));
    assert!(!sim.remove_node(5, true));
    assert!(sim.node(5).is_none());
    let slot = sim.join_node();
    assert_eq!(slot, 1_000);
    sim.run_for(Duration::from_secs(30));
    let joined = sim.node(slot).expect("live");
    assert!(joined.routing_table().len() >= 20);
    assert_eq!(sim.live_nodes(), 1_000);
    // Lookups toward the departed node's id route around it.
    let s = sim.run_lookups(30);
    assert_eq!(s.success_rate, 1.0, "{s}");
    assert!(sim.network_stats().to_departed > 0);
}
