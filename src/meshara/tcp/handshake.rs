//! Frames and the handshake of the reference TCP transport (see the
//! parent module for the format). Works on any byte stream, so it is
//! tested over in-memory pipes too; it never opens a socket itself.

use rand::RngCore;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::TcpError;
use crate::meshara::contact::verify_meshara_signature;
use crate::meshara::traits::{MesharaKey, Signer};

/// Domain separation of handshake proofs.
pub const HANDSHAKE_DOMAIN: &[u8] = b"meshara-dht/v1/tcp-handshake";

/// First bytes of a Hello.
pub(super) const MAGIC: &[u8; 8] = b"MDHTTCP1";

pub(super) const HELLO_LEN: usize = 8 + 64 + 32;
pub(super) const PROOF_LEN: usize = 64;

pub(super) async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    bytes: &[u8],
    max: usize,
) -> Result<(), TcpError> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|_| bytes.len() <= max)
        .ok_or(TcpError::FrameTooLarge {
            size: bytes.len(),
            max,
        })?;
    let mut frame = Vec::with_capacity(4 + bytes.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(bytes);
    w.write_all(&frame).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one frame; [`TcpError::Closed`] on a clean end of stream.
pub(super) async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Vec<u8>, TcpError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(TcpError::Closed),
        Err(e) => return Err(e.into()),
    }
    let size = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
    if size > max {
        return Err(TcpError::FrameTooLarge { size, max });
    }
    let mut buf = vec![0u8; size];
    r.read_exact(&mut buf).await?;
    Ok(buf)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Client,
    Server,
}

impl Role {
    fn byte(self) -> u8 {
        match self {
            Role::Client => b'C',
            Role::Server => b'S',
        }
    }

    fn other(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }
}

/// The bytes the side with `role` signs.
pub(super) fn proof_message(
    role: Role,
    verifier_nonce: &[u8; 32],
    signer_nonce: &[u8; 32],
    signer_key: &MesharaKey,
    verifier_key: &MesharaKey,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(HANDSHAKE_DOMAIN.len() + 1 + 32 + 32 + 64 + 64);
    m.extend_from_slice(HANDSHAKE_DOMAIN);
    m.push(role.byte());
    m.extend_from_slice(verifier_nonce);
    m.extend_from_slice(signer_nonce);
    m.extend_from_slice(signer_key);
    m.extend_from_slice(verifier_key);
    m
}

pub(super) enum HandshakeError {
    Transport(TcpError),
    /// The peer's proof does not verify for the key it claimed.
    BadProof,
}

impl From<TcpError> for HandshakeError {
    fn from(e: TcpError) -> Self {
        HandshakeError::Transport(e)
    }
}

/// Runs the handshake as `role`; returns the key the peer proved.
pub(super) async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    signer: &dyn Signer,
    role: Role,
) -> Result<MesharaKey, HandshakeError> {
    let mut nonce = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let own_key = signer.public_key();
    let mut hello = Vec::with_capacity(HELLO_LEN);
    hello.extend_from_slice(MAGIC);
    hello.extend_from_slice(&own_key);
    hello.extend_from_slice(&nonce);
    write_frame(stream, &hello, HELLO_LEN).await?;

    let peer_hello = read_frame(stream, HELLO_LEN).await?;
    let (peer_key, peer_nonce) = parse_hello(&peer_hello).ok_or(TcpError::BadHello)?;
    let proof = signer.sign(&proof_message(
        role,
        &peer_nonce,
        &nonce,
        &own_key,
        &peer_key,
    ));
    write_frame(stream, &proof, PROOF_LEN).await?;

    let peer_proof = read_frame(stream, PROOF_LEN).await?;
    let peer_proof: [u8; 64] = peer_proof
        .as_slice()
        .try_into()
        .map_err(|_| TcpError::BadHello)?;
    let expected = proof_message(role.other(), &nonce, &peer_nonce, &peer_key, &own_key);
    if !verify_meshara_signature(&peer_key, &expected, &peer_proof) {
        return Err(HandshakeError::BadProof);
    }
    Ok(peer_key)
}

fn parse_hello(bytes: &[u8]) -> Option<(MesharaKey, [u8; 32])> {
    if bytes.len() != HELLO_LEN || bytes.get(..8)? != MAGIC {
        return None;
    }
    let key: MesharaKey = bytes.get(8..72)?.try_into().ok()?;
    let nonce: [u8; 32] = bytes.get(72..104)?.try_into().ok()?;
    Some((key, nonce))
}
