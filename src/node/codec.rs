//! The wire seam: the one place where the engine's protocol messages
//! become datagrams and datagrams become messages.
//!
//! This module owns the choice of wire protocol and everything in the
//! engine that depends on the byte format: encoding a request or an answer,
//! decoding a received datagram (with its size and version checks), the
//! most contacts one answer lists, and fitting a `Providers` answer into
//! one datagram. Everywhere else the engine speaks in [`Message`]s, so the
//! routing table, the record store, the lookup iterators and the query
//! pool never see a byte. It must never hold state between datagrams and
//! never panic on any input: a datagram it cannot read is a
//! [`DecodeError`], a message its protocol cannot express or fit is an
//! [`EncodeError`], and the engine counts and drops both.
//!
//! [`Codec`] is an enum rather than a trait so that [`Node`](super::Node)
//! stays one concrete type for the drivers and the simulator, and so that
//! adding a protocol is a new variant whose every method the compiler then
//! asks for. Today there is one: [`Codec::Native`], the versioned postcard
//! format of [`crate::wire`] described in `docs/PROTOCOL.md`.

use crate::error::{DecodeError, EncodeError};
use crate::id::NodeId;
use crate::wire::{self, Body, Contact, Message, Token, TxId};

/// A wire protocol the engine speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Codec {
    /// This crate's own protocol: a version byte, then postcard (with
    /// hand-written fast paths for FIND_NODE and `Nodes`), at most
    /// [`wire::MAX_DATAGRAM_SIZE`] bytes.
    #[default]
    Native,
}

impl Codec {
    /// Encodes `msg` into a new datagram, or says why it cannot be sent.
    pub(crate) fn encode(self, msg: &Message) -> Result<Vec<u8>, EncodeError> {
        match self {
            Codec::Native => wire::encode(msg),
        }
    }

    /// Decodes one received datagram.
    pub(crate) fn decode(self, datagram: &[u8]) -> Result<Message, DecodeError> {
        match self {
            Codec::Native => wire::decode(datagram),
        }
    }

    /// The most contacts one `Nodes` answer lists.
    pub(crate) fn max_contacts(self) -> usize {
        match self {
            Codec::Native => wire::MAX_CONTACTS,
        }
    }

    /// The body of the `Providers` answer to GET_PROVIDERS `txid` from this
    /// node (`sender`): as many of `providers`, then of `nodes`, in order,
    /// as one datagram holds.
    pub(crate) fn providers_answer(
        self,
        txid: TxId,
        sender: NodeId,
        token: Token,
        providers: &[Contact],
        nodes: &[Contact],
    ) -> Body {
        match self {
            Codec::Native => wire::fit_providers(txid, sender, token, providers, nodes).body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ImmutableRecord, Record};
    use crate::wire::{Request, Response};

    fn messages() -> Vec<Message> {
        let sender = NodeId::sha1(b"sender");
        let contact = Contact {
            id: NodeId::sha1(b"contact"),
            addr: "192.0.2.1:6881".parse().unwrap(),
        };
        vec![
            Message {
                txid: 1,
                sender,
                body: Body::Request {
                    read_only: false,
                    request: Request::FindNode {
                        target: NodeId::sha1(b"target"),
                        challenge: Some([3; 32]),
                    },
                },
            },
            Message {
                txid: 2,
                sender,
                body: Body::Response(Response::Nodes {
                    token: [9; 8],
                    nodes: vec![contact; 20],
                    proof: None,
                }),
            },
            Message {
                txid: 3,
                sender,
                body: Body::Request {
                    read_only: true,
                    request: Request::Store {
                        token: [1; 8],
                        record: Record::Immutable(ImmutableRecord::new(&b"v"[..]).unwrap()),
                    },
                },
            },
        ]
    }

    #[test]
    fn native_codec_writes_the_wire_modules_bytes_and_reads_them_back() {
        for msg in messages() {
            let bytes = Codec::Native.encode(&msg).unwrap();
            assert_eq!(bytes, wire::encode(&msg).unwrap());
            assert_eq!(Codec::Native.decode(&bytes).unwrap(), msg);
        }
    }

    #[test]
    fn native_codec_refuses_garbage_and_fits_providers_in_one_datagram() {
        assert!(Codec::Native.decode(&[]).is_err());
        assert!(Codec::Native.decode(&[0xff; 8]).is_err());
        let contact = Contact {
            id: NodeId::sha1(b"p"),
            addr: "[2001:db8::1]:6881".parse().unwrap(),
        };
        let many = vec![contact; 40];
        let body = Codec::Native.providers_answer(7, NodeId::sha1(b"s"), [0; 8], &many, &many);
        let msg = Message {
            txid: 7,
            sender: NodeId::sha1(b"s"),
            body,
        };
        assert!(Codec::Native.encode(&msg).unwrap().len() <= wire::MAX_DATAGRAM_SIZE);
        assert_eq!(Codec::Native.max_contacts(), wire::MAX_CONTACTS);
    }
}
