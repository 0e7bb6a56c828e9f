//! [`Contact`]: a node as the protocol names it, its id and UDP address.
//!
//! This file owns the type only; its encoded size is in `size.rs` and the
//! bounded reading of contact lists in `bounded.rs`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::id::NodeId;

/// A node as seen on the wire: its id and the UDP address it answers on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Contact {
    /// The node's id.
    pub id: NodeId,
    /// The node's UDP address.
    pub addr: SocketAddr,
}
