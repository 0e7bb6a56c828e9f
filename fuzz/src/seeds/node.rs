//! Seed scenarios for `node_inputs`: each a short story that takes the node
//! somewhere deep (a filled table, stored records, finished puts and gets,
//! rate limiting, tracked-IP eviction), for the fuzzer to mutate from.

use crate::node_inputs::model::{
    AddrSpec, BodySpec, ContactSpec, ErrorSpec, IdSpec, ProofSpec, RecordSpec, ReplySpec,
    RequestSpec, SenderSpec, TokenSpec, ValueSpec,
};
use crate::node_inputs::{Command, Input, Op};

/// `k` index 3 is k = 4, index 4 is k = 8 (see `node_inputs::config`).
fn input(k: u8, client: bool, caps_on_local: bool, ops: Vec<Op>) -> Input {
    Input {
        k,
        mode: if client { 0 } else { 1 },
        caps_on_local,
        paths: 0,
        seed: 7,
        ops,
    }
}

fn fitting(nodes: &[u8]) -> ReplySpec {
    ReplySpec::Fitting {
        nodes: nodes.iter().map(|&j| ContactSpec::Peer(j)).collect(),
        providers: Vec::new(),
        record: None,
        proof: ProofSpec::Valid,
        token: [0x5a; 8],
    }
}

fn reply(reply: ReplySpec) -> Op {
    Op::Reply {
        pick: 0,
        keep: false,
        from: None,
        sender: None,
        reply,
    }
}

/// Answers the oldest outstanding requests `n` times with `nodes`.
fn answer(ops: &mut Vec<Op>, n: usize, nodes: &[u8]) {
    for _ in 0..n {
        ops.push(reply(fitting(nodes)));
    }
}

fn request(from: u8, txid: u64, request: RequestSpec) -> Op {
    Op::Request {
        from,
        sender: SenderSpec::Peer(from),
        txid,
        read_only: false,
        request,
    }
}

fn command(command: Command) -> Op {
    Op::Command {
        command,
        paths: None,
    }
}

fn signed(signer: u8, salt: &[u8], seq: u64, value: ValueSpec) -> RecordSpec {
    RecordSpec::Signed {
        signer,
        meshara: None,
        salt: salt.to_vec(),
        seq,
        value,
        forge: false,
    }
}

/// Joins through six peers and fills the table from their answers.
pub fn bootstrap() -> Input {
    let mut ops = vec![command(Command::Bootstrap(vec![0, 8, 16, 28, 36, 40]))];
    answer(&mut ops, 6, &[]);
    answer(&mut ops, 24, &[1, 9, 17, 29, 37, 41]);
    ops.push(Op::Tick { millis: 250 });
    answer(&mut ops, 16, &[3, 11, 19, 31]);
    ops.push(Op::Advance { millis: 5_000 });
    ops.push(Op::Advance { millis: 130_000 });
    answer(&mut ops, 12, &[4, 12]);
    input(3, false, true, ops)
}

/// Serves every RPC: tokens, stores (immutable, signed, newer, stale,
/// forged, bad token), providers, values, then expiry.
pub fn serve() -> Input {
    let key = IdSpec::Raw([9; 20]);
    let store = |txid, record| {
        request(
            1,
            txid,
            RequestSpec::Store {
                token: TokenSpec::Issued,
                record,
            },
        )
    };
    let ops = vec![
        request(
            1,
            1,
            RequestSpec::Ping {
                challenge: Some([7; 32]),
            },
        ),
        request(
            1,
            2,
            RequestSpec::FindNode {
                target: IdSpec::Local,
                challenge: None,
            },
        ),
        request(
            2,
            5,
            RequestSpec::FindNode {
                target: IdSpec::Peer(1),
                challenge: Some([9; 32]),
            },
        ),
        request(1, 3, RequestSpec::GetProviders { key: key.clone() }),
        store(
            4,
            RecordSpec::Immutable(ValueSpec::Bytes(b"hello".to_vec())),
        ),
        store(
            5,
            signed(
                2,
                b"",
                1,
                ValueSpec::Filled {
                    byte: 0x41,
                    len: 900,
                },
            ),
        ),
        store(6, RecordSpec::Known { index: 1, bump: 1 }),
        store(7, RecordSpec::Known { index: 1, bump: 0 }),
        store(
            8,
            RecordSpec::Signed {
                signer: 3,
                meshara: Some([4; 32]),
                salt: b"s".to_vec(),
                seq: 1,
                value: ValueSpec::Bytes(b"x".to_vec()),
                forge: true,
            },
        ),
        request(
            1,
            9,
            RequestSpec::AddProvider {
                token: TokenSpec::Issued,
                key: key.clone(),
            },
        ),
        request(
            1,
            10,
            RequestSpec::Store {
                token: TokenSpec::Raw([0; 8]),
                record: RecordSpec::Immutable(ValueSpec::Bytes(b"no token".to_vec())),
            },
        ),
        request(
            9,
            11,
            RequestSpec::FindValue {
                key: IdSpec::Known(0),
            },
        ),
        request(9, 12, RequestSpec::GetProviders { key }),
        // The node asked peer 1 to prove its key: it does, and enters.
        reply(fitting(&[])),
        request(
            1,
            13,
            RequestSpec::FindNode {
                target: IdSpec::Peer(1),
                challenge: None,
            },
        ),
        Op::Advance { millis: 700_000 },
        request(
            9,
            14,
            RequestSpec::FindValue {
                key: IdSpec::Known(0),
            },
        ),
    ];
    input(4, false, false, ops)
}

