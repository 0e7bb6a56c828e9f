//! The JSON form of a [`Summary`]: every field documented in
//! docs/TESTING.md is there.

use super::*;

#[test]
fn summary_json_has_every_documented_field() {
    let mut sim = network(40, 17);
    let s = sim.run_lookups(10);
    let json = s.to_json();
    for field in [
        "nodes",
        "lookups",
        "kind",
        "seed",
        "loss",
        "hops_p50",
        "hops_p90",
        "hops_p99",
        "hops_max",
        "hops_mean",
        "msgs_p50",
        "msgs_p90",
        "msgs_p99",
        "msgs_max",
        "msgs_mean",
        "latency_p50_ms",
        "latency_p90_ms",
        "latency_p99_ms",
        "latency_max_ms",
        "success_rate",
        "recall_mean",
        "timed_out",
        "abandoned",
        "unfinished",
        "nodes_left",
        "nodes_joined",
        "hop_histogram",
        "datagrams",
        "virtual_s",
        "wall_s",
        "bootstrap_wall_s",
        "peak_rss_mb",
        "peak_rss_per_node_kb",
        "rss_mb",
        "rss_per_node_kb",
    ] {
        assert!(json.contains(&format!("\"{field}\":")), "{field} in {json}");
    }
    assert!(json.starts_with("{\"nodes\":40,\"lookups\":10,\"kind\":\"find_node\""));
    assert!(json.ends_with('}') && !json.contains('\n'));
    let text = s.to_string();
    assert!(text.contains("hops histogram:") && text.contains("success 100.00%"));
}
