//! Unit tests of the adapter's pure parts (record formats and checks) and
//! of the maintenance schedule against a fake node under paused time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use super::*;
use crate::identity::Identity;
use crate::record::{meshara_record_key, MesharaPublicKey, RecordPublicKey, Refusal, SignedRecord};
use crate::wire::Signature;

const NOW: u64 = 1_764_000_000_000;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn contact_of(signer: &KeySigner, at: u64) -> ContactInfo {
    ContactInfo::new(
        vec![addr("192.0.2.1:7000"), addr("[2001:db8::1]:7000")],
        signer.public_key(),
        at,
    )
    .unwrap()
}

fn signed(signer: &KeySigner, at: u64) -> (ContactInfo, SignedRecord) {
    let info = contact_of(signer, at);
    let record = sign_contact(signer, CONTACT_SALT, &info).unwrap();
    (info, record)
}

#[test]
fn key_signer_ids_follow_meshara_rule() {
    let s = KeySigner::from_seed(1);
    let pk = s.public_key();
    assert_eq!(s.meshara_id(), *blake3::hash(&pk).as_bytes());
    assert_eq!(KeySigner::from_seed(1).public_key(), pk);
    assert_ne!(KeySigner::from_seed(2).public_key(), pk);
    let sig = s.sign(b"msg");
    assert!(verify_meshara_signature(&pk, b"msg", &sig));
    assert!(!verify_meshara_signature(&pk, b"other", &sig));
}

#[test]
fn contact_record_lives_under_the_meshara_id_key() {
    let s = KeySigner::from_seed(1);
    let (info, record) = signed(&s, NOW);
    let id = s.meshara_id();
    assert_eq!(record.key(), contact_key(&id));
    assert_eq!(record.key(), meshara_record_key(&id, b"contact"));
    assert_eq!(record.seq, NOW);
    assert_ne!(contact_key(&id), authority_key(&id));
    let back = verify_contact(&record, &id, CONTACT_SALT, NOW + 1, &Freshness::default());
    assert_eq!(back, Ok(info.clone()));
    assert_eq!(ContactInfo::decode(&info.encode().unwrap()), Ok(info));
}

#[test]
fn contact_needs_one_to_eight_addresses() {
    let pk = KeySigner::from_seed(1).public_key();
    assert_eq!(
        ContactInfo::new(vec![], pk, 1),
        Err(ContactError::NoAddress)
    );
    let many = vec![addr("192.0.2.1:1"); MAX_ADDRESSES + 1];
    assert_eq!(
        ContactInfo::new(many, pk, 1),
        Err(ContactError::TooManyAddresses(9))
    );
    let eight_v6 = vec![addr("[2001:db8::1:2:3:4]:65535"); MAX_ADDRESSES];
    let s = KeySigner::from_seed(1);
    let info = ContactInfo::new(eight_v6, pk, u64::MAX).unwrap();
    assert!(sign_contact(&s, CONTACT_SALT, &info).is_ok());
}

#[test]
fn verify_refuses_a_record_looked_up_under_another_id() {
    let a = KeySigner::from_seed(1);
    let b = KeySigner::from_seed(2);
    let (_, record) = signed(&a, NOW);
    let f = Freshness::default();
    assert_eq!(
        verify_contact(&record, &b.meshara_id(), CONTACT_SALT, NOW, &f),
        Err(ContactError::WrongKey)
    );
    assert_eq!(
        verify_contact(&record, &a.meshara_id(), AUTHORITY_SALT, NOW, &f),
        Err(ContactError::WrongKey)
    );
}

#[test]
fn verify_refuses_a_signature_by_anyone_else() {
    let a = KeySigner::from_seed(1);
    let mallory = KeySigner::from_seed(66);
    // Claims A's key and id, signed by Mallory.
    let info = ContactInfo::new(vec![addr("203.0.113.66:1")], a.public_key(), NOW).unwrap();
    let key = meshara_record_key(&a.meshara_id(), CONTACT_SALT);
    let value = info.encode().unwrap();
    let forged = SignedRecord {
        public_key: RecordPublicKey::Meshara(MesharaPublicKey(a.public_key())),
        salt: Bytes::from_static(CONTACT_SALT),
        seq: NOW,
        signature: Signature(mallory.sign(&SignedRecord::signing_message(&key, NOW, &value))),
        value: value.into(),
    };
    assert_eq!(
        verify_contact(
            &forged,
            &a.meshara_id(),
            CONTACT_SALT,
            NOW,
            &Freshness::default()
        ),
        Err(ContactError::Record(Refusal::BadSignature))
    );
    // Nor can Mallory sign A's contact through the signing helper.
    assert_eq!(
        sign_contact(&mallory, CONTACT_SALT, &info),
        Err(ContactError::KeyMismatch)
    );
}

