//! Record validity: key derivation, size limits and signature checks for
//! immutable, ed25519-scheme and Meshara-scheme records.

use bytes::Bytes;
use ed25519_dalek::{Verifier, VerifyingKey};
use meshara_dht::identity::Identity;
use meshara_dht::record::{
    meshara_record_key, ImmutableRecord, MesharaPublicKey, Record, RecordPublicKey, Refusal,
    SignedRecord,
};
use meshara_dht::wire::{self, Body, Message, Request, Signature, MAX_SALT_SIZE, MAX_VALUE_SIZE};
use meshara_dht::{Key, NodeId};
use proptest::prelude::*;

/// 32 bytes that do not decode to an ed25519 point: y = 2 has no x on
/// the curve.
const NOT_A_POINT: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 2;
    b
};

/// The identity point (y = 1), of order 1: with `R` = identity and
/// `s` = 0, the cofactorless equation holds for every message.
const IDENTITY_POINT: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
};

/// A signature that "verifies" for [`IDENTITY_POINT`] under lax checking.
fn forged_small_order_signature() -> [u8; 64] {
    let mut sig = [0u8; 64];
    sig[0] = 1;
    sig
}

/// A Meshara public key: `identity`'s ed25519 key, then `x25519`.
fn meshara_key(identity: &Identity, x25519: [u8; 32]) -> MesharaPublicKey {
    let mut pk = [0u8; 64];
    pk[..32].copy_from_slice(&identity.public_key());
    pk[32..].copy_from_slice(&x25519);
    MesharaPublicKey(pk)
}

/// A Meshara-scheme record signed through the `sign_with` hook, the way a
/// Meshara node that only exposes `sign_message` would.
fn meshara_record(
    identity: &Identity,
    x25519: [u8; 32],
    salt: &'static [u8],
    seq: u64,
    value: &'static [u8],
) -> Result<SignedRecord, Refusal> {
    SignedRecord::sign_with(
        RecordPublicKey::Meshara(meshara_key(identity, x25519)),
        salt,
        seq,
        value,
        |msg| identity.sign(msg).0,
    )
}

fn ed25519_record(seed: u64, salt: &'static [u8], seq: u64, value: &'static [u8]) -> SignedRecord {
    SignedRecord::sign_ed25519(Identity::from_seed(seed).signing_key(), salt, seq, value)
        .expect("a well-formed record signs")
}

#[test]
fn immutable_key_is_sha1_of_the_value() {
    let record = ImmutableRecord::new(&b"hello dht"[..]).unwrap();
    assert_eq!(record.key(), Key::sha1(b"hello dht"));
    let record = Record::Immutable(record);
    assert_eq!(record.key(), Key::sha1(b"hello dht"));
    assert_eq!(record.seq(), 0);
    assert_eq!(record.verify(), Ok(()));
}

#[test]
fn immutable_value_over_the_limit_is_refused() {
    assert!(ImmutableRecord::new(vec![7u8; MAX_VALUE_SIZE]).is_ok());
    assert_eq!(
        ImmutableRecord::new(vec![7u8; MAX_VALUE_SIZE + 1]),
        Err(Refusal::TooLarge)
    );
    // Built directly (as a decoder would), it still fails verification.
    let record = Record::Immutable(ImmutableRecord {
        value: Bytes::from(vec![7u8; MAX_VALUE_SIZE + 1]),
    });
    assert_eq!(record.verify(), Err(Refusal::TooLarge));
}

#[test]
fn signed_record_verifies_and_lives_under_sha1_of_key_and_salt() {
    let identity = Identity::from_seed(1);
    let record = ed25519_record(1, b"contact", 3, b"203.0.113.7:4000");
    assert_eq!(record.verify(), Ok(()));
    assert_eq!(
        record.public_key,
        RecordPublicKey::Ed25519(identity.public_key())
    );
    assert_eq!(
        record.key(),
        Key::sha1_parts(&[&identity.public_key(), b"contact"])
    );
    let record = Record::Mutable(record);
    assert_eq!(record.verify(), Ok(()));
    assert_eq!(record.seq(), 3);
    assert_eq!(record.value().as_ref(), b"203.0.113.7:4000");
}

