//! Attacks on records and routing tables in the simulator, each against
//! real engines with asserted bounds (the measured figures with a margin,
//! docs/SECURITY.md "Attacks on records and tables"):
//!
//! - forged and replayed STOREs to the holders of signed records;
//! - a STORE flood from many ids behind one /24 (per-IP quota, full store);
//! - an eclipse attempt with ids ground near a target, from two /24s
//!   (`hostile_eclipse.rs`).
//!
//! Attackers' requests are built by hand ([`Simulation::send_forged`]);
//! their tokens are the real ones the honest nodes handed their IPs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::id::Key;
use crate::identity::Identity;
use crate::record::{ImmutableRecord, Record, SignedRecord};
use crate::routing::subnet_key;
use crate::wire::{Request, Token};

/// Honest slots whose store holds a record under `key`.
fn holders(sim: &Simulation, key: &Key) -> Vec<usize> {
    let now = sim.now();
    honest(sim)
        .into_iter()
        .filter(|&s| {
            sim.node(s)
                .is_some_and(|n| n.store().get(now, key).is_some())
        })
        .collect()
}

#[test]
fn placed_nodes_share_a_subnet_and_are_reached_at_their_placed_address() {
    let mut sim = Simulation::new(SimConfig::new(10, 3)).expect("valid config");
    let (a, b) = (subnet_addr(5, 1, 0), subnet_addr(5, 1, 1));
    assert_eq!(a.to_string(), "99.0.5.1:6881");
    assert_eq!(b.to_string(), "99.0.5.1:6882");
    assert_eq!(subnet_key(a.ip()), subnet_key(subnet_addr(5, 200, 0).ip()));
    assert!(!crate::routing::is_local_address(a.ip()));
    let sa = sim
        .join_node_at(Identity::from_seed(1_001), a)
        .expect("free");
    assert_eq!(
        sim.join_node_at(Identity::from_seed(1_002), a),
        None,
        "taken"
    );
    let default = node_addr(sim.slots());
    assert_eq!(sim.join_node_at(Identity::from_seed(1_003), default), None);
    let sb = sim
        .join_node_at(Identity::from_seed(1_004), b)
        .expect("free");
    assert_eq!((sim.addr_of(sa), sim.addr_of(sb)), (a, b));
    assert_eq!((sim.slot_at(&a), sim.slot_at(&b)), (Some(sa), Some(sb)));
    assert_eq!(sim.slot_at(&node_addr(sa)), None);
    assert_eq!(sim.slot_at(&node_addr(0)), Some(0));
    sim.run_for(Duration::from_secs(10));
    // Both joined through the protocol and sit in tables at their address.
    for (slot, addr) in [(sa, a), (sb, b)] {
        let id = sim.ids[slot];
        let known = (0..10)
            .filter_map(|s| {
                sim.node(s)?
                    .routing_table()
                    .get(&id)
                    .map(|e| e.contact.addr)
            })
            .collect::<Vec<_>>();
        assert!(
            !known.is_empty() && known.iter().all(|x| *x == addr),
            "{known:?}"
        );
    }
    assert_eq!(sim.network_stats().unroutable, 0);
}

/// `(stores_accepted, stores_refused)` of every slot.
fn store_counters(sim: &Simulation) -> HashMap<usize, (u64, u64)> {
    sim.live_slots()
        .filter_map(|s| {
            let st = sim.node(s)?.stats();
            Some((s, (st.stores_accepted, st.stores_refused)))
        })
        .collect()
}

/// Change of `(accepted, refused)` at `slot` since `before`.
fn store_delta(sim: &Simulation, before: &HashMap<usize, (u64, u64)>, slot: usize) -> (u64, u64) {
    let (a0, r0) = before.get(&slot).copied().unwrap_or_default();
    let st = sim.node(slot).map(|n| n.stats()).unwrap_or_default();
    (st.stores_accepted - a0, st.stores_refused - r0)
}

/// STORE tokens for attackers: one attacker per IP asks every slot in
/// `targets` a FIND_NODE (a token is bound to the IP, so the ids sharing
/// an IP share it, and one answer per IP keeps within the byte budget an
/// unverified IP gets). Returns the token each target handed each IP.
fn collect_tokens(
    sim: &mut Simulation,
    attackers: &[usize],
    targets: &[usize],
) -> HashMap<(IpAddr, usize), Token> {
    let mut askers: Vec<usize> = Vec::new();
    for &a in attackers {
        if !askers
            .iter()
            .any(|&b| sim.addr_of(b).ip() == sim.addr_of(a).ip())
        {
            askers.push(a);
        }
    }
    for &a in &askers {
        for &t in targets {
            let target = sim.ids[t];
            assert!(sim.send_forged(
                a,
                t,
                Request::FindNode {
                    target,
                    challenge: None
                },
                Duration::ZERO
            ));
        }
    }
    sim.run_for(Duration::from_secs(3));
    let mut tokens = HashMap::new();
    for &a in &askers {
        for &t in targets {
            let token = sim.sniffed_token(a, t).expect("token handed out");
            tokens.insert((sim.addr_of(a).ip(), t), token);
        }
    }
    tokens
}