#[test]
fn verify_refuses_a_contact_naming_another_key_than_its_signer() {
    let a = KeySigner::from_seed(1);
    let mallory = KeySigner::from_seed(66);
    // Mallory's own record, but its value claims A's key.
    let info = ContactInfo::new(vec![addr("203.0.113.66:1")], a.public_key(), NOW).unwrap();
    let record = SignedRecord::sign_with(
        RecordPublicKey::Meshara(MesharaPublicKey(mallory.public_key())),
        CONTACT_SALT,
        NOW,
        info.encode().unwrap(),
        |m| mallory.sign(m),
    )
    .unwrap();
    let f = Freshness::default();
    assert_eq!(
        verify_contact(&record, &mallory.meshara_id(), CONTACT_SALT, NOW, &f),
        Err(ContactError::KeyMismatch)
    );
    // And under A's id it is simply not A's record.
    assert_eq!(
        verify_contact(&record, &a.meshara_id(), CONTACT_SALT, NOW, &f),
        Err(ContactError::WrongKey)
    );
}

#[test]
fn verify_refuses_other_schemes_bad_values_and_sequence_tricks() {
    let a = KeySigner::from_seed(1);
    let f = Freshness::default();
    // An ed25519-scheme record (a DHT identity) under A's id: wrong key.
    let dht = Identity::from_seed(5);
    let r = SignedRecord::sign_ed25519(dht.signing_key(), CONTACT_SALT, NOW, &b"x"[..]).unwrap();
    assert_eq!(
        verify_contact(&r, &a.meshara_id(), CONTACT_SALT, NOW, &f),
        Err(ContactError::WrongKey)
    );
    let sign = |seq: u64, value: Vec<u8>| {
        SignedRecord::sign_with(
            RecordPublicKey::Meshara(MesharaPublicKey(a.public_key())),
            CONTACT_SALT,
            seq,
            value,
            |m| a.sign(m),
        )
        .unwrap()
    };
    let info = contact_of(&a, NOW);
    let mut long = info.encode().unwrap();
    long.push(0);
    assert_eq!(
        verify_contact(&sign(NOW, long), &a.meshara_id(), CONTACT_SALT, NOW, &f),
        Err(ContactError::TrailingBytes(1))
    );
    assert!(matches!(
        verify_contact(
            &sign(NOW, vec![1, 2, 3]),
            &a.meshara_id(),
            CONTACT_SALT,
            NOW,
            &f
        ),
        Err(ContactError::Malformed(_))
    ));
    // A sequence above the timestamp would let an old contact outrank a
    // newer one: refused.
    let r = sign(NOW + 5, info.encode().unwrap());
    assert_eq!(
        verify_contact(&r, &a.meshara_id(), CONTACT_SALT, NOW, &f),
        Err(ContactError::SequenceMismatch {
            seq: NOW + 5,
            advertised_at: NOW
        })
    );
    let empty = ContactInfo {
        addresses: vec![],
        ..info
    };
    assert_eq!(
        verify_contact(
            &sign(NOW, empty.encode().unwrap()),
            &a.meshara_id(),
            CONTACT_SALT,
            NOW,
            &f
        ),
        Err(ContactError::NoAddress)
    );
}

#[test]
fn verify_refuses_stale_and_future_contacts() {
    let a = KeySigner::from_seed(1);
    let id = a.meshara_id();
    let f = Freshness {
        max_age: Duration::from_secs(7200),
        max_clock_skew: Duration::from_secs(600),
    };
    let (info, record) = signed(&a, NOW);
    let two_hours = 7_200_000;
    assert_eq!(
        verify_contact(&record, &id, CONTACT_SALT, NOW + two_hours, &f),
        Ok(info)
    );
    assert_eq!(
        verify_contact(&record, &id, CONTACT_SALT, NOW + two_hours + 1, &f),
        Err(ContactError::Stale {
            advertised_at: NOW,
            now: NOW + two_hours + 1
        })
    );
    assert!(verify_contact(&record, &id, CONTACT_SALT, NOW - 600_000, &f).is_ok());
    assert_eq!(
        verify_contact(&record, &id, CONTACT_SALT, NOW - 600_001, &f),
        Err(ContactError::FromTheFuture {
            advertised_at: NOW,
            now: NOW - 600_001
        })
    );
}

