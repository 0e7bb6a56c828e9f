//! `Encode` for every input type of the three structured targets. The
//! variant indices and counts follow declaration order; the round-trip test
//! in `mod.rs` catches any slip.

use crate::node_inputs::model::{
    AddrSpec, BodySpec, ContactSpec, ErrorSpec, IdSpec, ProofSpec, RecordSpec, ReplySpec,
    RequestSpec, SenderSpec, TokenSpec, ValueSpec,
};
use crate::node_inputs::{Command, Input, Op};
use crate::{encode_enum, encode_struct, routing_ops as ro, verify_record as vr};

encode_struct!(Input; k, mode, caps_on_local, paths, seed, ops);

encode_enum!(Op, 9;
    Op::Raw { from, bytes } => 0, [from, bytes];
    Op::Request { from, sender, txid, read_only, request } => 1, [from, sender, txid, read_only, request];
    Op::Reply { pick, keep, from, sender, reply } => 2, [pick, keep, from, sender, reply];
    Op::Stray { from, sender, txid, body } => 3, [from, sender, txid, body];
    Op::Mutated { from, sender, txid, request, edits, cut } => 4, [from, sender, txid, request, edits, cut];
    Op::Tick { millis } => 5, [millis];
    Op::Advance { millis } => 6, [millis];
    Op::Spurious => 7, [];
    Op::Command { command, paths } => 8, [command, paths];
);

encode_enum!(Command, 8;
    Command::FindNode(t) => 0, [t];
    Command::GetImmutable(t) => 1, [t];
    Command::GetMutable(t) => 2, [t];
    Command::Put(r) => 3, [r];
    Command::AddProvider(t) => 4, [t];
    Command::GetProviders(t) => 5, [t];
    Command::Bootstrap(peers) => 6, [peers];
    Command::StopPublishing(t) => 7, [t];
);

encode_enum!(IdSpec, 5;
    IdSpec::Peer(j) => 0, [j];
    IdSpec::Local => 1, [];
    IdSpec::Known(i) => 2, [i];
    IdSpec::Raw(b) => 3, [b];
    IdSpec::NearLocal { bucket, low } => 4, [bucket, low];
);

encode_enum!(SenderSpec, 3;
    SenderSpec::Peer(j) => 0, [j];
    SenderSpec::Local => 1, [];
    SenderSpec::Raw(b) => 2, [b];
);

encode_enum!(AddrSpec, 3;
    AddrSpec::Peer(j) => 0, [j];
    AddrSpec::V4 { ip, port } => 1, [ip, port];
    AddrSpec::V6 { ip, port } => 2, [ip, port];
);

encode_enum!(ContactSpec, 4;
    ContactSpec::Peer(j) => 0, [j];
    ContactSpec::Misplaced { id, addr } => 1, [id, addr];
    ContactSpec::Local(a) => 2, [a];
    ContactSpec::Raw { id, addr } => 3, [id, addr];
);

encode_enum!(ValueSpec, 2;
    ValueSpec::Bytes(b) => 0, [b];
    ValueSpec::Filled { byte, len } => 1, [byte, len];
);

encode_enum!(RecordSpec, 3;
    RecordSpec::Immutable(v) => 0, [v];
    RecordSpec::Signed { signer, meshara, salt, seq, value, forge } => 1, [signer, meshara, salt, seq, value, forge];
    RecordSpec::Known { index, bump } => 2, [index, bump];
);

encode_enum!(TokenSpec, 2;
    TokenSpec::Issued => 0, [];
    TokenSpec::Raw(t) => 1, [t];
);

encode_enum!(RequestSpec, 6;
    RequestSpec::Ping { challenge } => 0, [challenge];
    RequestSpec::FindNode { target, challenge } => 1, [target, challenge];
    RequestSpec::FindValue { key } => 2, [key];
    RequestSpec::Store { token, record } => 3, [token, record];
    RequestSpec::AddProvider { token, key } => 4, [token, key];
    RequestSpec::GetProviders { key } => 5, [key];
);

