//! The simulator's worker threads: started once, fed one job per
//! lookahead window, stopped when the simulation is dropped.
//!
//! This module owns those threads and nothing else. Spawning threads for
//! every window would cost more than a small window's work is worth
//! sharing, and a lookup phase is mostly small windows (figures:
//! docs/BENCHMARKS.md, "Simulator"); long-lived workers hand a job over
//! and back for a channel message each way.
//!
//! Each worker runs one job at a time, in the order given; which thread
//! ran a job never shows in its result, so runs stay the same whatever the
//! number of threads. A job that panics is re-raised on the thread that
//! waits for it.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, PoisonError};
use std::thread::{self, JoinHandle};

/// What a worker sends back: the job's result, or its panic.
type Done<D> = thread::Result<D>;

/// Worker threads that each run `run` on the jobs they are given.
pub(super) struct Pool<J, D> {
    run: fn(J) -> D,
    workers: Vec<Worker<J, D>>,
}

struct Worker<J, D> {
    /// `None` once the pool is dropping: the worker's loop then ends.
    jobs: Option<Sender<J>>,
    /// In a `Mutex` only so that the pool, and the simulation holding it,
    /// stay `Sync`; `run_all` has `&mut self` and never locks it.
    done: Mutex<Receiver<Done<D>>>,
    handle: Option<JoinHandle<()>>,
}

impl<J: Send + 'static, D: Send + 'static> Pool<J, D> {
    /// A pool with no thread yet.
    pub(super) fn new(run: fn(J) -> D) -> Self {
        Pool {
            run,
            workers: Vec::new(),
        }
    }

    /// Makes sure workers `0..n` exist.
    fn ensure(&mut self, n: usize) {
        while self.workers.len() < n {
            let (jobs, job_rx) = channel::<J>();
            let (done_tx, done) = channel::<Done<D>>();
            let run = self.run;
            let handle = thread::Builder::new()
                .name(format!("sim-worker-{}", self.workers.len() + 1))
                .spawn(move || {
                    // Ends when the pool drops its sender (or stops
                    // listening).
                    while let Ok(job) = job_rx.recv() {
                        let result = panic::catch_unwind(AssertUnwindSafe(|| run(job)));
                        if done_tx.send(result).is_err() {
                            break;
                        }
                    }
                });
            match handle {
                Ok(handle) => self.workers.push(Worker {
                    jobs: Some(jobs),
                    done: Mutex::new(done),
                    handle: Some(handle),
                }),
                // No thread to be had: the caller runs the job itself.
                Err(_) => return,
            }
        }
    }

    /// Runs `jobs[0]` on the calling thread and each other job on a
    /// worker, and returns the results in the order of `jobs`.
    pub(super) fn run_all(&mut self, jobs: Vec<J>) -> Vec<D> {
        self.ensure(jobs.len().saturating_sub(1));
        let mut jobs = jobs.into_iter();
        let first = jobs.next();
        // Jobs beyond the workers there are (a failed spawn) run here too.
        let mut here = Vec::new();
        let mut sent = 0;
        for job in jobs {
            match self.workers.get(sent).and_then(|w| w.jobs.as_ref()) {
                Some(sender) => match sender.send(job) {
                    Ok(()) => sent += 1,
                    Err(returned) => here.push(returned.0),
                },
                None => here.push(job),
            }
        }
        let run = self.run;
        let mut results = Vec::with_capacity(sent + here.len() + 1);
        // Every sent job is waited for, even after a panic, so that no
        // result is left behind for a later call to pick up by mistake.
        let mut first_panic = None;
        let mut keep = |done: Done<D>| match done {
            Ok(d) => results.push(d),
            Err(panic) => {
                first_panic.get_or_insert(panic);
            }
        };
        if let Some(job) = first {
            keep(panic::catch_unwind(AssertUnwindSafe(|| run(job))));
        }
        for w in self.workers.iter_mut().take(sent) {
            let done = w.done.get_mut().unwrap_or_else(PoisonError::into_inner);
            // A worker catches its jobs' panics, so it answers every job.
            keep(
                done.recv()
                    .unwrap_or_else(|_| Err(Box::new("simulator worker thread vanished"))),
            );
        }
        for job in here {
            keep(panic::catch_unwind(AssertUnwindSafe(|| run(job))));
        }
        if let Some(panic) = first_panic {
            panic::resume_unwind(panic);
        }
        results
    }
}

impl<J, D> Drop for Pool<J, D> {
    fn drop(&mut self) {
        for w in &mut self.workers {
            w.jobs = None;
        }
        for w in &mut self.workers {
            if let Some(h) = w.handle.take() {
                // A worker only ends by its loop ending; a panic inside a
                // job was caught and already reported.
                let _ = h.join();
            }
        }
    }
}

/// A copy of a simulation starts without threads of its own.
impl<J: Send + 'static, D: Send + 'static> Clone for Pool<J, D> {
    fn clone(&self) -> Self {
        Pool::new(self.run)
    }
}

impl<J, D> std::fmt::Debug for Pool<J, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.workers.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x: u64) -> u64 {
        x * x
    }

    fn boom(x: u64) -> u64 {
        assert!(x != 3, "job 3 fails");
        x
    }

    #[test]
    fn results_come_back_in_job_order_window_after_window() {
        let mut pool = Pool::new(square);
        for round in 0..50u64 {
            let n = 1 + (round % 4) as usize;
            let jobs: Vec<u64> = (0..n as u64).map(|i| i + round).collect();
            let expected: Vec<u64> = jobs.iter().map(|&x| x * x).collect();
            assert_eq!(pool.run_all(jobs), expected);
        }
        assert_eq!(pool.workers.len(), 3);
        assert!(pool.run_all(Vec::new()).is_empty());
    }

    #[test]
    fn a_panicking_job_panics_the_caller_and_the_pool_still_drops() {
        let mut pool = Pool::new(boom);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| pool.run_all(vec![1, 2, 3])));
        assert!(caught.is_err());
        // The worker that caught the panic keeps serving.
        assert_eq!(pool.run_all(vec![1, 2, 4]), vec![1, 2, 4]);
        drop(pool);
    }

    #[test]
    fn a_clone_starts_without_threads() {
        let mut pool = Pool::new(square);
        assert_eq!(pool.run_all(vec![2, 3]), vec![4, 9]);
        let copy = pool.clone();
        assert_eq!(copy.workers.len(), 0);
    }
}
