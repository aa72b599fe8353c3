//! Group commit: on SQLite, the writes waiting for their turn are run together, in one
//! transaction.
//!
//! SQLite has one writer at a time, and sqlx runs each statement on the connection's own thread,
//! so a write transaction holds the writers' turn for four hand-offs between threads (BEGIN, the
//! row, its audit entry, COMMIT), each of which waits for a busy core. Under load those waits,
//! not SQLite, set the pace (`docs/benchmarks.md`). Here one task takes every write queued at
//! that moment and runs them back to back in a single transaction: BEGIN and COMMIT are paid
//! once per group instead of once per write.
//!
//! What each write is promised stays the same: it is answered only after the COMMIT that made
//! it durable (under `synchronous = NORMAL`, as before), and it sees exactly the effects of the
//! writes before it. A write that fails must not take the others down, nor leave half of itself
//! behind: when any write of a group fails, the whole group is rolled back and each of its writes
//! is run again alone, in a transaction of its own, and answered from that run. A write may
//! therefore run twice; it must touch nothing but its transaction. A failed COMMIT has an
//! unknown outcome (it may have happened), so then every write of the group is answered as
//! unavailable and none is run again; so is every write of a group whose BEGIN failed.
//!
//! A write whose request is abandoned while it waits in the queue never happens. Once its group
//! has begun it runs to its end, as if the client had gone away just after the answer: the
//! handler's future no longer holds the transaction, so dropping it cannot roll the write back.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::tx::Tx;

/// What the queue writes through: the database handle, which holds the queue. A trait, so that
/// the queue and the handle do not import each other.
pub(super) trait Begins: Clone + Send + Sync + 'static {
    /// Opens a transaction for writing.
    fn begin_write(&self) -> impl Future<Output = Result<Tx, sqlx::Error>> + Send;

    /// How long a write may wait for its turn: as long as a connection may take.
    fn patience(&self) -> Duration;
}

/// What a write returns: a future borrowing its transaction.
pub type Written<'t, T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 't>>;

/// A write: given the transaction, the future that writes in it. It may be called more than
/// once (see the module's documentation).
pub trait Write<T, E>: for<'t> Fn(&'t mut Tx) -> Written<'t, T, E> + Send + Sync + 'static {}

impl<F, T, E> Write<T, E> for F where
    F: for<'t> Fn(&'t mut Tx) -> Written<'t, T, E> + Send + Sync + 'static
{
}

/// The most writes one transaction takes: enough to drain any realistic queue, few enough that
/// a group that fails and is run again write by write stays short.
const MOST: usize = 64;

/// The writes waiting for the group task.
#[derive(Clone, Debug)]
pub(super) struct Queue {
    sender: mpsc::UnboundedSender<Box<dyn Queued>>,
}

/// A write as the queue holds it, whatever it returns.
trait Queued: Send {
    /// Runs the write in `tx`, keeping its outcome for the answer; false when it failed.
    fn run<'t>(&'t mut self, tx: &'t mut Tx) -> Pin<Box<dyn Future<Output = bool> + Send + 't>>;
    /// Answers with the kept outcome.
    fn answer(self: Box<Self>);
    /// Answers with `err` instead.
    fn fail(self: Box<Self>, err: sqlx::Error);
    /// Whether anyone still waits for the answer.
    fn wanted(&self) -> bool;
    /// How long the write has been queued.
    fn waited(&self) -> Duration;
}

struct Pending<F, T, E> {
    write: F,
    outcome: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
    queued: Instant,
}

impl<F, T, E> Queued for Pending<F, T, E>
where
    F: Write<T, E>,
    T: Send + 'static,
    E: From<sqlx::Error> + Send + 'static,
{
    fn run<'t>(&'t mut self, tx: &'t mut Tx) -> Pin<Box<dyn Future<Output = bool> + Send + 't>> {
        Box::pin(async move {
            let outcome = (self.write)(tx).await;
            let ok = outcome.is_ok();
            self.outcome = Some(outcome);
            ok
        })
    }

    fn answer(self: Box<Self>) {
        if let Some(outcome) = self.outcome {
            let _ = self.reply.send(outcome);
        }
    }

    fn fail(self: Box<Self>, err: sqlx::Error) {
        let _ = self.reply.send(Err(E::from(err)));
    }

    fn wanted(&self) -> bool {
        !self.reply.is_closed()
    }

    fn waited(&self) -> Duration {
        self.queued.elapsed()
    }
}