/// Puts, gets (with a stale holder to repair), providers, republish.
pub fn put_get() -> Input {
    let mut ops = vec![command(Command::Bootstrap(vec![0, 8, 16]))];
    answer(&mut ops, 3, &[]);
    answer(&mut ops, 16, &[1, 9, 17, 2]);
    ops.push(command(Command::Put(signed(
        3,
        b"s",
        5,
        ValueSpec::Bytes(b"v1".to_vec()),
    ))));
    answer(&mut ops, 20, &[1, 9, 17]);
    ops.push(command(Command::GetMutable(IdSpec::Known(0))));
    for bump in [0, 2, 0] {
        ops.push(reply(ReplySpec::Fitting {
            nodes: Vec::new(),
            providers: Vec::new(),
            record: Some(RecordSpec::Known { index: 0, bump }),
            proof: ProofSpec::Valid,
            token: [1; 8],
        }));
    }
    answer(&mut ops, 10, &[1, 9]);
    ops.push(command(Command::Put(RecordSpec::Immutable(
        ValueSpec::Filled { byte: 7, len: 1000 },
    ))));
    answer(&mut ops, 12, &[2]);
    ops.push(command(Command::GetImmutable(IdSpec::Known(2))));
    answer(&mut ops, 6, &[]);
    ops.push(command(Command::AddProvider(IdSpec::Raw([3; 20]))));
    answer(&mut ops, 10, &[]);
    ops.push(command(Command::GetProviders(IdSpec::Raw([3; 20]))));
    for _ in 0..4 {
        ops.push(reply(ReplySpec::Fitting {
            nodes: vec![ContactSpec::Peer(5)],
            providers: vec![ContactSpec::Peer(7), ContactSpec::Peer(7)],
            record: None,
            proof: ProofSpec::Valid,
            token: [2; 8],
        }));
    }
    ops.push(Op::Command {
        command: Command::FindNode(IdSpec::NearLocal {
            bucket: 150,
            low: [0xee; 20],
        }),
        paths: Some(2),
    });
    answer(&mut ops, 8, &[1, 2, 3]);
    ops.push(Op::Advance { millis: 31_000 });
    ops.push(Op::Advance { millis: 400_000 });
    answer(&mut ops, 10, &[4]);
    ops.push(command(Command::StopPublishing(IdSpec::Known(0))));
    input(3, false, false, ops)
}

