//! Maps keyed by transaction id, hashed by the id itself.
//!
//! This module owns [`TxIdMap`] and the hasher behind it. A txid is 64
//! bits drawn by the engine's own RNG (`Node::new_txid`), so its bits
//! are already uniform and unknown to peers: hashing them again through
//! SipHash (the standard map's default, there to resist keys an attacker
//! picks) costs time and buys nothing. A peer can still send any txid in
//! a response, but that only looks a key up; it never inserts one, so it
//! cannot crowd the table's buckets. The maps are the per-request ones
//! every datagram touches (pending requests, retransmission groups), so
//! their hashing must cost next to nothing. It must never be used for keys
//! a peer chooses and inserts.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::wire::TxId;

/// A `HashMap` keyed by [`TxId`] that uses the id as its hash.
pub(super) type TxIdMap<V> = HashMap<TxId, V, BuildHasherDefault<TxIdHasher>>;

/// The hasher of [`TxIdMap`]: the hash of a `u64` key is the key.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct TxIdHasher(u64);

impl Hasher for TxIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    /// Only `u64` keys go through this hasher; anything else is folded in
    /// byte by byte (correct, merely not fast), so a change of key type
    /// cannot break the map.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The map behaves as a map whatever the keys, colliding ones
        /// included (keys equal in their low bits, the index bits).
        #[test]
        fn behaves_like_a_map(keys in proptest::collection::vec(any::<u16>(), 0..200), shift in 0u32..48) {
            let mut map: TxIdMap<usize> = TxIdMap::default();
            let mut reference = std::collections::BTreeMap::new();
            for (i, k) in keys.iter().enumerate() {
                let key = u64::from(*k) << shift;
                if i % 3 == 2 {
                    prop_assert_eq!(map.remove(&key), reference.remove(&key));
                } else {
                    prop_assert_eq!(map.insert(key, i), reference.insert(key, i));
                }
            }
            prop_assert_eq!(map.len(), reference.len());
            for (k, v) in &reference {
                prop_assert_eq!(map.get(k), Some(v));
            }
        }
    }

    #[test]
    fn the_hash_of_a_txid_is_the_txid() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<TxIdHasher>::default();
        assert_eq!(
            build.hash_one(0x0123_4567_89ab_cdef_u64),
            0x0123_4567_89ab_cdef
        );
    }
}