#[test]
fn empty_salt_key_is_the_signers_node_id() {
    let identity = Identity::from_seed(2);
    let record = ed25519_record(2, b"", 1, b"contact info");
    assert_eq!(record.key(), identity.node_id());
    assert_eq!(record.key(), NodeId::sha1(&identity.public_key()));
}

#[test]
fn signature_by_another_key_is_refused() {
    let victim = Identity::from_seed(3);
    let attacker = Identity::from_seed(4);
    let forged = SignedRecord::sign_with(
        RecordPublicKey::Ed25519(victim.public_key()),
        &b""[..],
        99,
        &b"attacker's address"[..],
        |msg| attacker.sign(msg).0,
    );
    assert_eq!(forged, Err(Refusal::BadSignature));
    // Nor does an all-zero signature pass.
    let mut record = ed25519_record(3, b"", 1, b"v");
    record.signature = Signature([0u8; 64]);
    assert_eq!(record.verify(), Err(Refusal::BadSignature));
}

#[test]
fn tampered_value_seq_or_salt_is_refused() {
    let record = ed25519_record(5, b"salt", 10, b"value");

    let mut tampered = record.clone();
    tampered.value = Bytes::from_static(b"valuf");
    assert_eq!(tampered.verify(), Err(Refusal::BadSignature));

    let mut tampered = record.clone();
    tampered.seq = 11;
    assert_eq!(tampered.verify(), Err(Refusal::BadSignature));

    let mut tampered = record.clone();
    tampered.salt = Bytes::from_static(b"salu");
    assert_eq!(tampered.verify(), Err(Refusal::BadSignature));

    let mut tampered = record;
    tampered.signature.0[0] ^= 0x01;
    assert_eq!(tampered.verify(), Err(Refusal::BadSignature));
}

#[test]
fn oversize_salt_or_value_is_refused() {
    let key = Identity::from_seed(6);
    let salt = vec![0u8; MAX_SALT_SIZE + 1];
    assert_eq!(
        SignedRecord::sign_ed25519(key.signing_key(), salt, 1, &b"v"[..]),
        Err(Refusal::TooLarge)
    );
    let value = vec![0u8; MAX_VALUE_SIZE + 1];
    assert_eq!(
        SignedRecord::sign_ed25519(key.signing_key(), &b""[..], 1, value.clone()),
        Err(Refusal::TooLarge)
    );
    let mut record = ed25519_record(6, b"", 1, b"v");
    record.value = Bytes::from(value);
    assert_eq!(record.verify(), Err(Refusal::TooLarge));
}

#[test]
fn public_key_that_is_not_a_point_is_refused() {
    assert!(VerifyingKey::from_bytes(&NOT_A_POINT).is_err());
    let mut record = ed25519_record(7, b"", 1, b"v");
    record.public_key = RecordPublicKey::Ed25519(NOT_A_POINT);
    assert_eq!(record.verify(), Err(Refusal::InvalidPublicKey));

    let mut pk = [9u8; 64];
    pk[..32].copy_from_slice(&NOT_A_POINT);
    let result = SignedRecord::sign_with(
        RecordPublicKey::Meshara(MesharaPublicKey(pk)),
        &b""[..],
        1,
        &b"v"[..],
        |_| [0u8; 64],
    );
    assert_eq!(result, Err(Refusal::InvalidPublicKey));
}

#[test]
fn small_order_public_key_is_refused_even_with_a_lax_forgery() {
    // The forgery passes ed25519's lax (cofactorless, non-strict) check...
    let lax = VerifyingKey::from_bytes(&IDENTITY_POINT).unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(&forged_small_order_signature());
    assert!(lax.verify(b"any message at all", &sig).is_ok());
    // ...but a record under that key is refused, so nobody can write
    // records under keys derived from it.
    let forged = SignedRecord::sign_with(
        RecordPublicKey::Ed25519(IDENTITY_POINT),
        &b""[..],
        1,
        &b"anyone could have written this"[..],
        |_| forged_small_order_signature(),
    );
    assert_eq!(forged, Err(Refusal::InvalidPublicKey));
}

