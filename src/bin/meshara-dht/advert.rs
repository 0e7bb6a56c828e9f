//! The node advertisement: the small signed record a node stores under its
//! own id so that `find-peer ID` can learn its address.
//!
//! The record is a signed mutable record with an empty salt, so its key is
//! `SHA-1(public key)`, the node id itself, and only the holder of the
//! node's key can write it. Its value is postcard-encoded
//! `NodeAdvert { version: u8 = 1, addr: SocketAddr, advertised_at_ms: u64 }`
//! and its sequence number is `advertised_at_ms`, so a restarted node's
//! new advertisement always replaces the old one. This module only encodes,
//! decodes and signs; it never touches the network.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use meshara_dht::record::{RecordPublicKey, SignedRecord};
use meshara_dht::runtime::Dht;
use meshara_dht::NodeId;
use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// The format version this build writes and reads.
pub(crate) const ADVERT_VERSION: u8 = 1;

/// What a node says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodeAdvert {
    version: u8,
    /// The UDP address the node answers on.
    pub(crate) addr: SocketAddr,
    /// When the node made this advertisement (unix time, milliseconds);
    /// also the record's sequence number.
    pub(crate) advertised_at_ms: u64,
}

impl NodeAdvert {
    /// An advertisement of `addr` made at `advertised_at_ms`.
    pub(crate) fn new(addr: SocketAddr, advertised_at_ms: u64) -> Self {
        NodeAdvert {
            version: ADVERT_VERSION,
            addr,
            advertised_at_ms,
        }
    }

    /// An advertisement of `addr` made now (by the system clock).
    pub(crate) fn now(addr: SocketAddr) -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Self::new(addr, ms)
    }

    /// The value bytes.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, CliError> {
        postcard::to_allocvec(self).map_err(CliError::Encode)
    }

    /// Parses value bytes; trailing bytes and unknown versions are refused.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, &'static str> {
        let (advert, rest): (NodeAdvert, &[u8]) =
            postcard::take_from_bytes(bytes).map_err(|_| "its value does not decode")?;
        if advert.version != ADVERT_VERSION {
            return Err("its format version is unknown to this build");
        }
        if !rest.is_empty() {
            return Err("its value has trailing bytes");
        }
        Ok(advert)
    }

    /// This advertisement as `dht`'s own signed record (empty salt, key =
    /// node id, sequence = `advertised_at_ms`).
    pub(crate) fn sign(&self, dht: &Dht) -> Result<SignedRecord, CliError> {
        Ok(dht.sign("", self.advertised_at_ms, self.encode()?)?)
    }

    /// The advertisement carried by `record`, found under `id`: the record
    /// must be an ed25519 record with an empty salt whose key is `id`.
    pub(crate) fn from_record(id: NodeId, record: &SignedRecord) -> Result<Self, CliError> {
        let bad = |reason| CliError::NotAnAdvert { key: id, reason };
        if !matches!(record.public_key, RecordPublicKey::Ed25519(_)) {
            return Err(bad("it is not signed by a node key"));
        }
        if !record.salt.is_empty() || record.key() != id {
            return Err(bad("it is not the node's own record (salted or wrong key)"));
        }
        Self::decode(&record.value).map_err(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshara_dht::identity::Identity;

    #[test]
    fn advert_round_trips_through_a_signed_record() {
        let identity = Identity::from_seed(3);
        let advert = NodeAdvert::new("192.0.2.1:4000".parse().unwrap(), 1_700_000_000_000);
        let record = SignedRecord::sign_ed25519(
            identity.signing_key(),
            "",
            advert.advertised_at_ms,
            advert.encode().unwrap(),
        )
        .unwrap();
        assert_eq!(record.key(), identity.node_id());
        let back = NodeAdvert::from_record(identity.node_id(), &record).unwrap();
        assert_eq!(back, advert);
    }

    #[test]
    fn decode_refuses_trailing_bytes_and_unknown_versions() {
        let advert = NodeAdvert::new("[2001:db8::1]:9".parse().unwrap(), 5);
        let mut bytes = advert.encode().unwrap();
        assert_eq!(NodeAdvert::decode(&bytes), Ok(advert));
        bytes.push(0);
        assert_eq!(
            NodeAdvert::decode(&bytes),
            Err("its value has trailing bytes")
        );
        let mut other = advert.encode().unwrap();
        other[0] = 2;
        assert_eq!(
            NodeAdvert::decode(&other),
            Err("its format version is unknown to this build")
        );
        assert_eq!(NodeAdvert::decode(b""), Err("its value does not decode"));
    }

    #[test]
    fn salted_record_is_not_an_advert() {
        let identity = Identity::from_seed(4);
        let value = NodeAdvert::new("192.0.2.1:1".parse().unwrap(), 1)
            .encode()
            .unwrap();
        let record = SignedRecord::sign_ed25519(identity.signing_key(), "x", 1, value).unwrap();
        let err = NodeAdvert::from_record(record.key(), &record).unwrap_err();
        assert!(matches!(err, CliError::NotAnAdvert { .. }));
    }
}