/// Garbage, stray answers, mutated requests, wrong answers and a flood
/// from one address.
pub fn hostile() -> Input {
    let mut ops = vec![
        Op::Raw {
            from: 3,
            bytes: b"\x01garbage".to_vec(),
        },
        Op::Raw {
            from: 4,
            bytes: Vec::new(),
        },
        Op::Raw {
            from: 5,
            bytes: vec![2, 0, 0],
        },
        Op::Stray {
            from: 5,
            sender: SenderSpec::Peer(5),
            txid: 0xdead,
            body: BodySpec::Nodes {
                token: [0; 8],
                nodes: vec![ContactSpec::Peer(6)],
            },
        },
        Op::Stray {
            from: 6,
            sender: SenderSpec::Raw([1; 20]),
            txid: 1,
            body: BodySpec::Error(ErrorSpec::Refused {
                reason: 2,
                stored: 5,
            }),
        },
        Op::Mutated {
            from: 7,
            sender: SenderSpec::Peer(7),
            txid: 2,
            request: RequestSpec::FindNode {
                target: IdSpec::Local,
                challenge: None,
            },
            edits: vec![(3, 0xff)],
            cut: Some(10),
        },
        Op::Request {
            from: 2,
            sender: SenderSpec::Local,
            txid: 3,
            read_only: false,
            request: RequestSpec::Ping { challenge: None },
        },
        command(Command::Bootstrap(vec![20, 21, 22, 23])),
        Op::Reply {
            pick: 0,
            keep: true,
            from: Some(24),
            sender: None,
            reply: fitting(&[]),
        },
        Op::Reply {
            pick: 0,
            keep: true,
            from: None,
            sender: Some(SenderSpec::Raw([2; 20])),
            reply: fitting(&[]),
        },
        reply(ReplySpec::Fitting {
            nodes: Vec::new(),
            providers: Vec::new(),
            record: None,
            proof: ProofSpec::WrongNonce([1; 32]),
            token: [0; 8],
        }),
        reply(ReplySpec::Fitting {
            nodes: Vec::new(),
            providers: Vec::new(),
            record: None,
            proof: ProofSpec::OtherPeer(30),
            token: [0; 8],
        }),
        reply(fitting(&[])),
        reply(ReplySpec::Body(BodySpec::Pong {
            your_addr: AddrSpec::V4 {
                ip: [0; 4],
                port: 0,
            },
            proof: None,
        })),
        reply(ReplySpec::Fitting {
            nodes: vec![
                ContactSpec::Misplaced { id: 25, addr: 26 },
                ContactSpec::Local(AddrSpec::Peer(27)),
                ContactSpec::Raw {
                    id: [3; 20],
                    addr: AddrSpec::V6 {
                        ip: [0; 16],
                        port: 0,
                    },
                },
            ],
            providers: Vec::new(),
            record: None,
            proof: ProofSpec::Valid,
            token: [0; 8],
        }),
        Op::Spurious,
    ];
    answer(&mut ops, 12, &[25, 26, 27, 28, 29, 30, 31, 32]);
    for txid in 0..24 {
        ops.push(request(
            20,
            100 + txid,
            RequestSpec::Ping { challenge: None },
        ));
    }
    ops.push(Op::Tick { millis: 200 });
    ops.push(Op::Advance { millis: 60_000 });
    input(4, false, true, ops)
}

/// A client-mode node: it answers nothing but still looks things up.
pub fn client() -> Input {
    let mut ops = vec![
        request(
            1,
            1,
            RequestSpec::Ping {
                challenge: Some([1; 32]),
            },
        ),
        request(
            2,
            2,
            RequestSpec::FindNode {
                target: IdSpec::Local,
                challenge: None,
            },
        ),
        command(Command::Bootstrap(vec![0, 8])),
    ];
    answer(&mut ops, 12, &[1, 9, 16]);
    ops.push(command(Command::GetMutable(IdSpec::Peer(9))));
    answer(&mut ops, 6, &[2]);
    ops.push(Op::Advance { millis: 40_000 });
    input(2, true, false, ops)
}

/// A full table, then FIND_NODE from forty addresses, three rounds: more
/// addresses than the rate limiter tracks, each answered with twenty
/// contacts. Before the fix in `node/limits.rs` every returning address was
/// a fresh entry with a new datagram of allowance, and the harness's
/// amplification check failed on this seed.
pub fn amplify() -> Input {
    let mut ops = vec![command(Command::Bootstrap(vec![0, 1, 2, 3]))];
    answer(&mut ops, 4, &[]);
    let spread: Vec<u8> = (4..48).collect();
    for chunk in spread.chunks(6).cycle().take(16) {
        answer(&mut ops, 4, chunk);
    }
    for _ in 0..3 {
        for j in 8..48u8 {
            let target = IdSpec::Peer(j);
            ops.push(request(
                j,
                u64::from(j),
                RequestSpec::FindNode {
                    target,
                    challenge: None,
                },
            ));
        }
    }
    input(5, false, false, ops)
}
