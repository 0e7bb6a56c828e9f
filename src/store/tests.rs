//! Unit tests of the record store: ordering of versions, caps, quotas,
//! expiry and provider records.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;

use super::*;
use crate::record::{ImmutableRecord, SignedRecord};
use crate::wire::{Signature, MAX_VALUE_SIZE};

const TTL: Duration = Duration::from_secs(100);
const PROVIDER_TTL: Duration = Duration::from_secs(60);

fn config() -> Config {
    Config {
        record_ttl: TTL,
        provider_ttl: PROVIDER_TTL,
        max_records: 1000,
        max_record_bytes: 1 << 20,
        max_records_per_ip: 100,
        max_providers_per_key: 20,
        ..Config::default()
    }
}

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
}

fn signed(seed: u8, seq: u64, value: &[u8]) -> Record {
    let sk = SigningKey::from_bytes(&[seed; 32]);
    match SignedRecord::sign_ed25519(&sk, &b""[..], seq, value.to_vec()) {
        Ok(r) => Record::Mutable(r),
        Err(e) => panic!("signing a valid record failed: {e}"),
    }
}

fn immutable(value: &[u8]) -> Record {
    match ImmutableRecord::new(value.to_vec()) {
        Ok(r) => Record::Immutable(r),
        Err(e) => panic!("a small immutable record was refused: {e}"),
    }
}

fn contact(n: u8, ip_byte: u8) -> Contact {
    Contact {
        id: NodeId::from_bytes([n; 20]),
        addr: SocketAddr::new(ip(ip_byte), 4000 + u16::from(n)),
    }
}

#[test]
fn store_accepts_new_record() {
    let now = Instant::now();
    let mut s = RecordStore::new(&config());
    let r = signed(1, 5, b"hello");
    assert_eq!(s.put(now, ip(1), r.clone()), Ok(PutOutcome::Stored));
    assert_eq!(s.get(now, &r.key()), Some(&r));
    assert_eq!(s.len(), 1);
    assert_eq!(s.bytes(), r.stored_size());
    assert_eq!(s.quota_used(ip(1)), 1);
    s.assert_consistent();
}

#[test]
fn store_rejects_lower_sequence() {
    let now = Instant::now();
    let mut s = RecordStore::new(&config());
    let new = signed(1, 5, b"v5");
    assert_eq!(s.put(now, ip(1), new.clone()), Ok(PutOutcome::Stored));
    assert_eq!(
        s.put(now, ip(1), signed(1, 4, b"v4")),
        Err(Refusal::SequenceNotNewer { stored: 5 })
    );
    assert_eq!(s.get(now, &new.key()), Some(&new));
    s.assert_consistent();
}

#[test]
fn store_rejects_equal_sequence_with_other_value() {
    let now = Instant::now();
    let mut s = RecordStore::new(&config());
    let first = signed(1, 5, b"first");
    assert_eq!(s.put(now, ip(1), first.clone()), Ok(PutOutcome::Stored));
    assert_eq!(
        s.put(now, ip(1), signed(1, 5, b"other")),
        Err(Refusal::SequenceNotNewer { stored: 5 })
    );
    assert_eq!(s.get(now, &first.key()), Some(&first));
    assert_eq!(s.bytes(), first.stored_size());
}

#[test]
fn store_refreshes_identical_record() {
    let t0 = Instant::now();
    let mut s = RecordStore::new(&config());
    let r = signed(1, 5, b"same");
    assert_eq!(s.put(t0, ip(1), r.clone()), Ok(PutOutcome::Stored));
    let t1 = t0 + TTL / 2;
    assert_eq!(s.put(t1, ip(1), r.clone()), Ok(PutOutcome::Refreshed));
    assert_eq!(s.len(), 1);
    assert_eq!(s.quota_used(ip(1)), 1);
    assert_eq!(s.record_expiry(&r.key()), Some(t1 + TTL));
    assert_eq!(s.next_expiry(), Some(t1 + TTL));
    // Alive past the first deadline, dead at the refreshed one.
    assert_eq!(s.get(t0 + TTL, &r.key()), Some(&r));
    assert_eq!(s.get(t1 + TTL, &r.key()), None);
    // Immutable records refresh the same way.
    let im = immutable(b"content");
    assert_eq!(s.put(t0, ip(1), im.clone()), Ok(PutOutcome::Stored));
    assert_eq!(s.put(t1, ip(1), im), Ok(PutOutcome::Refreshed));
    s.assert_consistent();
}

