//! The reference TCP transport on loopback: framing limits, the mutual key
//! proof, and what a peer that cannot prove the expected key gets.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::handshake::HELLO_LEN;
use super::*;
use crate::meshara::reference::KeySigner;

const LIMIT: Duration = Duration::from_secs(30);

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("test exceeded its time bound")
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn signer(seed: u64) -> Arc<dyn Signer> {
    Arc::new(KeySigner::from_seed(seed))
}

/// Claims someone else's key but signs with its own.
struct Liar {
    claimed: MesharaKey,
    real: KeySigner,
}

impl Signer for Liar {
    fn public_key(&self) -> MesharaKey {
        self.claimed
    }

    fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.real.sign(message)
    }
}

#[tokio::test]
async fn handshake_proves_both_keys_and_frames_arrive_in_order() {
    bounded(async {
        let a = signer(1);
        let b = signer(2);
        let mut endpoint = TcpEndpoint::bind(loopback(), a.clone(), TcpConfig::default())
            .await
            .unwrap();
        let connector = TcpConnector::new(b.clone(), TcpConfig::default());
        let conn = connector
            .get_or_connect(&a.meshara_id(), endpoint.local_addr(), &a.public_key())
            .await
            .unwrap();
        assert_eq!(conn.peer(), a.meshara_id());
        assert_eq!(conn.public_key(), a.public_key());
        conn.send(&b"one".to_vec()).await.unwrap();
        conn.send(&Vec::new()).await.unwrap();
        let first = endpoint.recv().await.unwrap();
        assert_eq!(
            first,
            Inbound {
                from: b.meshara_id(),
                public_key: b.public_key(),
                payload: b"one".to_vec()
            }
        );
        assert_eq!(endpoint.recv().await.unwrap().payload, Vec::<u8>::new());
        // The pool hands out the same connection again.
        let again = connector
            .get_or_connect(&a.meshara_id(), endpoint.local_addr(), &a.public_key())
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&conn, &again));
        assert!(connector
            .direct(&a.meshara_id())
            .is_some_and(|c| Arc::ptr_eq(&c, &conn)));
        assert_eq!(connector.pooled(), 1);
    })
    .await
}

#[tokio::test]
async fn peer_proving_another_key_is_a_key_mismatch_and_gets_no_frame() {
    bounded(async {
        let a = signer(1);
        let impostor = signer(66);
        let mut endpoint = TcpEndpoint::bind(loopback(), impostor.clone(), TcpConfig::default())
            .await
            .unwrap();
        let connector = TcpConnector::new(signer(2), TcpConfig::default());
        let err = connector
            .get_or_connect(&a.meshara_id(), endpoint.local_addr(), &a.public_key())
            .await
            .unwrap_err();
        match err {
            ConnectError::KeyMismatch {
                addr,
                expected,
                proven,
            } => {
                assert_eq!(addr, endpoint.local_addr());
                assert_eq!(expected, a.meshara_id());
                assert_eq!(proven, Some(impostor.meshara_id()));
            }
            other => panic!("expected a key mismatch, got {other}"),
        }
        assert_eq!(connector.pooled(), 0);
        assert!(connector.direct(&a.meshara_id()).is_none());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(endpoint.try_recv(), None);
    })
    .await
}

#[tokio::test]
async fn peer_claiming_a_key_it_cannot_sign_for_is_a_key_mismatch() {
    bounded(async {
        let a = KeySigner::from_seed(1);
        let liar: Arc<dyn Signer> = Arc::new(Liar {
            claimed: a.public_key(),
            real: KeySigner::from_seed(66),
        });
        let endpoint = TcpEndpoint::bind(loopback(), liar, TcpConfig::default())
            .await
            .unwrap();
        let connector = TcpConnector::new(signer(2), TcpConfig::default());
        let err = connector
            .get_or_connect(&a.meshara_id(), endpoint.local_addr(), &a.public_key())
            .await
            .unwrap_err();
        assert!(
            matches!(err, ConnectError::KeyMismatch { proven: None, .. }),
            "{err}"
        );
        // The other direction: a liar connecting is dropped by the endpoint.
        let honest = signer(1);
        let mut endpoint = TcpEndpoint::bind(loopback(), honest.clone(), TcpConfig::default())
            .await
            .unwrap();
        let liar = Arc::new(Liar {
            claimed: KeySigner::from_seed(3).public_key(),
            real: KeySigner::from_seed(66),
        });
        let liar_connector = TcpConnector::new(liar, TcpConfig::default());
        let conn = liar_connector
            .connect(endpoint.local_addr(), &honest.public_key())
            .await
            .unwrap();
        // Its frames are never delivered (the server closed the stream).
        let _ = conn.send(&b"forged".to_vec()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(endpoint.try_recv(), None);
    })
    .await
}

#[tokio::test]
async fn expected_key_of_another_destination_is_refused_without_connecting() {
    bounded(async {
        let connector = TcpConnector::new(signer(2), TcpConfig::default());
        // Port 9 on loopback: nothing should be contacted at all.
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let err = connector
            .get_or_connect(&[0; 32], addr, &KeySigner::from_seed(1).public_key())
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ConnectError::KeyMismatch { expected, proven: None, .. } if expected == [0; 32]
        ));
    })
    .await
}

