//! [`SimError`]: why a simulation could not be set up.
//!
//! This file owns the error type only; `crate::error` re-exports it.

use crate::config::ConfigError;

/// A simulation could not be set up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// The engines' configuration is inconsistent.
    #[error("invalid node configuration: {0}")]
    Config(#[from] ConfigError),
    /// A network needs at least one node.
    #[error("a simulation needs at least one node")]
    NoNodes,
    /// More nodes than the simulator can give addresses to.
    #[error("a simulation holds at most {max} nodes")]
    TooManyNodes {
        /// The limit.
        max: usize,
    },
    /// A field that must be positive is zero.
    #[error("simulation field `{field}` must be greater than zero")]
    Zero {
        /// The field.
        field: &'static str,
    },
    /// A probability outside 0..=1.
    #[error("simulation field `{field}` is a probability, found {value}")]
    NotAProbability {
        /// The field.
        field: &'static str,
        /// The value found.
        value: f64,
    },
    /// A rate or shape parameter that is negative or not finite.
    #[error("simulation field `{field}` must be finite and not negative, found {value}")]
    NegativeRate {
        /// The field.
        field: &'static str,
        /// The value found.
        value: f64,
    },
    /// A uniform latency range whose minimum exceeds its maximum.
    #[error("latency range minimum exceeds its maximum")]
    LatencyOrder,
}