#[test]
fn store_accepts_higher_sequence() {
    let now = Instant::now();
    let mut s = RecordStore::new(&config());
    let old = signed(1, 5, b"old");
    let new = signed(1, 6, b"a longer new value");
    assert_eq!(s.put(now, ip(1), old), Ok(PutOutcome::Stored));
    assert_eq!(
        s.put(now, ip(1), new.clone()),
        Ok(PutOutcome::Replaced { old_seq: 5 })
    );
    assert_eq!(s.get(now, &new.key()), Some(&new));
    assert_eq!(s.len(), 1);
    assert_eq!(s.bytes(), new.stored_size());
    s.assert_consistent();
}

#[test]
fn replacement_from_other_ip_moves_the_charge() {
    let now = Instant::now();
    let mut s = RecordStore::new(&config());
    assert_eq!(
        s.put(now, ip(1), signed(1, 1, b"a")),
        Ok(PutOutcome::Stored)
    );
    assert_eq!(
        s.put(now, ip(2), signed(1, 2, b"b")),
        Ok(PutOutcome::Replaced { old_seq: 1 })
    );
    assert_eq!(s.quota_used(ip(1)), 0);
    assert_eq!(s.quota_used(ip(2)), 1);
    // A refresh from a third address moves it again.
    assert_eq!(
        s.put(now, ip(3), signed(1, 2, b"b")),
        Ok(PutOutcome::Refreshed)
    );
    assert_eq!(s.quota_used(ip(2)), 0);
    assert_eq!(s.quota_used(ip(3)), 1);
    let key = signed(1, 2, b"b").key();
    assert!(s.remove(&key).is_some());
    assert_eq!(s.quota_used(ip(3)), 0);
    assert_eq!(s.bytes(), 0);
    assert!(s.is_empty());
    s.assert_consistent();
}

#[test]
fn forged_signature_is_refused() {
    let now = Instant::now();
    let mut s = RecordStore::new(&config());
    let Record::Mutable(mut r) = signed(1, 5, b"genuine") else {
        panic!("signed() builds a mutable record");
    };
    r.value = bytes::Bytes::from_static(b"forged!");
    assert_eq!(
        s.put(now, ip(1), Record::Mutable(r.clone())),
        Err(Refusal::BadSignature)
    );
    r.signature = Signature([0; 64]);
    assert_eq!(
        s.put(now, ip(1), Record::Mutable(r)),
        Err(Refusal::BadSignature)
    );
    assert!(s.is_empty());
    assert_eq!(s.quota_used(ip(1)), 0);
}

#[test]
fn oversize_value_is_refused() {
    let now = Instant::now();
    let mut s = RecordStore::new(&config());
    let big = Record::Immutable(ImmutableRecord {
        value: vec![7u8; MAX_VALUE_SIZE + 1].into(),
    });
    assert_eq!(s.put(now, ip(1), big), Err(Refusal::TooLarge));
    let Record::Mutable(mut r) = signed(1, 1, b"x") else {
        panic!("signed() builds a mutable record");
    };
    r.value = vec![0u8; MAX_VALUE_SIZE + 1].into();
    assert_eq!(
        s.put(now, ip(1), Record::Mutable(r)),
        Err(Refusal::TooLarge)
    );
    assert!(s.is_empty());
    // The limit itself is fine.
    let max = immutable(&[7u8; MAX_VALUE_SIZE]);
    assert_eq!(s.put(now, ip(1), max), Ok(PutOutcome::Stored));
}

#[test]
fn record_expires_after_ttl() {
    let t0 = Instant::now();
    let mut s = RecordStore::new(&config());
    let r = immutable(b"short-lived");
    assert_eq!(s.put(t0, ip(1), r.clone()), Ok(PutOutcome::Stored));
    assert_eq!(s.next_expiry(), Some(t0 + TTL));
    let just_before = t0 + TTL - Duration::from_nanos(1);
    assert_eq!(s.get(just_before, &r.key()), Some(&r));
    assert_eq!(s.expire(just_before), 0);
    assert_eq!(s.get(t0 + TTL, &r.key()), None);
    assert_eq!(s.records(t0 + TTL).count(), 0);
    assert_eq!(s.len(), 1, "not purged before expire()");
    assert_eq!(s.expire(t0 + TTL), 1);
    assert_eq!(s.len(), 0);
    assert_eq!(s.bytes(), 0);
    assert_eq!(s.quota_used(ip(1)), 0);
    assert_eq!(s.next_expiry(), None);
    s.assert_consistent();
}