impl Queue {
    /// Starts the group task on the current runtime. It writes through `db`, which must not hold
    /// this queue (the task ends when the last handle holding the queue is dropped).
    pub(super) fn start(db: impl Begins) -> Queue {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(serve(db, receiver));
        Queue { sender }
    }

    /// Queues `write` and waits for its answer.
    pub(super) async fn write<F, T, E>(&self, write: F) -> Result<T, E>
    where
        F: Write<T, E>,
        T: Send + 'static,
        E: From<sqlx::Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            write,
            outcome: None,
            reply,
            queued: Instant::now(),
        };
        if self.sender.send(Box::new(pending)).is_err() {
            return Err(E::from(sqlx::Error::PoolClosed));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(E::from(sqlx::Error::PoolClosed)))
    }
}

/// Takes whatever is queued, up to [`MOST`] writes, and writes it as one group, until every
/// handle on the queue is gone. Each group runs in a task of its own, so that a write that
/// panics takes down its group's answers (503) but not the writes after it.
async fn serve(db: impl Begins, mut queue: mpsc::UnboundedReceiver<Box<dyn Queued>>) {
    let mut taken = Vec::with_capacity(MOST);
    while queue.recv_many(&mut taken, MOST).await > 0 {
        let group: Vec<_> = taken
            .drain(..)
            .filter_map(|write| ready(&db, write))
            .collect();
        if let Err(err) = tokio::spawn(run(db.clone(), group)).await {
            tracing::error!(%err, "a write failed unexpectedly; its group was answered 503");
        }
    }
}

/// `write`, unless it should not run (any more): when its request was abandoned before it began,
/// it never happens; when it waited longer than a connection may take, it is answered as a
/// pool timeout (503, try later).
fn ready(db: &impl Begins, write: Box<dyn Queued>) -> Option<Box<dyn Queued>> {
    if !write.wanted() {
        return None;
    }
    if write.waited() > db.patience() {
        write.fail(sqlx::Error::PoolTimedOut);
        return None;
    }
    Some(write)
}

/// How a group's transaction ended.
enum Together {
    /// Every write ran and the COMMIT succeeded.
    Committed,
    /// A write failed: the transaction was rolled back, nothing happened.
    WriteFailed,
    /// BEGIN or COMMIT failed: the database cannot write now, or (COMMIT) the outcome is unknown.
    Failed(sqlx::Error),
}

/// Writes `group` in one transaction; when one of them fails, each alone.
async fn run(db: impl Begins, mut group: Vec<Box<dyn Queued>>) {
    if group.len() > 1 {
        match together(&db, &mut group).await {
            Together::Committed => {
                group.into_iter().for_each(|write| write.answer());
                return;
            }
            Together::WriteFailed => {}
            Together::Failed(err) => {
                for write in group {
                    write.fail(group_failed(&err));
                }
                return;
            }
        }
    }
    for write in group {
        // Run again only what is still wanted and in time: after a write that failed because
        // the database stopped answering, the others give up within `acquire_timeout`.
        if let Some(write) = ready(&db, write) {
            alone(&db, write).await;
        }
    }
}

/// Runs every write of `group` in one transaction.
async fn together(db: &impl Begins, group: &mut [Box<dyn Queued>]) -> Together {
    let mut tx = match db.begin_write().await {
        Ok(tx) => tx,
        Err(err) => return Together::Failed(err),
    };
    for write in group.iter_mut() {
        if !write.run(&mut tx).await {
            tx.rollback().await;
            return Together::WriteFailed;
        }
    }
    match tx.commit().await {
        Ok(()) => Together::Committed,
        Err(err) => Together::Failed(err),
    }
}

/// Runs one write in a transaction of its own and answers it.
async fn alone(db: &impl Begins, mut write: Box<dyn Queued>) {
    let mut tx = match db.begin_write().await {
        Ok(tx) => tx,
        Err(err) => return write.fail(err),
    };
    if write.run(&mut tx).await {
        if let Err(err) = tx.commit().await {
            return write.fail(err);
        }
    } else {
        tx.rollback().await;
    }
    write.answer();
}

/// What each write of a group is told when the group's BEGIN or COMMIT failed: unavailable, try
/// again (503); after a failed COMMIT the outcome is unknown.
fn group_failed(err: &sqlx::Error) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(format!(
        "the transaction of this write, made together with others, failed: {err}"
    )))
}