#[test]
fn forged_and_replayed_stores_neither_overwrite_nor_roll_back_signed_records() {
    let mut sim = published();
    // Gets below are of the signed records only.
    sim.published.clear();
    // Four honest nodes publish their own contact record (key = node id)
    // in three versions.
    let owners: Vec<usize> = unpinned(&sim).into_iter().take(4).collect();
    let mut versions: Vec<Vec<SignedRecord>> = Vec::new();
    for &owner in &owners {
        let signing = sim
            .node(owner)
            .expect("live")
            .identity()
            .signing_key()
            .clone();
        let mut recs = Vec::new();
        for seq in 1..=3 {
            let value = format!("contact of slot {owner}, version {seq}");
            let r = SignedRecord::sign_ed25519(&signing, Bytes::new(), seq, value).expect("signs");
            assert_eq!(r.key(), sim.ids[owner]);
            let stored = sim.publish_record(owner, signed(r.clone()));
            assert!(stored.is_some_and(|n| n >= 15), "{stored:?}");
            recs.push(r);
        }
        versions.push(recs);
    }
    // A fifth of the nodes turn malicious and collude (they hide the
    // records they hold); ten of them also forge and replay STOREs.
    let count = sim.live_nodes() / 5;
    assert_eq!(sim.make_malicious(count, Misbehaviour::Collude), count);
    let attackers: Vec<usize> = (0..sim.slots())
        .filter(|&s| sim.is_malicious(s))
        .take(10)
        .collect();
    let attacker = Identity::from_seed(0xbad5);
    let mut plan: Vec<(usize, Record, bool)> = Vec::new(); // (target, record, expect refusal)
    let mut holder_sets = Vec::new();
    for recs in &versions {
        let newest = &recs[2];
        let key = newest.key();
        let holding = holders(&sim, &key);
        assert!(holding.len() >= 12, "{} honest holders", holding.len());
        for &h in &holding {
            let got = sim
                .node(h)
                .and_then(|n| n.store().get(sim.now(), &key).cloned());
            assert_eq!(got, Some(signed(newest.clone())), "holder {h}");
        }
        // Wrong signature: the owner's key, a higher seq, signed by another key.
        let mut hijack = newest.clone();
        hijack.seq = 4;
        hijack.value = Bytes::from_static(b"hijacked contact");
        hijack.signature = attacker.sign(&SignedRecord::signing_message(&key, 4, &hijack.value));
        // The newest signature reused on a bumped sequence number.
        let mut bumped = newest.clone();
        bumped.seq = u64::MAX;
        for h in &holding {
            for r in [
                hijack.clone(),
                bumped.clone(),
                recs[1].clone(),
                recs[0].clone(),
            ] {
                plan.push((*h, signed(r), true));
            }
        }
        // Replays of version 1 to the ten honest nodes closest to the key
        // that do not hold it: they cannot know better and accept it.
        let mut others: Vec<usize> = honest(&sim)
            .into_iter()
            .filter(|s| !holding.contains(s))
            .collect();
        others.sort_by_key(|&s| sim.ids[s].distance(&key));
        for &o in others.iter().take(10) {
            plan.push((o, signed(recs[0].clone()), false));
        }
        holder_sets.push(holding);
    }
    let mut targets: Vec<usize> = plan.iter().map(|p| p.0).collect();
    targets.sort_unstable();
    targets.dedup();
    let tokens = collect_tokens(&mut sim, &attackers, &targets);
    let before = store_counters(&sim);
    let mut expected: HashMap<usize, (u64, u64)> = HashMap::new();
    for (i, &a) in attackers.iter().enumerate() {
        for (j, (t, record, refused)) in plan.iter().enumerate() {
            let token = tokens[&(sim.addr_of(a).ip(), *t)];
            let after = Duration::from_millis(((i * plan.len() + j) % 200) as u64 * 10);
            let store = Request::Store {
                token,
                record: record.clone(),
            };
            assert!(sim.send_forged(a, *t, store, after));
            let e = expected.entry(*t).or_default();
            if *refused {
                e.1 += 1;
            } else {
                e.0 += 1;
            }
        }
    }
    sim.run_for(Duration::from_secs(5));

    // Every forged or replayed STORE to a holder was refused, for the
    // right reason; every replay to a non-holder was accepted.
    for (t, (accepted, refused)) in &expected {
        assert_eq!(
            store_delta(&sim, &before, *t),
            (*accepted, *refused),
            "slot {t}"
        );
    }
    let answers = sim.store_answers();
    let to_holders: u64 = holder_sets.iter().map(|h| h.len() as u64).sum();
    let a = attackers.len() as u64;
    assert_eq!(answers.bad_signature, 2 * a * to_holders, "{answers:?}");
    assert_eq!(
        answers.sequence_not_newer,
        2 * a * to_holders,
        "{answers:?}"
    );
    assert_eq!(answers.stored, a * 10 * owners.len() as u64, "{answers:?}");
    assert_eq!(
        answers.invalid_token + answers.other_refusal,
        0,
        "{answers:?}"
    );
    // The holders still hold the newest version.
    for (recs, holding) in versions.iter().zip(&holder_sets) {
        for &h in holding {
            let got = sim
                .node(h)
                .and_then(|n| n.store().get(sim.now(), &recs[2].key()).cloned());
            assert_eq!(got, Some(signed(recs[2].clone())), "holder {h}");
        }
    }
    // Honest readers get the newest version: a get keeps the highest valid
    // sequence it sees, so neither the colluders' silence nor the replayed
    // version 1 wins. Measured: 1.000 with one path and with four.
    for paths in [1, 4] {
        sim.set_get_paths(Some(paths));
        let gets = sim.run_gets(100);
        println!(
            "signed records, 20% colluding + forged/replayed STOREs, paths {paths}: \
             get success {:.3}, {answers:?}",
            gets.success_rate
        );
        assert_eq!(gets.lookups, 100);
        assert!(gets.success_rate >= 0.98, "paths {paths}: {gets}");
    }
}

