//! The committed seed corpora (`fuzz/seeds/<target>/`), written from the
//! scenarios below in `arbitrary`'s format.
//!
//! - `seeds_decode_to_their_scenarios`: every seed decodes to exactly the
//!   scenario it was written from, and runs clean.
//! - `node_scenarios_reach_their_states`: the node scenarios get where they
//!   are meant to (a table, stored records, rate limiting, ...).
//! - `committed_seeds_are_current`: the files on disk are these bytes.
//! - `regenerate_seeds` (ignored): rewrites the files; run it after changing
//!   a scenario or an input type:
//!   `cd fuzz && cargo test --lib regenerate_seeds -- --ignored`.

mod impls;
mod node;

use std::fmt::Debug;
use std::path::PathBuf;

use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use meshara_dht::identity::Identity;
use meshara_dht::record::{ImmutableRecord, Record, SignedRecord};

use crate::routing_ops::{self as ro, AddrSpec as RoAddr, IdSpec as RoId, Op as RoOp};
use crate::seed::{to_bytes, Encode};
use crate::verify_record::{self as vr, KeySpec, Tamper};
use crate::{node_inputs, routing_ops, verify_record};

fn routing_seeds() -> Vec<(&'static str, ro::Input)> {
    let base = |k, cache, per_table, caps_on_local, ops| ro::Input {
        k,
        cache,
        max_failures: 2,
        per_bucket: 2,
        per_table,
        caps_on_local,
        local: [0x55; 20],
        ops,
    };
    let mut fill: Vec<RoOp> = (0..12)
        .map(|i| RoOp::Insert {
            id: RoId::Pool(i),
            addr: RoAddr::Home,
        })
        .collect();
    fill.extend([
        RoOp::Failure {
            id: RoId::Candidate,
        },
        RoOp::Failure {
            id: RoId::Candidate,
        },
        RoOp::Insert {
            id: RoId::Pool(20),
            addr: RoAddr::Home,
        },
        RoOp::ResolveEviction {
            id: RoId::Candidate,
            alive: false,
        },
        RoOp::Insert {
            id: RoId::Pool(24),
            addr: RoAddr::Home,
        },
        RoOp::ResolveEviction {
            id: RoId::Candidate,
            alive: true,
        },
        RoOp::Insert {
            id: RoId::Pool(3),
            addr: RoAddr::Pool { index: 5, port: 9 },
        },
        RoOp::Advance { millis: 1_000 },
        RoOp::Success { id: RoId::Pool(3) },
        RoOp::Closest {
            target: RoId::Raw([0xaa; 20]),
            n: 10,
        },
        RoOp::IdleBuckets { idle_secs: 0 },
        RoOp::TouchBucket { index: 159 },
        RoOp::TouchBucket { index: 200 },
        RoOp::Remove { id: RoId::Pool(0) },
        RoOp::Insert {
            id: RoId::Local,
            addr: RoAddr::Home,
        },
    ]);
    let mut subnets = Vec::new();
    for (i, bucket) in [150u8, 150, 150, 151, 152, 159, 159, 120]
        .into_iter()
        .enumerate()
    {
        let low = [i as u8 * 31; 20];
        subnets.push(RoOp::Insert {
            id: RoId::InBucket { bucket, low },
            addr: RoAddr::Pool {
                index: i as u8 % 4,
                port: 1,
            },
        });
        subnets.push(RoOp::Insert {
            id: RoId::InBucket {
                bucket,
                low: [i as u8 * 17 + 1; 20],
            },
            addr: RoAddr::V6 {
                ip: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, i as u8],
                port: 2,
            },
        });
    }
    subnets.push(RoOp::Closest {
        target: RoId::Local,
        n: 40,
    });
    subnets.push(RoOp::Insert {
        id: RoId::InBucket {
            bucket: 150,
            low: [0; 20],
        },
        addr: RoAddr::V4 {
            ip: [10, 0, 0, 1],
            port: 3,
        },
    });
    let churn = (0..16u8)
        .flat_map(|i| {
            [
                RoOp::Insert {
                    id: RoId::Pool(i),
                    addr: RoAddr::Home,
                },
                RoOp::Failure {
                    id: RoId::Pool(i / 2),
                },
                RoOp::Insert {
                    id: RoId::Pool(i / 2),
                    addr: RoAddr::Pool { index: i, port: 4 },
                },
                RoOp::Advance { millis: 250 },
            ]
        })
        .chain([
            RoOp::Closest {
                target: RoId::Pool(5),
                n: 3,
            },
            RoOp::IdleBuckets { idle_secs: 2 },
        ])
        .collect();
    vec![
        ("fill_evict", base(4, 2, 5, true, fill)),
        ("subnet_caps", base(3, 3, 4, true, subnets)),
        ("churn_k1", base(1, 0, 7, false, churn)),
    ]
}