#[test]
fn expire_removes_exactly_the_records_due() {
    let t0 = Instant::now();
    let mut s = RecordStore::new(&config());
    // 50 records written one second apart, in a scrambled order.
    let mut keys = Vec::new();
    for i in 0..50u64 {
        let offset = (i * 37) % 50;
        let r = immutable(format!("record {offset}").as_bytes());
        let at = t0 + Duration::from_secs(offset);
        assert_eq!(s.put(at, ip(1), r.clone()), Ok(PutOutcome::Stored));
        keys.push((offset, r.key()));
    }
    keys.sort();
    // Expire at 10.5 s, 30 s, 49.5 s past the first deadline.
    let mut gone = 0;
    for cut in [10_500u64, 30_000, 49_500] {
        let now = t0 + TTL + Duration::from_millis(cut);
        let due = keys.iter().filter(|(o, _)| o * 1000 <= cut).count();
        assert_eq!(s.expire(now), due - gone);
        gone = due;
        for (offset, key) in &keys {
            assert_eq!(s.get(now, key).is_some(), offset * 1000 > cut);
        }
        assert_eq!(s.len(), 50 - gone);
        let next = keys.iter().find(|(o, _)| o * 1000 > cut).map(|(o, _)| *o);
        assert_eq!(
            s.next_expiry(),
            next.map(|o| t0 + TTL + Duration::from_secs(o))
        );
        s.assert_consistent();
    }
}

#[test]
fn store_full_refuses_without_evicting() {
    let now = Instant::now();
    let mut s = RecordStore::new(&Config {
        max_records: 3,
        ..config()
    });
    let stored: Vec<Record> = (0..3u8).map(|i| immutable(&[i; 10])).collect();
    for (i, r) in stored.iter().enumerate() {
        assert_eq!(s.put(now, ip(i as u8), r.clone()), Ok(PutOutcome::Stored));
    }
    assert_eq!(
        s.put(now, ip(9), immutable(b"one too many")),
        Err(Refusal::StoreFull)
    );
    // Providers count toward the same cap.
    assert_eq!(
        s.add_provider(now, Key::sha1(b"content"), contact(1, 9)),
        Err(Refusal::StoreFull)
    );
    for r in &stored {
        assert_eq!(s.get(now, &r.key()), Some(r));
    }
    assert_eq!(s.len(), 3);
    assert_eq!(s.quota_used(ip(9)), 0);
    // A replacement of a stored key still fits.
    assert_eq!(
        s.put(now, ip(1), signed(1, 1, b"a")),
        Err(Refusal::StoreFull)
    );
    assert!(s.remove(&stored[0].key()).is_some());
    assert_eq!(
        s.put(now, ip(1), signed(1, 1, b"a")),
        Ok(PutOutcome::Stored)
    );
    assert_eq!(
        s.put(now, ip(1), signed(1, 2, b"b")),
        Ok(PutOutcome::Replaced { old_seq: 1 })
    );
    // Once everything expired, the purge makes room.
    assert_eq!(
        s.put(now + TTL, ip(9), immutable(b"later")),
        Ok(PutOutcome::Stored)
    );
    assert_eq!(s.len(), 1);
    s.assert_consistent();
}

