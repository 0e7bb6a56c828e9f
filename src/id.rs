//! The 160-bit identifier space: [`NodeId`] (also used as a storage [`Key`]),
//! the XOR [`Distance`] between two ids, bucket indices, and the
//! [`IdParseError`] of an id's hex form.
//!
//! This module owns the metric and nothing else. It does no I/O, never
//! panics on any input, and draws randomness only from an RNG it is handed.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of an id in bytes (160 bits).
pub const ID_LEN: usize = 20;

/// Number of bits in an id, and so the number of k-buckets.
pub const ID_BITS: usize = ID_LEN * 8;

/// A 160-bit node identifier: `SHA-1(ed25519 public key)` for a node, or
/// the hash that names a stored record.
///
/// Ids compare as big-endian 160-bit unsigned integers. `Display` and
/// `FromStr` use 40 lowercase hex digits; serde uses that hex string in
/// human-readable formats (JSON) and the raw 20 bytes otherwise (postcard).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId([u8; ID_LEN]);

/// A storage key: the same 160-bit space as [`NodeId`], so a record lives on
/// the nodes whose ids are XOR-closest to its key.
pub type Key = NodeId;

impl NodeId {
    /// The all-zero id.
    pub const ZERO: NodeId = NodeId([0; ID_LEN]);

    /// Wraps raw bytes.
    pub const fn from_bytes(bytes: [u8; ID_LEN]) -> Self {
        NodeId(bytes)
    }

    /// The raw bytes, most significant first.
    pub const fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// SHA-1 of `data`: how node ids (from public keys) and immutable record
    /// keys (from values) are derived.
    pub fn sha1(data: &[u8]) -> Self {
        Self::sha1_parts(&[data])
    }

    /// SHA-1 of the concatenation of `parts`, without building the
    /// concatenation.
    pub fn sha1_parts(parts: &[&[u8]]) -> Self {
        use sha1::{Digest, Sha1};
        let mut hasher = Sha1::new();
        for part in parts {
            hasher.update(part);
        }
        NodeId(hasher.finalize().into())
    }

    /// A uniformly random id.
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; ID_LEN];
        rng.fill(&mut bytes[..]);
        NodeId(bytes)
    }

    /// The XOR distance from `self` to `other`.
    pub fn distance(&self, other: &NodeId) -> Distance {
        let mut out = [0u8; ID_LEN];
        for (o, (a, b)) in out.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            *o = a ^ b;
        }
        Distance(out)
    }

    /// The id at distance `d` from `self` (the unique `b` with
    /// `self.distance(b) == d`).
    pub fn at_distance(&self, d: &Distance) -> NodeId {
        let mut out = [0u8; ID_LEN];
        for (o, (a, b)) in out.iter_mut().zip(self.0.iter().zip(d.0.iter())) {
            *o = a ^ b;
        }
        NodeId(out)
    }

    /// The index of the k-bucket `other` falls into from `self`'s point of
    /// view, or `None` when `other == self` (a table never holds itself).
    pub fn bucket_index(&self, other: &NodeId) -> Option<usize> {
        self.distance(other).bucket_index()
    }

    /// A random id that falls into bucket `index` of `self` (distance in
    /// `[2^index, 2^(index+1))`), the target of a bucket-refresh lookup.
    /// Returns `None` when `index >= ID_BITS`.
    pub fn random_in_bucket<R: Rng + ?Sized>(&self, index: usize, rng: &mut R) -> Option<NodeId> {
        if index >= ID_BITS {
            return None;
        }
        let mut d = [0u8; ID_LEN];
        rng.fill(&mut d[..]);
        // Bit `index` counted from the least significant bit of the 160-bit
        // big-endian number lives in byte ID_LEN - 1 - index / 8.
        let top_byte = ID_LEN - 1 - index / 8;
        let bit = (index % 8) as u32;
        for b in d.iter_mut().take(top_byte) {
            *b = 0;
        }
        // Keep the bits below `bit`, set `bit`, clear the ones above.
        let below = (1u16 << bit) as u8 - 1;
        d[top_byte] = (d[top_byte] & below) | (1u8 << bit);
        Some(self.at_distance(&Distance(d)))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl FromStr for NodeId {
    type Err = IdParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.as_bytes();
        if s.len() != ID_LEN * 2 {
            return Err(IdParseError::Length { found: s.len() });
        }
        let mut out = [0u8; ID_LEN];
        for (i, pair) in s.chunks_exact(2).enumerate() {
            let hi = hex_digit(pair[0]).ok_or(IdParseError::NotHex { position: 2 * i })?;
            let lo = hex_digit(pair[1]).ok_or(IdParseError::NotHex {
                position: 2 * i + 1,
            })?;
            out[i] = (hi << 4) | lo;
        }
        Ok(NodeId(out))
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl From<[u8; ID_LEN]> for NodeId {
    fn from(bytes: [u8; ID_LEN]) -> Self {
        NodeId(bytes)
    }
}

impl AsRef<[u8]> for NodeId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            <[u8; ID_LEN]>::deserialize(deserializer).map(NodeId)
        }
    }
}