/// Junk immutable records for a flood: distinct values, so distinct keys.
fn junk(attacker: usize, victim: usize, i: usize) -> Record {
    let value = format!("junk from {attacker} to {victim}, number {i}");
    Record::Immutable(ImmutableRecord::new(value.into_bytes()).expect("small value"))
}

/// `count` attacker ids joined at `ips` IPs of shared /24 number `subnet`
/// (ids spread round-robin over the IPs, one port each), then run for 20 s
/// so that they bootstrap. Returns their slots, which answer honestly.
fn join_flooders(sim: &mut Simulation, subnet: u16, ips: usize, count: usize) -> Vec<usize> {
    let mut slots = Vec::with_capacity(count);
    for i in 0..count {
        let host = u8::try_from(i % ips + 1).expect("under 255 IPs");
        let port = u16::try_from(i / ips).expect("few ports");
        let identity =
            Identity::from_seed(0x000f_100d_0000 + u64::from(subnet) * 10_000 + i as u64);
        let slot = sim.join_node_at(identity, subnet_addr(subnet, host, port));
        slots.push(slot.expect("free shared address"));
    }
    sim.run_for(Duration::from_secs(20));
    assert_eq!(
        sim.make_malicious_slots(&slots, Misbehaviour::AnswerHonestly),
        count
    );
    slots
}

/// The `n` honest nodes holding the most records, most first.
fn busiest(sim: &Simulation, n: usize) -> Vec<usize> {
    let mut slots = honest(sim);
    slots.sort_by_key(|&s| std::cmp::Reverse(sim.node(s).map_or(0, |x| x.store().len())));
    slots.truncate(n);
    slots
}