#[tokio::test]
async fn frames_over_the_limit_are_refused_before_allocation() {
    bounded(async {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        let err = read_frame(&mut server, 1024).await.unwrap_err();
        assert!(matches!(
            err,
            TcpError::FrameTooLarge {
                size: 4_294_967_295,
                max: 1024
            }
        ));
        let err = write_frame(&mut client, &[0; 1025], 1024)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            TcpError::FrameTooLarge {
                size: 1025,
                max: 1024
            }
        ));
        // A clean end of stream between frames is `Closed`.
        drop(client);
        assert!(matches!(
            read_frame(&mut server, 1024).await,
            Err(TcpError::Closed)
        ));
    })
    .await
}

#[tokio::test]
async fn handshake_over_a_pipe_returns_each_sides_peer_key() {
    bounded(async {
        let a = KeySigner::from_seed(1);
        let b = KeySigner::from_seed(2);
        let (mut x, mut y) = tokio::io::duplex(1024);
        let (ra, rb) = tokio::join!(
            handshake(&mut x, &a, Role::Client),
            handshake(&mut y, &b, Role::Server)
        );
        assert!(matches!(ra, Ok(k) if k == b.public_key()));
        assert!(matches!(rb, Ok(k) if k == a.public_key()));
        // Two sides both claiming the client role: each verifies the other
        // as a server, so the proofs (bound to the role) fail.
        let (mut x, mut y) = tokio::io::duplex(1024);
        let (ra, rb) = tokio::join!(
            handshake(&mut x, &a, Role::Client),
            handshake(&mut y, &b, Role::Client)
        );
        assert!(matches!(ra, Err(HandshakeError::BadProof)));
        assert!(matches!(rb, Err(HandshakeError::BadProof)));
    })
    .await
}

#[tokio::test]
async fn silent_or_garbage_peers_fail_the_handshake_in_bounded_time() {
    bounded(async {
        let config = TcpConfig {
            handshake_timeout: Duration::from_millis(200),
            ..TcpConfig::default()
        };
        // A listener that accepts and never speaks.
        let silent = TcpListener::bind(loopback()).await.unwrap();
        let silent_addr = silent.local_addr().unwrap();
        let _keep = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                held.push(s);
            }
        });
        let a = KeySigner::from_seed(1);
        let connector = TcpConnector::new(signer(2), config.clone());
        let err = connector
            .get_or_connect(&a.meshara_id(), silent_addr, &a.public_key())
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ConnectError::Transport(TcpError::Timeout { stage: "handshake" })
        ));

        // An endpoint fed garbage closes the stream and keeps serving.
        let mut endpoint = TcpEndpoint::bind(loopback(), signer(1), config)
            .await
            .unwrap();
        let mut raw = TcpStream::connect(endpoint.local_addr()).await.unwrap();
        raw.write_all(&[0, 0, 0, 3, b'b', b'a', b'd'])
            .await
            .unwrap();
        let mut sink = Vec::new();
        // The server's hello, then the end of the stream.
        raw.read_to_end(&mut sink).await.unwrap();
        assert_eq!(sink.len(), 4 + HELLO_LEN);
        let conn = connector
            .connect(endpoint.local_addr(), &a.public_key())
            .await
            .unwrap();
        conn.send(&b"still serving".to_vec()).await.unwrap();
        assert_eq!(endpoint.recv().await.unwrap().payload, b"still serving");
    })
    .await
}