#[test]
fn binding_verifies_only_for_the_dht_node_it_names() {
    let m = KeySigner::from_seed(1);
    let dht = Identity::from_seed(5);
    let other = Identity::from_seed(6);
    let binding = MesharaBinding::sign(&m, &dht.node_id());
    assert_eq!(binding.verify(&dht.node_id()), Ok(m.meshara_id()));
    assert_eq!(
        binding.verify(&other.node_id()),
        Err(ContactError::BadBinding)
    );
    let record = SignedRecord::sign_ed25519(
        dht.signing_key(),
        Bytes::new(),
        1,
        binding.encode().unwrap(),
    )
    .unwrap();
    assert_eq!(record.key(), dht.node_id());
    assert_eq!(
        MesharaBinding::from_record(&record, &dht.node_id()),
        Ok(binding.clone())
    );
    // Another DHT node republishing the same binding under its own key:
    // the Meshara signature names the first node, so it does not verify.
    let copied = SignedRecord::sign_ed25519(
        other.signing_key(),
        Bytes::new(),
        1,
        binding.encode().unwrap(),
    )
    .unwrap();
    assert_eq!(
        MesharaBinding::from_record(&copied, &other.node_id()),
        Err(ContactError::BadBinding)
    );
    assert_eq!(
        MesharaBinding::from_record(&copied, &dht.node_id()),
        Err(ContactError::WrongKey)
    );
}

#[test]
fn content_keys_are_domain_separated() {
    let h = [9u8; 32];
    assert_eq!(
        content_key(&h),
        crate::id::Key::sha1_parts(&[b"meshara-dht/v1/content", &h])
    );
    assert_ne!(content_key(&h), crate::id::Key::sha1(&h));
}

#[test]
fn backoff_doubles_and_is_capped() {
    let c = MaintenanceConfig {
        retry_initial: Duration::from_secs(5),
        retry_max: Duration::from_secs(30),
        ..MaintenanceConfig::default()
    };
    let got: Vec<u64> = (1..=6).map(|n| c.backoff(n).as_secs()).collect();
    assert_eq!(got, [5, 10, 20, 30, 30, 30]);
    assert_eq!(c.backoff(u32::MAX), Duration::from_secs(30));
}

// ----- the maintenance schedule, against a fake node ---------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Advertise(Vec<SocketAddr>),
    Bootstrap,
}

/// Records every call with its (virtual) time since `start`; fails the
/// first `fail_*` calls of each kind.
#[derive(Clone)]
struct FakeNode {
    start: Instant,
    calls: Arc<Mutex<Vec<(Duration, Call, bool)>>>,
    fail_advertise: Arc<AtomicU32>,
    fail_bootstrap: Arc<AtomicU32>,
}

impl FakeNode {
    fn new(fail_advertise: u32, fail_bootstrap: u32) -> Self {
        FakeNode {
            start: Instant::now(),
            calls: Arc::default(),
            fail_advertise: Arc::new(AtomicU32::new(fail_advertise)),
            fail_bootstrap: Arc::new(AtomicU32::new(fail_bootstrap)),
        }
    }

    fn record(&self, call: Call, budget: &AtomicU32) -> Result<(), &'static str> {
        let fail = budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        self.calls
            .lock()
            .unwrap()
            .push((self.start.elapsed(), call, !fail));
        if fail {
            Err("scripted failure")
        } else {
            Ok(())
        }
    }

    /// (seconds since start, succeeded) of the calls of one kind.
    fn times(&self, advertise: bool) -> Vec<(u64, bool)> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, c, _)| matches!(c, Call::Advertise(_)) == advertise)
            .map(|(t, _, ok)| (t.as_secs(), *ok))
            .collect()
    }

    fn advertised(&self) -> Vec<(u64, Vec<SocketAddr>)> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(t, c, _)| match c {
                Call::Advertise(a) => Some((t.as_secs(), a.clone())),
                Call::Bootstrap => None,
            })
            .collect()
    }
}

impl Maintain for FakeNode {
    type Error = &'static str;

    async fn advertise(&self, addresses: &[SocketAddr]) -> Result<(), &'static str> {
        self.record(Call::Advertise(addresses.to_vec()), &self.fail_advertise)
    }

    async fn bootstrap(&self) -> Result<(), &'static str> {
        self.record(Call::Bootstrap, &self.fail_bootstrap)
    }
}

fn seeded() -> MaintenanceConfig {
    MaintenanceConfig {
        seed: Some(7),
        ..MaintenanceConfig::default()
    }
}

const MIN: u64 = 60;