/// The keys `slot` stores.
fn stored_keys(sim: &Simulation, slot: usize) -> Vec<Key> {
    let now = sim.now();
    let mut keys: Vec<Key> = sim
        .node(slot)
        .map(|n| n.store().records(now).map(|(k, _)| *k).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    keys
}

/// Every attacker in `attackers` sends `per_victim` junk STOREs to every
/// victim, 100 ms apart per attacker (under the per-IP request rate of
/// the IPs they share), then the network runs until they arrived.
fn flood(sim: &mut Simulation, attackers: &[usize], victims: &[usize], per_victim: usize) {
    let tokens = collect_tokens(sim, attackers, victims);
    for &a in attackers {
        for &v in victims {
            let token = tokens[&(sim.addr_of(a).ip(), v)];
            for i in 0..per_victim {
                let store = Request::Store {
                    token,
                    record: junk(a, v, i),
                };
                let after = Duration::from_millis(100 * i as u64);
                assert!(sim.send_forged(a, v, store, after));
            }
        }
    }
    let spread = Duration::from_millis(100 * per_victim as u64);
    sim.run_for(spread + Duration::from_secs(3));
}

#[test]
fn a_store_flood_from_one_subnet_is_held_to_the_per_ip_quota() {
    let mut sim = published();
    let victims = busiest(&sim, 8);
    let honest_keys: Vec<Vec<Key>> = victims.iter().map(|&v| stored_keys(&sim, v)).collect();
    assert!(honest_keys.iter().all(|k| k.len() >= 4), "{honest_keys:?}");
    // 64 ids on 4 IPs of one /24 (16 ports per IP).
    let attackers = join_flooders(&mut sim, 1, 4, 64);
    let before = store_counters(&sim);
    // 16 ids x 20 = 320 STOREs per IP and victim, over the 256 quota.
    flood(&mut sim, &attackers, &victims, 20);

    let quota = sim.config().node.max_records_per_ip as u64;
    let ips: Vec<IpAddr> = (1..=4).map(|h| subnet_addr(1, h, 0).ip()).collect();
    for (&v, keys) in victims.iter().zip(&honest_keys) {
        let store = sim.node(v).expect("live").store();
        for ip in &ips {
            assert_eq!(store.quota_used(*ip) as u64, quota, "victim {v}, {ip}");
        }
        // Exactly the quota of each IP was accepted, the rest refused.
        assert_eq!(
            store_delta(&sim, &before, v),
            (4 * quota, 4 * (320 - quota)),
            "victim {v}"
        );
        // Nothing honest was pushed out.
        let now_keys = stored_keys(&sim, v);
        assert!(keys.iter().all(|k| now_keys.contains(k)), "victim {v}");
    }
    let answers = sim.store_answers();
    let n = victims.len() as u64;
    assert_eq!(answers.stored, n * 4 * quota, "{answers:?}");
    assert_eq!(answers.quota_exceeded, n * 4 * (320 - quota), "{answers:?}");
    assert_eq!(answers.store_full + answers.invalid_token, 0, "{answers:?}");
    // Honest records stay retrievable. Measured: 1.000.
    let gets = sim.run_gets(200);
    println!(
        "store flood, 64 ids on 4 IPs of one /24 at {n} victims: {answers:?}; get success {:.3}",
        gets.success_rate
    );
    assert_eq!(gets.success_rate, 1.0, "{gets}");
}

#[test]
fn a_full_store_refuses_a_subnet_flood_and_keeps_its_honest_records() {
    // A small network whose stores hold 300 records: 16 IPs of one /24
    // stay under their 256-record quota each but fill the victims' stores.
    let mut cfg = SimConfig::new(120, 33);
    cfg.node.max_records = 300;
    let mut sim = Simulation::new(cfg).expect("valid config");
    let put = sim.publish_records(30);
    assert_eq!((put.records, put.abandoned), (30, 0));
    let victims = busiest(&sim, 5);
    let honest_keys: Vec<Vec<Key>> = victims.iter().map(|&v| stored_keys(&sim, v)).collect();
    let attackers = join_flooders(&mut sim, 2, 16, 32);
    let before = store_counters(&sim);
    // 32 ids x 25 = 800 STOREs per victim, 50 per IP.
    flood(&mut sim, &attackers, &victims, 25);

    let mut stored_total = 0;
    for (&v, keys) in victims.iter().zip(&honest_keys) {
        let store = sim.node(v).expect("live").store();
        assert_eq!(store.len(), 300, "victim {v}");
        let room = 300 - keys.len() as u64;
        assert_eq!(
            store_delta(&sim, &before, v),
            (room, 800 - room),
            "victim {v}"
        );
        stored_total += room;
        let now_keys = stored_keys(&sim, v);
        assert!(keys.iter().all(|k| now_keys.contains(k)), "victim {v}");
    }
    let answers = sim.store_answers();
    assert_eq!(answers.stored, stored_total, "{answers:?}");
    assert_eq!(answers.store_full, 5 * 800 - stored_total, "{answers:?}");
    assert_eq!(answers.quota_exceeded, 0, "{answers:?}");
    // Old honest records stay retrievable. Measured: 1.000.
    let gets = sim.run_gets(100);
    assert_eq!(gets.success_rate, 1.0, "{gets}");
    // A new honest record still finds room on the nodes that are not full.
    let fresh = sim.publish_records(5);
    println!(
        "full-store flood, 32 ids on 16 IPs of one /24 at 5 victims: {answers:?}; \
         old-record get success {:.3}; new records stored on min {} mean {:.1} nodes",
        gets.success_rate, fresh.stored_min, fresh.stored_mean
    );
    assert!(fresh.stored_min >= 15, "{fresh:?}");
}