/// A hex node id could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    /// The string is not 40 characters long.
    #[error("a node id is 40 hex digits, found {found} characters")]
    Length {
        /// Characters found.
        found: usize,
    },
    /// A character is not a hex digit.
    #[error("character {position} of the node id is not a hex digit")]
    NotHex {
        /// Zero-based index of the offending byte.
        position: usize,
    },
}

/// The XOR distance between two ids, ordered as a 160-bit unsigned integer
/// (byte-wise big-endian comparison is exactly that order).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Distance([u8; ID_LEN]);

impl Distance {
    /// The zero distance (an id to itself).
    pub const ZERO: Distance = Distance([0; ID_LEN]);

    /// The largest possible distance.
    pub const MAX: Distance = Distance([0xff; ID_LEN]);

    /// Wraps raw bytes, most significant first.
    pub const fn from_bytes(bytes: [u8; ID_LEN]) -> Self {
        Distance(bytes)
    }

    /// The raw bytes, most significant first.
    pub const fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// Number of leading zero bits (160 for the zero distance).
    pub fn leading_zeros(&self) -> usize {
        for (i, b) in self.0.iter().enumerate() {
            if *b != 0 {
                return i * 8 + b.leading_zeros() as usize;
            }
        }
        ID_BITS
    }

    /// The bucket this distance falls into: `floor(log2(d))`, in `0..160`,
    /// or `None` for the zero distance.
    pub fn bucket_index(&self) -> Option<usize> {
        let lz = self.leading_zeros();
        (lz < ID_BITS).then(|| ID_BITS - 1 - lz)
    }
}