#[tokio::test(start_paused = true)]
async fn maintenance_readvertises_hourly_with_jitter_and_bootstraps_every_five_minutes() {
    let fake = FakeNode::new(0, 0);
    let (_tx, rx) = watch::channel(vec![addr("192.0.2.1:7000")]);
    let handle = spawn_maintenance(fake.clone(), rx, seeded());
    // Just short of three hours: bootstraps at 0, 5, ..., 175 min.
    tokio::time::sleep(Duration::from_secs(179 * MIN)).await;
    let boots = fake.times(false);
    assert_eq!(boots.len(), 36);
    assert!(boots
        .iter()
        .enumerate()
        .all(|(i, (t, ok))| *t == i as u64 * 5 * MIN && *ok));
    // Three intervals of 54..=66 min end by 198 min; a fourth not before 216.
    tokio::time::sleep(Duration::from_secs(23 * MIN)).await;
    let ads = fake.times(true);
    assert_eq!(ads.len(), 4, "{ads:?}");
    assert_eq!(ads[0], (0, true));
    let gaps: Vec<u64> = ads.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(
        gaps.iter().all(|g| (54 * MIN..=66 * MIN).contains(g)),
        "{gaps:?}"
    );
    assert!(gaps.windows(2).any(|w| w[0] != w[1]), "no jitter: {gaps:?}");
    assert_eq!(fake.times(false).len(), 40 + 1);
    drop(handle);
}

#[tokio::test(start_paused = true)]
async fn maintenance_backs_off_exponentially_up_to_the_cap() {
    let fake = FakeNode::new(6, 2);
    let (_tx, rx) = watch::channel(vec![addr("192.0.2.1:7000")]);
    let config = MaintenanceConfig {
        retry_initial: Duration::from_secs(5),
        retry_max: Duration::from_secs(30),
        ..seeded()
    };
    let _handle = spawn_maintenance(fake.clone(), rx, config);
    tokio::time::sleep(Duration::from_secs(200)).await;
    assert_eq!(
        fake.times(true),
        [
            (0, false),
            (5, false),
            (15, false),
            (35, false),
            (65, false),
            (95, false),
            (125, true)
        ]
    );
    // Bootstrap: fails at 0 and 5, succeeds at 15, next at 15 + 300.
    assert_eq!(fake.times(false)[..3], [(0, false), (5, false), (15, true)]);
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(fake.times(false)[3], (315, true));
}

#[tokio::test(start_paused = true)]
async fn maintenance_readvertises_at_once_when_addresses_change() {
    let fake = FakeNode::new(0, 0);
    let (tx, rx) = watch::channel(vec![]);
    let _handle = spawn_maintenance(fake.clone(), rx, seeded());
    tokio::time::sleep(Duration::from_secs(60)).await;
    // Nothing to advertise while no address is known.
    assert!(fake.advertised().is_empty());
    tx.send_replace(vec![addr("192.0.2.1:7000")]);
    tokio::time::sleep(Duration::from_secs(10 * MIN)).await;
    tx.send_replace(vec![addr("198.51.100.2:7000")]);
    tokio::time::sleep(Duration::from_secs(MIN)).await;
    // The same addresses again: no new advertisement.
    tx.send_replace(vec![addr("198.51.100.2:7000")]);
    tokio::time::sleep(Duration::from_secs(MIN)).await;
    assert_eq!(
        fake.advertised(),
        [
            (60, vec![addr("192.0.2.1:7000")]),
            (660, vec![addr("198.51.100.2:7000")])
        ]
    );
    // The hourly schedule restarts from the change.
    tokio::time::sleep(Duration::from_secs(70 * MIN)).await;
    let ads = fake.advertised();
    assert_eq!(ads.len(), 3);
    assert!((660 + 54 * MIN..=660 + 66 * MIN).contains(&ads[2].0));
}

#[tokio::test(start_paused = true)]
async fn cancelled_or_dropped_maintenance_stops() {
    let fake = FakeNode::new(0, 0);
    let (_tx, rx) = watch::channel(vec![addr("192.0.2.1:7000")]);
    let handle = spawn_maintenance(fake.clone(), rx.clone(), seeded());
    tokio::time::sleep(Duration::from_secs(MIN)).await;
    handle.cancel();
    tokio::time::sleep(Duration::from_secs(MIN)).await;
    assert!(handle.is_finished());
    let before = fake.calls.lock().unwrap().len();
    assert_eq!(before, 2);
    tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
    assert_eq!(fake.calls.lock().unwrap().len(), before);

    let other = FakeNode::new(0, 0);
    drop(spawn_maintenance(other.clone(), rx, seeded()));
    tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
    // Dropped before it ever ran.
    assert_eq!(other.calls.lock().unwrap().len(), 0);
}
