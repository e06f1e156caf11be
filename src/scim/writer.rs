//! The one SCIM writer: every request that changes something (POST, PUT, PATCH, DELETE) runs
//! on a single thread, in arrival order, behind a small bounded queue. A full queue is
//! answered at once with 429 and `Retry-After` (Entra's provisioning service waits and
//! retries), so a burst never piles up threads waiting on the database.
//!
//! Why one thread: SQLite has one write lock per database. Eight concurrent SCIM writes
//! would take turns on it anyway, while each waiting thread competes with the panel's own
//! sign-in writes (audit, a card's last use). With one writer the panel waits at most for the
//! one transaction in flight (and the store lets the panel go first, see
//! [`crate::store::Store`]). It runs at the panel's CPU priority on purpose: a niced writer
//! is preempted while it holds the write lock, and the panel then waits for it (measured in
//! `benches/scim_load.rs` at nice 5: single panel writes waited up to 90 ms).

use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;

use tokio::sync::oneshot;

use super::error::ScimError;

/// Writes waiting for the writer beyond the one it runs. Entra's provisioning agent sends a
/// handful of requests at a time; more than this waiting means the panel is behind.
pub const QUEUE_DEPTH: usize = 16;
/// Seconds a client is asked to wait when the queue is full.
pub const RETRY_AFTER_SECS: u64 = 1;

type Job<C> = Box<dyn FnOnce(&C) + Send>;

/// A queue in front of one thread that runs jobs over the context `C` (the SCIM provider).
pub struct Writer<C> {
    queue: SyncSender<Job<C>>,
}

impl<C: Send + Sync + 'static> Writer<C> {
    /// Starts the thread; it ends when the last [`Writer`] handle is dropped.
    pub fn start(ctx: Arc<C>, depth: usize) -> std::io::Result<Writer<C>> {
        let (queue, jobs) = mpsc::sync_channel::<Job<C>>(depth);
        std::thread::Builder::new()
            .name("scim-writer".into())
            .spawn(move || {
                // Provisioning is background work (crate::priority). The panel's own writes
                // do not wait behind it at this priority: they go first at the store's gate.
                crate::priority::lower_this_thread();
                for job in jobs {
                    job(&ctx);
                }
            })?;
        Ok(Writer { queue })
    }

    /// Runs `f` on the writer and waits (asynchronously) for its result;
    /// [`ScimError::Busy`] at once when the queue is full.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&C) -> Result<T, ScimError> + Send + 'static,
    ) -> Result<T, ScimError> {
        self.submit(f)?
            .await
            .map_err(|_| ScimError::Internal("a SCIM write panicked".into()))?
    }

    /// Queues `f`; the receiver gets its result.
    fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&C) -> Result<T, ScimError> + Send + 'static,
    ) -> Result<oneshot::Receiver<Result<T, ScimError>>, ScimError> {
        let (done, result) = oneshot::channel();
        let job: Job<C> = Box::new(move |ctx| {
            // The client may have gone away; the write is done either way.
            let _ = done.send(f(ctx));
        });
        match self.queue.try_send(job) {
            Ok(()) => Ok(result),
            Err(TrySendError::Full(_)) => Err(ScimError::Busy(RETRY_AFTER_SECS)),
            Err(TrySendError::Disconnected(_)) => {
                Err(ScimError::Internal("the SCIM writer thread is gone".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_is_refused_at_once_and_what_was_queued_runs_in_order() {
        let w = Writer::start(Arc::new(std::sync::Mutex::new(Vec::new())), 1).unwrap();
        let (started_tx, started) = mpsc::channel();
        let (release, gate) = mpsc::channel::<()>();
        let first = w
            .submit(move |log: &std::sync::Mutex<Vec<i32>>| {
                started_tx.send(()).unwrap();
                gate.recv().unwrap();
                log.lock().unwrap().push(1);
                Ok(1)
            })
            .unwrap();
        // The writer is inside the first job: one more fits the queue, the next does not.
        started.recv().unwrap();
        let second = w
            .submit(|log| {
                log.lock().unwrap().push(2);
                Ok(2)
            })
            .unwrap();
        assert_eq!(
            w.submit(|_| Ok(3)).err(),
            Some(ScimError::Busy(RETRY_AFTER_SECS))
        );
        release.send(()).unwrap();
        assert_eq!(first.blocking_recv().unwrap(), Ok(1));
        assert_eq!(second.blocking_recv().unwrap(), Ok(2));
        let log = w
            .submit(|log| Ok(log.lock().unwrap().clone()))
            .unwrap()
            .blocking_recv()
            .unwrap();
        assert_eq!(log, Ok(vec![1, 2]));
    }
}