impl fmt::Debug for Distance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Distance(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// A distance to the target as five big-endian 32-bit words: ordered
/// exactly as [`Distance`] (word-wise comparison of
/// big-endian words is byte-wise comparison), 20 bytes like it, but
/// compared inline a word at a time where `Distance` calls `memcmp`. The
/// key of lookup candidates (`lookup::ClosestIter`) and of the routing
/// table's closest walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DistanceKey([u32; ID_LEN / 4]);

impl DistanceKey {
    /// The bits of `id`.
    pub(crate) fn of(id: &NodeId) -> Self {
        let mut words = [0u32; ID_LEN / 4];
        for (w, chunk) in words.iter_mut().zip(id.as_bytes().chunks_exact(4)) {
            let mut bytes = [0u8; 4];
            bytes.copy_from_slice(chunk);
            *w = u32::from_be_bytes(bytes);
        }
        DistanceKey(words)
    }

    /// The XOR of two keys: the distance between the ids they came from.
    pub(crate) fn xor(self, other: Self) -> Self {
        let mut words = self.0;
        for (w, o) in words.iter_mut().zip(other.0) {
            *w ^= o;
        }
        DistanceKey(words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id() -> impl Strategy<Value = NodeId> {
        any::<[u8; ID_LEN]>().prop_map(NodeId)
    }

    fn as_u256(d: &Distance) -> (u128, u64) {
        // 160 bits as (high 128, low 32) for comparison against integers.
        let b = d.as_bytes();
        let mut hi = [0u8; 16];
        hi.copy_from_slice(&b[..16]);
        let mut lo = [0u8; 8];
        lo[4..].copy_from_slice(&b[16..]);
        (u128::from_be_bytes(hi), u64::from_be_bytes(lo))
    }

    proptest! {
        #[test]
        fn distance_key_orders_like_distance(a in id(), b in id(), c in id()) {
            let ka = DistanceKey::of(&a);
            let (kb, kc) = (DistanceKey::of(&b).xor(ka), DistanceKey::of(&c).xor(ka));
            prop_assert_eq!(kb.cmp(&kc), a.distance(&b).cmp(&a.distance(&c)));
            prop_assert_eq!(kb == kc, b == c);
        }

        #[test]
        fn distance_to_self_is_zero(a in id()) {
            prop_assert_eq!(a.distance(&a), Distance::ZERO);
            prop_assert_eq!(a.bucket_index(&a), None);
        }

        #[test]
        fn distance_is_zero_only_for_equal_ids(a in id(), b in id()) {
            prop_assert_eq!(a.distance(&b) == Distance::ZERO, a == b);
        }

        #[test]
        fn distance_is_symmetric(a in id(), b in id()) {
            prop_assert_eq!(a.distance(&b), b.distance(&a));
        }

        #[test]
        fn distance_is_unidirectional(a in id(), d in any::<[u8; ID_LEN]>(), c in id()) {
            let d = Distance::from_bytes(d);
            let b = a.at_distance(&d);
            prop_assert_eq!(a.distance(&b), d);
            // Exactly one b: any other id is at another distance.
            prop_assume!(c != b);
            prop_assert_ne!(a.distance(&c), d);
        }

        #[test]
        fn triangle_inequality_holds(a in id(), b in id(), c in id()) {
            // XOR satisfies d(a,c) <= d(a,b) + d(b,c); check via the
            // stronger d(a,c) = d(a,b) xor d(b,c) <= d(a,b) + d(b,c).
            let ab = a.distance(&b);
            let bc = b.distance(&c);
            let ac = a.distance(&c);
            let x = ab.as_bytes().iter().zip(bc.as_bytes()).map(|(p, q)| p ^ q);
            prop_assert!(x.eq(ac.as_bytes().iter().copied()));
        }

        #[test]
        fn ordering_agrees_with_integer_comparison(a in id(), b in id(), c in id()) {
            let x = a.distance(&b);
            let y = a.distance(&c);
            prop_assert_eq!(x.cmp(&y), as_u256(&x).cmp(&as_u256(&y)));
        }

        #[test]
        fn bucket_index_is_floor_log2(a in id(), b in id()) {
            let d = a.distance(&b);
            match d.bucket_index() {
                None => prop_assert_eq!(a, b),
                Some(i) => {
                    // 2^i <= d < 2^(i+1)
                    let lower = Distance::ZERO.bucket_index_bound(i);
                    prop_assert!(d >= lower);
                    if i + 1 < ID_BITS {
                        prop_assert!(d < Distance::ZERO.bucket_index_bound(i + 1));
                    }
                }
            }
        }

        #[test]
        fn random_in_bucket_lands_in_that_bucket(a in id(), i in 0usize..ID_BITS, seed in any::<u64>()) {
            use rand::SeedableRng;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let b = a.random_in_bucket(i, &mut rng).unwrap();
            prop_assert_eq!(a.bucket_index(&b), Some(i));
        }

        #[test]
        fn hex_round_trips(a in id()) {
            let s = a.to_string();
            prop_assert_eq!(s.len(), 40);
            prop_assert_eq!(s.parse::<NodeId>().unwrap(), a);
            prop_assert_eq!(s.to_uppercase().parse::<NodeId>().unwrap(), a);
        }

        #[test]
        fn postcard_round_trips_as_raw_bytes(a in id()) {
            let bytes = postcard::to_allocvec(&a).unwrap();
            prop_assert_eq!(&bytes[..], &a.as_bytes()[..]);
            prop_assert_eq!(postcard::from_bytes::<NodeId>(&bytes).unwrap(), a);
        }
    }

    impl Distance {
        /// 2^i as a distance (test helper).
        fn bucket_index_bound(&self, i: usize) -> Distance {
            let mut d = [0u8; ID_LEN];
            d[ID_LEN - 1 - i / 8] = 1 << (i % 8);
            Distance(d)
        }
    }

    #[test]
    fn random_in_bucket_rejects_out_of_range_index() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert_eq!(NodeId::ZERO.random_in_bucket(ID_BITS, &mut rng), None);
    }

    #[test]
    fn parse_rejects_bad_input_with_typed_errors() {
        assert_eq!(
            "abc".parse::<NodeId>(),
            Err(IdParseError::Length { found: 3 })
        );
        let mut s = "0".repeat(40);
        s.replace_range(7..8, "g");
        assert_eq!(
            s.parse::<NodeId>(),
            Err(IdParseError::NotHex { position: 7 })
        );
        // Multi-byte UTF-8 never panics.
        let s = "é".repeat(20);
        assert!(s.parse::<NodeId>().is_err());
    }
}
