//! The proven connector over an in-memory transport: the key proof (good,
//! wrong key, forged, relayed to another session), the pool's recovery
//! from dead, moved and failing connections, and the time limits.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::*;
use crate::meshara::reference::KeySigner;

/// How a fake peer answers a key challenge.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Signs with its own key, bound to the session.
    Honest,
    /// Never answers.
    Silent,
    /// Sends its key with a signature over something else.
    Forged,
    /// Answers for another session (a relay passing the nonce on).
    OtherSession,
}

/// A peer listening at one address.
struct Peer {
    signer: KeySigner,
    answer: Answer,
    received: Mutex<Vec<Vec<u8>>>,
    /// Open connections; a hang-up closes them all.
    open: Mutex<Vec<Arc<AtomicBool>>>,
}

impl Peer {
    fn new(seed: u64, answer: Answer) -> Arc<Peer> {
        Arc::new(Peer {
            signer: KeySigner::from_seed(seed),
            answer,
            received: Mutex::new(Vec::new()),
            open: Mutex::new(Vec::new()),
        })
    }

    fn key(&self) -> MesharaKey {
        self.signer.public_key()
    }

    fn id(&self) -> MesharaId {
        self.signer.meshara_id()
    }

    fn received(&self) -> Vec<Vec<u8>> {
        lock(&self.received).clone()
    }

    fn hang_up(&self) {
        for flag in lock(&self.open).drain(..) {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("fake transport: {0}")]
struct FakeError(&'static str);

struct FakeChannel {
    peer: Arc<Peer>,
    binding: [u8; 32],
    closed: Arc<AtomicBool>,
}

impl Channel for FakeChannel {
    type Msg = Vec<u8>;
    type Error = FakeError;

    async fn send(&self, message: &Vec<u8>) -> Result<(), FakeError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(FakeError("closed"));
        }
        lock(&self.peer.received).push(message.clone());
        Ok(())
    }

    async fn request_key_proof(&self, nonce: &[u8; 32]) -> Result<Vec<u8>, FakeError> {
        let signer = &self.peer.signer;
        match self.peer.answer {
            Answer::Honest => Ok(answer_key_challenge(signer, nonce, Some(&self.binding)).unwrap()),
            Answer::Silent => std::future::pending().await,
            Answer::Forged => Ok([
                &signer.public_key()[..],
                &signer.sign(b"something else")[..],
            ]
            .concat()),
            Answer::OtherSession => {
                Ok(answer_key_challenge(signer, nonce, Some(&[9; 32])).unwrap())
            }
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    fn session_binding(&self) -> Option<[u8; 32]> {
        Some(self.binding)
    }
}

/// Addresses to peers; counts dials.
#[derive(Default)]
struct FakeDialer {
    peers: Mutex<HashMap<SocketAddr, Arc<Peer>>>,
    neighbours: Mutex<HashMap<MesharaId, Arc<Peer>>>,
    dials: AtomicUsize,
}

impl FakeDialer {
    fn listen(&self, addr: SocketAddr, peer: &Arc<Peer>) {
        lock(&self.peers).insert(addr, peer.clone());
    }

    fn channel(peer: &Arc<Peer>) -> FakeChannel {
        let closed = Arc::new(AtomicBool::new(false));
        lock(&peer.open).push(closed.clone());
        FakeChannel {
            peer: peer.clone(),
            binding: rand::random(),
            closed,
        }
    }
}

impl Dialer for FakeDialer {
    type Channel = FakeChannel;

    async fn dial(&self, _peer: &MesharaId, addr: SocketAddr) -> Result<FakeChannel, FakeError> {
        self.dials.fetch_add(1, Ordering::Relaxed);
        let peer = lock(&self.peers).get(&addr).cloned();
        peer.map(|p| Self::channel(&p))
            .ok_or(FakeError("connection refused"))
    }

    fn neighbour(&self, peer: &MesharaId) -> Option<FakeChannel> {
        lock(&self.neighbours).get(peer).map(Self::channel)
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn connector() -> ProvenConnector<FakeDialer> {
    ProvenConnector::new(FakeDialer::default())
}

fn dials(c: &ProvenConnector<FakeDialer>) -> usize {
    c.dialer().dials.load(Ordering::Relaxed)
}

#[tokio::test]
async fn peer_that_proves_its_key_gets_the_message_and_stays_pooled() {
    let c = connector();
    let a = Peer::new(1, Answer::Honest);
    c.dialer().listen(addr(1), &a);
    for message in [b"one".to_vec(), b"two".to_vec()] {
        let conn = c.get_or_connect(&a.id(), addr(1), &a.key()).await.unwrap();
        conn.send(&message).await.unwrap();
    }
    assert_eq!(a.received(), vec![b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(dials(&c), 1);
    assert_eq!(c.pooled(), 1);
}

#[tokio::test]
async fn peer_proving_another_key_is_refused_with_its_id() {
    let c = connector();
    let (a, impostor) = (Peer::new(1, Answer::Honest), Peer::new(2, Answer::Honest));
    c.dialer().listen(addr(1), &impostor);
    let err = c
        .get_or_connect(&a.id(), addr(1), &a.key())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ConnectError::KeyMismatch { expected, proven: Some(p), .. } if expected == a.id() && p == impostor.id()
    ));
    assert_eq!(c.pooled(), 0);
}

#[tokio::test]
async fn forged_or_relayed_answers_prove_nothing() {
    for answer in [Answer::Forged, Answer::OtherSession] {
        let c = connector();
        let a = Peer::new(1, answer);
        c.dialer().listen(addr(1), &a);
        let err = c
            .get_or_connect(&a.id(), addr(1), &a.key())
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ConnectError::KeyMismatch { proven: None, .. }
        ));
        assert_eq!(c.pooled(), 0);
    }
}

#[tokio::test]
async fn key_that_is_not_the_destinations_is_refused_without_dialling() {
    let c = connector();
    let (a, b) = (Peer::new(1, Answer::Honest), Peer::new(2, Answer::Honest));
    c.dialer().listen(addr(1), &a);
    let err = c
        .get_or_connect(&a.id(), addr(1), &b.key())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ConnectError::KeyMismatch { proven: None, .. }
    ));
    assert_eq!(dials(&c), 0);
}

#[tokio::test]
async fn peer_that_hung_up_is_dialled_again_and_gets_the_next_message() {
    let c = connector();
    let a = Peer::new(1, Answer::Honest);
    c.dialer().listen(addr(1), &a);
    let conn = c.get_or_connect(&a.id(), addr(1), &a.key()).await.unwrap();
    conn.send(&b"one".to_vec()).await.unwrap();
    a.hang_up();
    assert_eq!(c.pooled(), 0);
    let conn = c.get_or_connect(&a.id(), addr(1), &a.key()).await.unwrap();
    conn.send(&b"two".to_vec()).await.unwrap();
    assert_eq!(a.received(), vec![b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(dials(&c), 2);
}

#[tokio::test]
async fn failed_send_drops_the_connection_from_the_pool() {
    let c = connector();
    let a = Peer::new(1, Answer::Honest);
    c.dialer().listen(addr(1), &a);
    let conn = c.get_or_connect(&a.id(), addr(1), &a.key()).await.unwrap();
    a.hang_up();
    assert!(matches!(
        conn.send(&b"lost".to_vec()).await,
        Err(ProvenError::Transport(_))
    ));
    assert!(lock(&c.inner.pool).is_empty());
}

#[tokio::test]
async fn peer_at_a_new_address_is_dialled_there() {
    let c = connector();
    let a = Peer::new(1, Answer::Honest);
    c.dialer().listen(addr(1), &a);
    c.get_or_connect(&a.id(), addr(1), &a.key()).await.unwrap();
    c.dialer().listen(addr(2), &a);
    c.get_or_connect(&a.id(), addr(2), &a.key()).await.unwrap();
    assert_eq!(dials(&c), 2);
    assert_eq!(lock(&c.inner.pool)[&a.id()].addr, addr(2));
}

#[tokio::test(start_paused = true)]
async fn silent_peer_and_unreachable_address_fail_within_their_time_limits() {
    let c = connector();
    let a = Peer::new(1, Answer::Silent);
    c.dialer().listen(addr(1), &a);
    let err = c
        .get_or_connect(&a.id(), addr(1), &a.key())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ConnectError::Transport(ProvenError::Timeout { stage: "key proof" })
    ));
    let err = c
        .get_or_connect(&a.id(), addr(9), &a.key())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ConnectError::Transport(ProvenError::Transport(_))
    ));
}

