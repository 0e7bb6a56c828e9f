//! Codec speed: encoding and decoding a full `Nodes` response (20 contacts,
//! IPv4, IPv6 and mixed) and decoding a `Value` response carrying a signed
//! mutable record with a 1000-byte value.
//!
//! Run with `cargo bench --bench wire`.

use std::hint::black_box;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use ed25519_dalek::SigningKey;
use meshara_dht::record::{Record, SignedRecord};
use meshara_dht::wire::{decode, encode, encode_into, Body, Contact, Message, Response};
use meshara_dht::NodeId;

fn contact(i: u8, ipv6: bool) -> Contact {
    let addr: SocketAddr = if ipv6 {
        let ip = Ipv6Addr::new(0x2001, 0xdb8, 0, u16::from(i), 0, 0, 0, 1);
        SocketAddrV6::new(ip, 40_000 + u16::from(i), 0, 0).into()
    } else {
        SocketAddrV4::new([198, 51, 100, i].into(), 40_000 + u16::from(i)).into()
    };
    Contact {
        id: NodeId::from_bytes([i; 20]),
        addr,
    }
}

fn response(body: Response) -> Message {
    Message {
        txid: 0x9E37_79B9_7F4A_7C15,
        sender: NodeId::from_bytes([0xAB; 20]),
        body: Body::Response(body),
    }
}

fn nodes(ipv6: impl Fn(u8) -> bool) -> Message {
    response(Response::Nodes {
        token: [0x5A; 8],
        nodes: (0..20).map(|i| contact(i, ipv6(i))).collect(),
        proof: None,
    })
}

fn value_1000() -> Message {
    let key = SigningKey::from_bytes(&[7; 32]);
    let record =
        SignedRecord::sign_ed25519(&key, Bytes::from_static(b"salt"), 42, vec![0x66; 1000])
            .expect("a 1000-byte value is within the limit");
    response(Response::Value {
        token: [0x5A; 8],
        record: Record::Mutable(record),
    })
}

fn codec(c: &mut Criterion) {
    let cases = [
        ("nodes20_mixed", nodes(|i| i % 2 == 1)),
        ("nodes20_ipv4", nodes(|_| false)),
        ("nodes20_ipv6", nodes(|_| true)),
    ];
    let mut group = c.benchmark_group("encode");
    for (name, msg) in &cases {
        let mut buf = Vec::with_capacity(1232);
        group.bench_function(*name, |b| {
            b.iter(|| encode_into(black_box(msg), &mut buf).expect("fits"))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("decode");
    for (name, msg) in &cases {
        let bytes = encode(msg).expect("fits");
        group.bench_function(*name, |b| {
            b.iter(|| decode(black_box(&bytes)).expect("valid"))
        });
    }
    let bytes = encode(&value_1000()).expect("fits");
    group.bench_function("value_mutable_1000", |b| {
        b.iter(|| decode(black_box(&bytes)).expect("valid"))
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