#[test]
fn byte_cap_refuses_without_evicting() {
    let now = Instant::now();
    let small = signed(1, 1, &[1; 100]);
    let cap = small.stored_size() + 500;
    let mut s = RecordStore::new(&Config {
        max_record_bytes: cap,
        ..config()
    });
    assert_eq!(s.put(now, ip(1), small.clone()), Ok(PutOutcome::Stored));
    assert_eq!(
        s.put(now, ip(2), immutable(&[2; 500])),
        Ok(PutOutcome::Stored)
    );
    assert_eq!(s.bytes(), cap);
    assert_eq!(
        s.put(now, ip(3), immutable(&[3; 1])),
        Err(Refusal::StoreFull)
    );
    // Growing the stored mutable record does not fit; keeping its size does.
    assert_eq!(
        s.put(now, ip(1), signed(1, 2, &[1; 101])),
        Err(Refusal::StoreFull)
    );
    assert_eq!(
        s.put(now, ip(1), signed(1, 2, &[9; 100])),
        Ok(PutOutcome::Replaced { old_seq: 1 })
    );
    assert_eq!(s.bytes(), cap);
    assert_eq!(s.len(), 2);
    s.assert_consistent();
}

#[test]
fn quota_exceeded_per_ip_while_other_ip_can_store() {
    let now = Instant::now();
    let mut s = RecordStore::new(&Config {
        max_records_per_ip: 2,
        ..config()
    });
    assert_eq!(s.put(now, ip(1), immutable(b"a")), Ok(PutOutcome::Stored));
    assert_eq!(
        s.add_provider(now, Key::sha1(b"x"), contact(7, 1)),
        Ok(PutOutcome::Stored)
    );
    assert_eq!(
        s.put(now, ip(1), immutable(b"b")),
        Err(Refusal::QuotaExceeded)
    );
    assert_eq!(
        s.add_provider(now, Key::sha1(b"y"), contact(8, 1)),
        Err(Refusal::QuotaExceeded)
    );
    // The IPv4-mapped form of the same address shares the quota.
    let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
    assert_eq!(
        s.put(now, mapped, immutable(b"b")),
        Err(Refusal::QuotaExceeded)
    );
    assert_eq!(s.put(now, ip(2), immutable(b"b")), Ok(PutOutcome::Stored));
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert_eq!(s.put(now, v6, immutable(b"c")), Ok(PutOutcome::Stored));
    // A refresh by the owner of a record is no new charge.
    assert_eq!(
        s.put(now, ip(1), immutable(b"a")),
        Ok(PutOutcome::Refreshed)
    );
    assert_eq!(s.quota_used(ip(1)), 2);
    s.assert_consistent();
}

#[test]
fn signed_record_displaces_immutable_squatter() {
    let now = Instant::now();
    let mut s = RecordStore::new(&config());
    let sk = SigningKey::from_bytes(&[4; 32]);
    // An immutable value equal to the public key has the same key as the
    // key holder's empty-salt record.
    let squatter = immutable(&sk.verifying_key().to_bytes());
    let genuine = signed(4, 0, b"mine");
    assert_eq!(squatter.key(), genuine.key());
    assert_eq!(s.put(now, ip(1), squatter.clone()), Ok(PutOutcome::Stored));
    assert_eq!(
        s.put(now, ip(2), genuine.clone()),
        Ok(PutOutcome::Replaced { old_seq: 0 })
    );
    assert_eq!(
        s.put(now, ip(1), squatter),
        Err(Refusal::SequenceNotNewer { stored: 0 })
    );
    assert_eq!(s.get(now, &genuine.key()), Some(&genuine));
    s.assert_consistent();
}

#[test]
fn providers_are_capped_per_key_without_eviction() {
    let now = Instant::now();
    let mut s = RecordStore::new(&Config {
        max_providers_per_key: 3,
        ..config()
    });
    let key = Key::sha1(b"content");
    for n in 1..=3 {
        assert_eq!(
            s.add_provider(now, key, contact(n, n)),
            Ok(PutOutcome::Stored)
        );
    }
    assert_eq!(
        s.add_provider(now, key, contact(4, 4)),
        Err(Refusal::QuotaExceeded)
    );
    // A known provider may still refresh, and another key is unaffected.
    assert_eq!(
        s.add_provider(now, key, contact(2, 2)),
        Ok(PutOutcome::Refreshed)
    );
    assert_eq!(
        s.add_provider(now, Key::sha1(b"other"), contact(4, 4)),
        Ok(PutOutcome::Stored)
    );
    assert_eq!(
        s.providers(now, &key),
        vec![contact(2, 2), contact(3, 3), contact(1, 1)]
    );
    assert_eq!(s.provider_count(), 4);
    assert_eq!(s.len(), 0);
    s.assert_consistent();
}