#[tokio::test]
async fn direct_prefers_a_live_pooled_connection_then_the_routers_neighbour() {
    let c = connector();
    let (a, n) = (Peer::new(1, Answer::Honest), Peer::new(2, Answer::Honest));
    assert!(c.direct(&n.id()).is_none());
    lock(&c.dialer().neighbours).insert(n.id(), n.clone());
    c.direct(&n.id())
        .unwrap()
        .send(&b"hop".to_vec())
        .await
        .unwrap();
    assert_eq!(n.received(), vec![b"hop".to_vec()]);

    c.dialer().listen(addr(1), &a);
    c.get_or_connect(&a.id(), addr(1), &a.key()).await.unwrap();
    c.direct(&a.id())
        .unwrap()
        .send(&b"x".to_vec())
        .await
        .unwrap();
    assert_eq!(a.received(), vec![b"x".to_vec()]);
    a.hang_up();
    assert!(c.direct(&a.id()).is_none());
}

#[test]
fn answers_shorter_or_longer_than_128_bytes_prove_nothing() {
    let a = KeySigner::from_seed(1);
    let nonce = [3; 32];
    let good = answer_key_challenge(&a, &nonce, None).unwrap();
    assert!(check_key_answer::<()>(&a.public_key(), addr(1), &nonce, None, &good).is_ok());
    for bad in [&good[..127], &[&good[..], &[0]].concat()[..], &[][..]] {
        assert!(matches!(
            check_key_answer::<()>(&a.public_key(), addr(1), &nonce, None, bad),
            Err(ConnectError::KeyMismatch { proven: None, .. })
        ));
    }
    assert!(answer_key_challenge(&a, &nonce[..31], None).is_none());
}