#[test]
fn meshara_record_key_is_derived_from_the_meshara_id() {
    let identity = Identity::from_seed(8);
    let x25519 = [0x5a; 32];
    let record = meshara_record(&identity, x25519, b"", 1, b"192.0.2.1:7000").unwrap();
    assert_eq!(record.verify(), Ok(()));

    let pk = meshara_key(&identity, x25519);
    let meshara_id = *blake3::hash(&pk.0).as_bytes();
    assert_eq!(pk.meshara_id(), meshara_id);
    assert_eq!(pk.ed25519(), identity.public_key());
    assert_eq!(record.key(), meshara_record_key(&meshara_id, b""));
    // Not the key an ed25519-scheme record of the same signer uses.
    assert_ne!(record.key(), identity.node_id());

    let salted = meshara_record(&identity, x25519, b"authority", 1, b"v").unwrap();
    assert_eq!(salted.key(), meshara_record_key(&meshara_id, b"authority"));
    assert_ne!(salted.key(), record.key());
}

#[test]
fn meshara_record_cannot_move_to_another_meshara_id() {
    let identity = Identity::from_seed(9);
    let record = meshara_record(&identity, [1u8; 32], b"", 4, b"addr").unwrap();

    // Same ed25519 half, different x25519 half: a different Meshara id,
    // so a different storage key...
    let other = meshara_key(&identity, [2u8; 32]);
    assert_ne!(
        RecordPublicKey::Meshara(other).record_key(b""),
        record.key()
    );
    // ...and the signature, which covers the key, does not carry over.
    let mut moved = record;
    moved.public_key = RecordPublicKey::Meshara(other);
    assert_eq!(moved.verify(), Err(Refusal::BadSignature));
}

/// Round trip through the real codec, as a STORE request.
fn through_the_wire(record: SignedRecord) -> Record {
    let msg = Message {
        txid: 1,
        sender: NodeId::ZERO,
        body: Body::Request {
            read_only: false,
            request: Request::Store {
                token: [0u8; 8],
                record: Record::Mutable(record),
            },
        },
    };
    let bytes = wire::encode(&msg).expect("a maximal record fits in one datagram");
    match wire::decode(&bytes).expect("decodes").body {
        Body::Request {
            request: Request::Store { record, .. },
            ..
        } => record,
        other => panic!("decoded a different body: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ed25519_records_verify_for_any_value_salt_and_seq(
        seed in any::<u64>(),
        salt in proptest::collection::vec(any::<u8>(), 0..=MAX_SALT_SIZE),
        seq in any::<u64>(),
        value in proptest::collection::vec(any::<u8>(), 0..=MAX_VALUE_SIZE),
    ) {
        let identity = Identity::from_seed(seed);
        let record = SignedRecord::sign_ed25519(
            identity.signing_key(), salt.clone(), seq, value.clone(),
        ).unwrap();
        prop_assert_eq!(record.verify(), Ok(()));
        prop_assert_eq!(record.key(), Key::sha1_parts(&[&identity.public_key(), &salt]));
        let decoded = through_the_wire(record.clone());
        prop_assert_eq!(decoded.verify(), Ok(()));
        prop_assert_eq!(decoded, Record::Mutable(record.clone()));

        let mut bumped = record;
        bumped.seq = seq.wrapping_add(1);
        prop_assert_eq!(bumped.verify(), Err(Refusal::BadSignature));
    }

    #[test]
    fn meshara_records_verify_for_any_value_salt_and_seq(
        seed in any::<u64>(),
        x25519 in any::<[u8; 32]>(),
        salt in proptest::collection::vec(any::<u8>(), 0..=MAX_SALT_SIZE),
        seq in any::<u64>(),
        value in proptest::collection::vec(any::<u8>(), 0..=MAX_VALUE_SIZE),
    ) {
        let identity = Identity::from_seed(seed);
        let pk = meshara_key(&identity, x25519);
        let record = SignedRecord::sign_with(
            RecordPublicKey::Meshara(pk), salt.clone(), seq, value.clone(),
            |msg| identity.sign(msg).0,
        ).unwrap();
        prop_assert_eq!(record.verify(), Ok(()));
        prop_assert_eq!(record.key(), meshara_record_key(blake3::hash(&pk.0).as_bytes(), &salt));
        let decoded = through_the_wire(record.clone());
        prop_assert_eq!(decoded.verify(), Ok(()));
        prop_assert_eq!(decoded, Record::Mutable(record));
    }
}
