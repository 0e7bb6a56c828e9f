//! Property: on random synthetic networks (1 to 250 nodes, any mix of
//! dead, refusing, slow, lying and duplicating peers, any k and alpha) every
//! lookup terminates within its step limit, queries each peer once, never
//! the local node, and returns exactly the k closest peers that answered.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::synth::{drive, random_lookup, Behaviour, Peers, SynthNet};
use crate::id::NodeId;
use crate::lookup::LookupParams;

/// Contacts per table bucket and per answer, whatever the lookup's own k.
const K: usize = 20;

fn behaviour_from(roll: u32, live_percent: u32) -> Behaviour {
    if roll < live_percent {
        return Behaviour::Live;
    }
    match roll % 5 {
        0 => Behaviour::Dead,
        1 => Behaviour::Refuses,
        2 => Behaviour::Slow,
        3 => Behaviour::Liar,
        _ => Behaviour::Duplicates,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn lookup_always_terminates_and_keeps_its_invariants(
        n in 1usize..250,
        k in 1usize..=20,
        alpha in 1usize..=5,
        live_percent in prop_oneof![Just(100u32), 0u32..=100],
        stale_percent in 0u64..=100,
        seed in any::<u64>(),
    ) {
        // Tables and answers hold up to K = 20 contacts whatever the
        // lookup's own k.
        let net = SynthNet::new(n, K, seed);
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        let peers = Peers {
            who: (0..net.len())
                .map(|_| behaviour_from(rng.gen_range(0..100), live_percent))
                .collect(),
            stale_percent,
        };
        let (from, target) = random_lookup(&net, &mut rng);
        // Every queried peer yields at most two events; peers are the
        // nodes plus the liars' inventions (k per liar answer).
        let limit = 2 * (net.len() + net.len() * k) + 2;
        let params = LookupParams { k, alpha };
        let out = drive(&net, from, target, params, &peers, seed, limit);

        prop_assert!(out.steps <= limit);
        prop_assert_eq!(out.messages as usize, out.queried.len());
        prop_assert!(out.max_active_before_fan_out <= alpha);
        prop_assert!(!out.queried.contains(&net.ids[from as usize]));
        prop_assert!(out.closest.len() <= k);
        let distances: Vec<_> = out.closest.iter().map(|id| target.distance(id)).collect();
        prop_assert!(distances.windows(2).all(|w| w[0] < w[1]));
        // The result is exactly the k closest of the peers that answered.
        let mut answered: Vec<NodeId> = out.answered.iter().copied().collect();
        answered.sort_by_key(|id| target.distance(id));
        answered.truncate(k);
        prop_assert_eq!(&out.closest, &answered);
        if live_percent == 100 {
            let expected = net.brute_force(&target, k, |i| i != from);
            prop_assert_eq!(&out.closest, &expected);
        }
    }
}