fn verify_seeds() -> Vec<(&'static str, vr::Input)> {
    let id = Identity::from_seed(7000);
    let signed = SignedRecord::sign_ed25519(id.signing_key(), &b"salt"[..], 3, &b"value"[..])
        .map(Record::Mutable)
        .unwrap_or_else(|e| panic!("{e}"));
    let immutable = Record::Immutable(ImmutableRecord {
        value: b"immutable".to_vec().into(),
    });
    let postcard = |r: &Record| postcard::to_allocvec(r).unwrap_or_else(|e| panic!("{e}"));
    let sign = |meshara, tamper| vr::Input::Signed {
        signer: 1,
        meshara,
        salt: b"s".to_vec(),
        seq: 9,
        value: b"hello".to_vec(),
        tamper,
        position: 3,
        mask: 0x80,
    };
    vec![
        ("postcard_signed", vr::Input::Bytes(postcard(&signed))),
        ("postcard_immutable", vr::Input::Bytes(postcard(&immutable))),
        (
            "fields_known_key",
            vr::Input::Fields {
                key: KeySpec::Known(0),
                salt: Vec::new(),
                value: b"v".to_vec(),
                signature: [1; 32],
                signature_hi: [2; 32],
                seq: 1,
            },
        ),
        ("signed_seq_tamper", sign(None, Tamper::Seq { delta: 1 })),
        (
            "meshara_x25519_tamper",
            sign(Some([9; 32]), Tamper::X25519Byte { index: 4, mask: 1 }),
        ),
    ]
}

fn node_seeds() -> Vec<(&'static str, node_inputs::Input)> {
    vec![
        ("bootstrap", node::bootstrap()),
        ("serve", node::serve()),
        ("put_get", node::put_get()),
        ("hostile", node::hostile()),
        ("client", node::client()),
        ("amplify", node::amplify()),
    ]
}

/// Every seed as (target, file name, bytes).
fn all_seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, s) in node_seeds() {
        out.push(("node_inputs", name, to_bytes(&s)));
    }
    for (name, s) in verify_seeds() {
        out.push(("verify_record", name, to_bytes(&s)));
    }
    for (name, s) in routing_seeds() {
        out.push(("routing_ops", name, to_bytes(&s)));
    }
    out
}

/// Decodes `bytes` the way libFuzzer's `fuzz_target!` does and checks it is
/// `expected`.
fn decoded<'a, T: Arbitrary<'a> + Debug + Encode>(bytes: &'a [u8], expected: &T) -> T {
    let value = T::arbitrary_take_rest(Unstructured::new(bytes)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        format!("{value:?}"),
        format!("{expected:?}"),
        "seed decodes to something else"
    );
    value
}

fn seed_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target)
}

#[test]
fn seeds_decode_to_their_scenarios() {
    for (name, s) in node_seeds() {
        let bytes = to_bytes(&s);
        node_inputs::run(decoded(&bytes, &s));
        eprintln!("node_inputs/{name}: {} bytes", bytes.len());
    }
    for (_, s) in verify_seeds() {
        verify_record::run(decoded(&to_bytes(&s), &s));
    }
    for (_, s) in routing_seeds() {
        routing_ops::run(decoded(&to_bytes(&s), &s));
    }
}

#[test]
fn node_scenarios_reach_their_states() {
    let stats = |input| {
        let h = node_inputs::run_with(input);
        (
            h.node.stats(),
            h.node.routing_table().len(),
            h.node.store().len(),
            h.finished,
        )
    };
    let (s, table, _, _) = stats(node::bootstrap());
    assert!(
        s.key_proofs_verified >= 10 && table >= 8,
        "bootstrap: {s:?}, table {table}"
    );
    let (s, table, records, _) = stats(node::serve());
    assert!(
        s.stores_accepted >= 4 && s.stores_refused >= 3,
        "serve: {s:?}"
    );
    assert_eq!(
        (table, records),
        (1, 0),
        "serve: peer 1 proved its key; records expired"
    );
    let (s, _, records, finished) = stats(node::put_get());
    assert!(
        s.queries_started >= 10 && finished >= 6 && records >= 1,
        "put_get: {s:?}, {finished} finished, {records} records"
    );
    let (s, _, _, _) = stats(node::hostile());
    assert!(
        s.decode_errors >= 3
            && s.responses_unsolicited >= 2
            && s.requests_rate_limited >= 1
            && s.key_proofs_failed >= 2,
        "hostile: {s:?}"
    );
    let (s, table, _, _) = stats(node::amplify());
    assert!(table >= 20 && s.requests_served >= 120, "amplify: {s:?}, table {table}");
    let (s, table, _, _) = stats(node::client());
    assert!(
        s.requests_served == 0 && table >= 2,
        "client: {s:?}, table {table}"
    );
}

#[test]
fn committed_seeds_are_current() {
    for (target, name, bytes) in all_seeds() {
        let on_disk = std::fs::read(seed_dir(target).join(name)).unwrap_or_default();
        assert!(
            on_disk == bytes,
            "fuzz/seeds/{target}/{name} is stale: run `cargo test --lib regenerate_seeds -- --ignored`"
        );
    }
    for target in ["node_inputs", "verify_record", "routing_ops"] {
        let mut files: Vec<String> = std::fs::read_dir(seed_dir(target))
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        let mut expected: Vec<String> = all_seeds()
            .into_iter()
            .filter(|(t, _, _)| *t == target)
            .map(|(_, n, _)| n.to_string())
            .collect();
        expected.sort();
        assert_eq!(files, expected, "fuzz/seeds/{target} holds other files");
    }
}

#[test]
#[ignore = "writes fuzz/seeds; run explicitly"]
fn regenerate_seeds() {
    for target in ["node_inputs", "verify_record", "routing_ops"] {
        let dir = seed_dir(target);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    }
    for (target, name, bytes) in all_seeds() {
        std::fs::write(seed_dir(target).join(name), bytes).unwrap_or_else(|e| panic!("{e}"));
    }
}
