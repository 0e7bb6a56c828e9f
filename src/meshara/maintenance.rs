//! The maintenance task: re-advertise hourly (jittered), bootstrap every
//! five minutes, re-advertise at once when the local addresses change, and
//! back off exponentially when either fails.
//!
//! The loop only schedules. What advertising and bootstrapping mean is the
//! [`Maintain`] implementation's business ([`MesharaDht`] counts the
//! outcomes in its `stats()`), so the schedule can be tested against a fake
//! under `tokio::time::pause()`. Time is tokio's clock; the jitter comes
//! from an RNG seeded from [`MaintenanceConfig::seed`].

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::adapter::MesharaDht;
use super::error::AdvertiseError;
use crate::error::DhtError;

/// What the maintenance task keeps doing.
pub trait Maintain: Send + Sync + 'static {
    /// Why a step failed.
    type Error: std::fmt::Display + Send;

    /// Publishes the node's contact with these (non-empty) addresses.
    fn advertise(
        &self,
        addresses: &[SocketAddr],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Refreshes the node's view of the network.
    fn bootstrap(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Why [`MesharaDht`]'s maintenance step failed.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// Advertising failed.
    #[error("advertise: {0}")]
    Advertise(#[from] AdvertiseError),
    /// Bootstrapping failed.
    #[error("bootstrap: {0}")]
    Bootstrap(#[from] DhtError),
}

impl Maintain for MesharaDht {
    type Error = MaintenanceError;

    async fn advertise(&self, addresses: &[SocketAddr]) -> Result<(), MaintenanceError> {
        self.advertise_self(addresses).await?;
        if self.advertises_authority() {
            self.advertise_authority(addresses).await?;
        }
        Ok(())
    }

    async fn bootstrap(&self) -> Result<(), MaintenanceError> {
        MesharaDht::bootstrap(self).await?;
        Ok(())
    }
}

/// The schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceConfig {
    /// Between advertisements. Default 1 h (records live 2 h, so one lost
    /// advertisement does not make the node disappear).
    pub advertise_interval: Duration,
    /// Each advertisement interval is scaled by a random factor in
    /// `1 ± jitter` (clamped to 0..=0.5), so nodes started together do not
    /// advertise in lockstep. Default 0.1.
    pub jitter: f64,
    /// Between bootstraps. Default 5 min.
    pub bootstrap_interval: Duration,
    /// First retry delay after a failure; doubled after each further
    /// failure of the same step. Default 5 s.
    pub retry_initial: Duration,
    /// Cap of the retry delay. Default 5 min.
    pub retry_max: Duration,
    /// Seed of the jitter RNG. Default `None`: drawn at spawn.
    pub seed: Option<u64>,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            advertise_interval: Duration::from_secs(3600),
            jitter: 0.1,
            bootstrap_interval: Duration::from_secs(5 * 60),
            retry_initial: Duration::from_secs(5),
            retry_max: Duration::from_secs(5 * 60),
            seed: None,
        }
    }
}

impl MaintenanceConfig {
    /// `retry_initial * 2^(failures - 1)`, capped at `retry_max`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(30);
        self.retry_initial
            .saturating_mul(1u32 << shift)
            .min(self.retry_max)
    }

    fn jittered(&self, rng: &mut StdRng) -> Duration {
        let j = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 0.5)
        } else {
            0.0
        };
        let factor = if j > 0.0 {
            rng.gen_range(1.0 - j..=1.0 + j)
        } else {
            1.0
        };
        self.advertise_interval.mul_f64(factor)
    }
}

/// The running maintenance task. [`MaintenanceHandle::cancel`] or dropping
/// the handle stops it.
#[derive(Debug)]
pub struct MaintenanceHandle {
    task: JoinHandle<()>,
}

impl MaintenanceHandle {
    /// Stops the task (an advertisement or bootstrap in progress is
    /// abandoned; the DHT node finishes what it already sent).
    pub fn cancel(&self) {
        self.task.abort();
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for MaintenanceHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MesharaDht {
    /// Starts maintaining this node: bootstrap and advertise now, then on
    /// the schedule of `config`, re-advertising as soon as `addresses`
    /// changes. Counts land in [`MesharaDht::stats`].
    pub fn spawn_maintenance(
        &self,
        addresses: watch::Receiver<Vec<SocketAddr>>,
        config: MaintenanceConfig,
    ) -> MaintenanceHandle {
        spawn_maintenance(self.clone(), addresses, config)
    }
}

/// Starts the maintenance loop for `target` (must be called inside a tokio
/// runtime). The first bootstrap and advertisement happen at once; an
/// empty address list means "nothing to advertise yet" and waits for a
/// change.
pub fn spawn_maintenance<T: Maintain>(
    target: T,
    addresses: watch::Receiver<Vec<SocketAddr>>,
    config: MaintenanceConfig,
) -> MaintenanceHandle {
    let task = tokio::spawn(run(target, addresses, config));
    MaintenanceHandle { task }
}

/// When a step runs next, and how often it failed in a row.
struct Step {
    next: Instant,
    failures: u32,
}

async fn run<T: Maintain>(
    target: T,
    mut addresses: watch::Receiver<Vec<SocketAddr>>,
    config: MaintenanceConfig,
) {
    let mut rng = StdRng::seed_from_u64(config.seed.unwrap_or_else(rand::random));
    let start = Instant::now();
    let mut boot = Step {
        next: start,
        failures: 0,
    };
    let mut adv = Step {
        next: start,
        failures: 0,
    };
    let mut advertised: Option<Vec<SocketAddr>> = None;
    let mut watching = true;
    loop {
        let now = Instant::now();
        if now >= boot.next {
            match target.bootstrap().await {
                Ok(()) => {
                    boot.failures = 0;
                    boot.next = now + config.bootstrap_interval;
                }
                Err(e) => {
                    boot.failures = boot.failures.saturating_add(1);
                    boot.next = now + config.backoff(boot.failures);
                    tracing::warn!(error = %e, failures = boot.failures, "maintenance bootstrap failed");
                }
            }
        }
        if now >= adv.next {
            let current = addresses.borrow_and_update().clone();
            if current.is_empty() {
                // Nothing to advertise until the addresses are known.
                adv.next = far_future(now);
            } else {
                match target.advertise(&current).await {
                    Ok(()) => {
                        adv.failures = 0;
                        adv.next = now + config.jittered(&mut rng);
                        tracing::debug!(addresses = ?current, "maintenance advertised");
                        advertised = Some(current);
                    }
                    Err(e) => {
                        adv.failures = adv.failures.saturating_add(1);
                        adv.next = now + config.backoff(adv.failures);
                        tracing::warn!(error = %e, failures = adv.failures, "maintenance advertisement failed");
                    }
                }
            }
        }
        let wake = boot.next.min(adv.next);
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            changed = addresses.changed(), if watching => match changed {
                Ok(()) => {
                    let differs = advertised.as_deref() != Some(addresses.borrow().as_slice());
                    if differs {
                        tracing::info!(addresses = ?*addresses.borrow(), "local addresses changed; re-advertising");
                        adv.next = Instant::now();
                        adv.failures = 0;
                    }
                }
                // The sender is gone: keep the last addresses.
                Err(_) => watching = false,
            },
        }
    }
}

/// A wake-up time far enough to mean "not until something changes".
fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(365 * 24 * 3600)
}
