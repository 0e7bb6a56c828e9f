//! Encoding and decoding of [`Message`]s: one version byte, then the
//! postcard encoding of the message, never more than
//! [`MAX_DATAGRAM_SIZE`] bytes in all.

use super::{Message, MAX_DATAGRAM_SIZE, PROTOCOL_VERSION};
use crate::error::{DecodeError, EncodeError};

/// Encodes `msg` into a new datagram.
pub fn encode(msg: &Message) -> Result<Vec<u8>, EncodeError> {
    // Room for the largest datagram up front: a `Nodes` answer (~600
    // bytes) would otherwise grow the buffer twice.
    let mut out = Vec::with_capacity(MAX_DATAGRAM_SIZE);
    encode_into(msg, &mut out)?;
    Ok(out)
}

/// Encodes `msg`, replacing the contents of `out` (lets a driver reuse one
/// buffer). On error `out` is left empty.
pub fn encode_into(msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.clear();
    out.push(PROTOCOL_VERSION);
    let taken = std::mem::take(out);
    match postcard::to_extend(msg, taken) {
        Ok(v) => *out = v,
        Err(_) => {
            return Err(EncodeError::TooLarge {
                size: usize::MAX,
                max: MAX_DATAGRAM_SIZE,
            })
        }
    }
    if out.len() > MAX_DATAGRAM_SIZE {
        let size = out.len();
        out.clear();
        return Err(EncodeError::TooLarge {
            size,
            max: MAX_DATAGRAM_SIZE,
        });
    }
    Ok(())
}

/// Decodes one datagram.
pub fn decode(datagram: &[u8]) -> Result<Message, DecodeError> {
    let (&version, rest) = datagram.split_first().ok_or(DecodeError::Empty)?;
    if datagram.len() > MAX_DATAGRAM_SIZE {
        return Err(DecodeError::DatagramTooLarge {
            size: datagram.len(),
            max: MAX_DATAGRAM_SIZE,
        });
    }
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            found: version,
            supported: PROTOCOL_VERSION,
        });
    }
    let (msg, trailing) = postcard::take_from_bytes::<Message>(rest).map_err(|e| match e {
        postcard::Error::DeserializeUnexpectedEnd => DecodeError::Truncated,
        other => DecodeError::Malformed(other),
    })?;
    if !trailing.is_empty() {
        return Err(DecodeError::TrailingBytes {
            count: trailing.len(),
        });
    }
    Ok(msg)
}
