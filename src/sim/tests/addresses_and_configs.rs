//! The simulator's address plan (every node in its own /24, slots found
//! back from addresses) and the configs it refuses.

use super::*;

#[test]
fn addresses_map_to_slots_and_back() {
    for slot in [0, 1, 255, 256, 65_535, 65_536, 1_000_000, MAX_SIM_NODES - 1] {
        let addr = node_addr(slot);
        assert_eq!(slot_of(&addr), Some(slot), "{addr}");
        assert!(!crate::routing::is_local_address(addr.ip()), "{addr}");
    }
    assert_eq!(node_addr(0).to_string(), "11.0.1.1:6881");
    assert_eq!(node_addr(1).to_string(), "11.0.2.1:6881");
    // Every node has its own /24.
    assert_ne!(
        crate::routing::subnet_key(node_addr(7).ip()),
        crate::routing::subnet_key(node_addr(8).ip())
    );
    for other in [
        "11.0.1.2:6881",
        "11.0.1.1:6882",
        "10.0.1.1:6881",
        "[::1]:6881",
    ] {
        assert_eq!(slot_of(&other.parse().unwrap()), None, "{other}");
    }
}

#[test]
fn invalid_configs_are_refused() {
    let bad = |f: fn(&mut SimConfig)| {
        let mut c = SimConfig::new(10, 0);
        f(&mut c);
        Simulation::new(c).err()
    };
    assert_eq!(bad(|c| c.nodes = 0), Some(SimError::NoNodes));
    assert_eq!(
        bad(|c| c.link.loss = 1.5),
        Some(SimError::NotAProbability {
            field: "link.loss",
            value: 1.5
        })
    );
    assert_eq!(
        bad(|c| c.churn.joins_per_sec = -1.0),
        Some(SimError::NegativeRate {
            field: "churn.joins_per_sec",
            value: -1.0
        })
    );
    assert_eq!(
        bad(|c| {
            c.link.latency = LatencyDistribution::Uniform {
                min: Duration::from_millis(9),
                max: Duration::from_millis(1),
            }
        }),
        Some(SimError::LatencyOrder)
    );
    assert_eq!(
        bad(|c| c.bootstrap_contacts = 0),
        Some(SimError::Zero {
            field: "bootstrap_contacts"
        })
    );
}