encode_enum!(ProofSpec, 4;
    ProofSpec::Valid => 0, [];
    ProofSpec::Missing => 1, [];
    ProofSpec::WrongNonce(n) => 2, [n];
    ProofSpec::OtherPeer(j) => 3, [j];
);

encode_enum!(ErrorSpec, 4;
    ErrorSpec::InvalidToken => 0, [];
    ErrorSpec::Refused { reason, stored } => 1, [reason, stored];
    ErrorSpec::RateLimited => 2, [];
    ErrorSpec::Unsupported => 3, [];
);

encode_enum!(ReplySpec, 2;
    ReplySpec::Fitting { nodes, providers, record, proof, token } => 0, [nodes, providers, record, proof, token];
    ReplySpec::Body(b) => 1, [b];
);

encode_enum!(BodySpec, 6;
    BodySpec::Pong { your_addr, proof } => 0, [your_addr, proof];
    BodySpec::Nodes { token, nodes } => 1, [token, nodes];
    BodySpec::Value { token, record } => 2, [token, record];
    BodySpec::Stored => 3, [];
    BodySpec::Providers { token, providers, nodes } => 4, [token, providers, nodes];
    BodySpec::Error(e) => 5, [e];
);

encode_struct!(ro::Input; k, cache, max_failures, per_bucket, per_table, caps_on_local, local, ops);

encode_enum!(ro::IdSpec, 5;
    ro::IdSpec::Pool(i) => 0, [i];
    ro::IdSpec::InBucket { bucket, low } => 1, [bucket, low];
    ro::IdSpec::Raw(b) => 2, [b];
    ro::IdSpec::Local => 3, [];
    ro::IdSpec::Candidate => 4, [];
);

encode_enum!(ro::AddrSpec, 4;
    ro::AddrSpec::Home => 0, [];
    ro::AddrSpec::Pool { index, port } => 1, [index, port];
    ro::AddrSpec::V4 { ip, port } => 2, [ip, port];
    ro::AddrSpec::V6 { ip, port } => 3, [ip, port];
);

encode_enum!(ro::Op, 9;
    ro::Op::Insert { id, addr } => 0, [id, addr];
    ro::Op::Success { id } => 1, [id];
    ro::Op::Failure { id } => 2, [id];
    ro::Op::ResolveEviction { id, alive } => 3, [id, alive];
    ro::Op::Remove { id } => 4, [id];
    ro::Op::Closest { target, n } => 5, [target, n];
    ro::Op::IdleBuckets { idle_secs } => 6, [idle_secs];
    ro::Op::TouchBucket { index } => 7, [index];
    ro::Op::Advance { millis } => 8, [millis];
);

encode_enum!(vr::Input, 3;
    vr::Input::Bytes(b) => 0, [b];
    vr::Input::Fields { key, salt, value, signature, signature_hi, seq } => 1, [key, salt, value, signature, signature_hi, seq];
    vr::Input::Signed { signer, meshara, salt, seq, value, tamper, position, mask } => 2, [signer, meshara, salt, seq, value, tamper, position, mask];
);

encode_enum!(vr::KeySpec, 3;
    vr::KeySpec::Ed25519(pk) => 0, [pk];
    vr::KeySpec::Meshara(a, b) => 1, [a, b];
    vr::KeySpec::Known(i) => 2, [i];
);

encode_enum!(vr::Tamper, 7;
    vr::Tamper::None => 0, [];
    vr::Tamper::SignatureByte { index, mask } => 1, [index, mask];
    vr::Tamper::Seq { delta } => 2, [delta];
    vr::Tamper::SaltByte { index, mask } => 3, [index, mask];
    vr::Tamper::AppendValue(b) => 4, [b];
    vr::Tamper::OtherSigner(j) => 5, [j];
    vr::Tamper::X25519Byte { index, mask } => 6, [index, mask];
);