#[test]
fn provider_refresh_extends_expiry_and_updates_address() {
    let t0 = Instant::now();
    let mut s = RecordStore::new(&config());
    let key = Key::sha1(b"content");
    assert_eq!(
        s.add_provider(t0, key, contact(1, 1)),
        Ok(PutOutcome::Stored)
    );
    assert_eq!(
        s.add_provider(t0, key, contact(2, 2)),
        Ok(PutOutcome::Stored)
    );
    let t1 = t0 + PROVIDER_TTL / 2;
    let moved = contact(1, 5);
    assert_eq!(s.add_provider(t1, key, moved), Ok(PutOutcome::Refreshed));
    assert_eq!(s.provider_count(), 2);
    assert_eq!(s.quota_used(ip(1)), 0);
    assert_eq!(s.quota_used(ip(5)), 1);
    assert_eq!(s.providers(t1, &key), vec![moved, contact(2, 2)]);
    // Provider 2 expires at t0 + ttl, the refreshed provider 1 later.
    assert_eq!(s.providers(t0 + PROVIDER_TTL, &key), vec![moved]);
    assert_eq!(s.expire(t0 + PROVIDER_TTL), 1);
    assert_eq!(s.quota_used(ip(2)), 0);
    assert_eq!(s.next_expiry(), Some(t1 + PROVIDER_TTL));
    assert_eq!(s.expire(t1 + PROVIDER_TTL), 1);
    assert_eq!(s.providers(t1 + PROVIDER_TTL, &key), Vec::<Contact>::new());
    assert_eq!(s.provider_count(), 0);
    s.assert_consistent();
}

#[test]
fn providers_are_listed_most_recent_first_and_truncated() {
    let t0 = Instant::now();
    let mut s = RecordStore::new(&Config {
        max_providers_per_key: MAX_PROVIDERS + 5,
        ..config()
    });
    let key = Key::sha1(b"popular");
    let n = MAX_PROVIDERS as u8 + 5;
    for i in 0..n {
        let at = t0 + Duration::from_secs(u64::from(i));
        assert_eq!(
            s.add_provider(at, key, contact(i, i)),
            Ok(PutOutcome::Stored)
        );
    }
    let now = t0 + Duration::from_secs(u64::from(n));
    let expected: Vec<Contact> = (0..n)
        .rev()
        .take(MAX_PROVIDERS)
        .map(|i| contact(i, i))
        .collect();
    assert_eq!(s.providers(now, &key), expected);
    assert_eq!(
        s.providers(now, &Key::sha1(b"unknown")),
        Vec::<Contact>::new()
    );
}

#[test]
fn empty_store_allocates_nothing() {
    let s = RecordStore::new(&Config::default());
    assert_eq!(s.records.capacity(), 0);
    assert_eq!(s.providers.capacity(), 0);
    assert_eq!(s.quotas.capacity(), 0);
    assert_eq!(s.next_expiry(), None);
}

#[test]
fn store_gives_memory_back_after_mass_expiry() {
    let t0 = Instant::now();
    let mut s = RecordStore::new(&config());
    for i in 0..500u32 {
        assert_eq!(
            s.put(t0, ip((i % 5) as u8), immutable(&i.to_be_bytes())),
            Ok(PutOutcome::Stored)
        );
    }
    assert!(s.records.capacity() >= 500);
    assert_eq!(s.expire(t0 + TTL), 500);
    assert!(s.records.capacity() < 500);
    s.assert_consistent();
}

#[test]
fn huge_ttl_saturates_instead_of_panicking() {
    let now = Instant::now();
    let mut s = RecordStore::new(&Config {
        record_ttl: Duration::MAX,
        provider_ttl: Duration::MAX,
        ..config()
    });
    let r = immutable(b"forever");
    assert_eq!(s.put(now, ip(1), r.clone()), Ok(PutOutcome::Stored));
    assert_eq!(
        s.add_provider(now, r.key(), contact(1, 1)),
        Ok(PutOutcome::Stored)
    );
    let far = now + Duration::from_secs(1 << 40);
    assert_eq!(s.get(far, &r.key()), Some(&r));
    assert_eq!(s.providers(far, &r.key()), vec![contact(1, 1)]);
}
