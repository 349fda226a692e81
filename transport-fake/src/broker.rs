//! The process-wide in-memory broker all `fake://` transports share.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use tokio::sync::Notify;
use tokio::time::Instant;

use courier_runtime::transport::{Headers, ReplySender};

/// One message body in a queue, with its expiry (a call's timeout) and headers.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    pub(crate) body: Vec<u8>,
    pub(crate) expires_at: Option<Instant>,
    /// Delivered before and put back (requeued, or taken back by a dropped connection).
    pub(crate) redelivered: bool,
    /// The headers it was published with.
    pub(crate) headers: Headers,
}

impl Stored {
    pub(crate) fn new(body: Vec<u8>, expires_at: Option<Instant>, headers: Headers) -> Self {
        Self { body, expires_at, redelivered: false, headers }
    }

    /// The same message, flagged as a broker flags a message it delivers again.
    pub(crate) fn into_redelivered(self) -> Self {
        Self { redelivered: true, ..self }
    }
}

/// A FIFO with competing consumers. Consumers register a [`Notify`] to be woken on delivery.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    messages: Mutex<VecDeque<Stored>>,
    consumers: Mutex<Vec<Weak<Notify>>>,
}

impl Queue {
    pub(crate) fn push_back(&self, message: Stored) {
        lock(&self.messages).push_back(message);
        self.wake();
    }

    /// Puts a message back at the head, as a broker requeue does.
    pub(crate) fn push_front(&self, message: Stored) {
        lock(&self.messages).push_front(message);
        self.wake();
    }

    /// The next message that has not expired: the oldest, or the newest when `newest_first`
    /// (a reordering fault).
    pub(crate) fn pop(&self, newest_first: bool) -> Option<Stored> {
        let mut messages = lock(&self.messages);
        let now = Instant::now();
        while let Some(message) = if newest_first { messages.pop_back() } else { messages.pop_front() } {
            match message.expires_at {
                Some(deadline) if deadline <= now => tracing::debug!("dropping an expired message"),
                _ => return Some(message),
            }
        }
        None
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.messages).len()
    }

    pub(crate) fn subscribe(&self, waker: &Arc<Notify>) {
        let mut consumers = lock(&self.consumers);
        consumers.retain(|w| w.strong_count() > 0);
        consumers.push(Arc::downgrade(waker));
    }

    fn wake(&self) {
        for consumer in lock(&self.consumers).iter().filter_map(Weak::upgrade) {
            consumer.notify_one();
        }
    }
}

/// A queue key: `(topic, pool)` for topic queues, `(topic, server)` for server queues.
type Key = (String, Option<String>);

/// Queues of one exchange, as oslo's `FakeExchange`.
#[derive(Debug, Default)]
pub(crate) struct Exchange {
    topic_queues: HashMap<Key, Arc<Queue>>,
    server_queues: HashMap<Key, Arc<Queue>>,
}

/// Where a reply queue's replies go: the waiting calls of one transport.
pub(crate) type ReplyRouter = Weak<Mutex<HashMap<String, ReplySender>>>;

#[derive(Debug, Default)]
pub(crate) struct Broker {
    exchanges: HashMap<String, Exchange>,
    reply_queues: HashMap<String, ReplyRouter>,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn broker() -> std::sync::MutexGuard<'static, Broker> {
    static BROKER: OnceLock<Mutex<Broker>> = OnceLock::new();
    lock(BROKER.get_or_init(Default::default))
}

impl Broker {
    fn exchange(&mut self, name: &str) -> &mut Exchange {
        self.exchanges.entry(name.to_owned()).or_default()
    }

    /// The `(topic, pool)` queue, created on demand; a new pool queue starts with a copy of
    /// the pool-less queue's backlog, as oslo's fake driver does.
    pub(crate) fn topic_queue(&mut self, exchange: &str, topic: &str, pool: Option<&str>) -> Arc<Queue> {
        let exchange = self.exchange(exchange);
        let key = (topic.to_owned(), pool.map(str::to_owned));
        if let Some(queue) = exchange.topic_queues.get(&key) {
            return Arc::clone(queue);
        }
        let queue = Arc::new(Queue::default());
        if pool.is_some()
            && let Some(default) = exchange.topic_queues.get(&(topic.to_owned(), None))
        {
            lock(&queue.messages).extend(lock(&default.messages).iter().cloned());
        }
        exchange.topic_queues.insert(key, Arc::clone(&queue));
        queue
    }

    /// The `(topic, server)` queue, created on demand.
    pub(crate) fn server_queue(&mut self, exchange: &str, topic: &str, server: &str) -> Arc<Queue> {
        let key = (topic.to_owned(), Some(server.to_owned()));
        Arc::clone(self.exchange(exchange).server_queues.entry(key).or_default())
    }

    /// The queues a message for `topic` goes to: one copy per pool (the pool-less one always).
    /// `create` is false for mandatory sends, which must not invent a queue.
    pub(crate) fn topic_targets(&mut self, exchange: &str, topic: &str, create: bool) -> Vec<Arc<Queue>> {
        let mut queues = Vec::new();
        let mut pool_less = false;
        if let Some(exchange) = self.exchanges.get(exchange) {
            for ((t, pool), queue) in &exchange.topic_queues {
                if t == topic {
                    pool_less |= pool.is_none();
                    queues.push(Arc::clone(queue));
                }
            }
        }
        // Created only when missing: building the owned keys of a lookup cost every publish.
        if create && !pool_less {
            queues.push(self.topic_queue(exchange, topic, None));
        }
        queues
    }

    /// Every server queue of a topic (fanout).
    pub(crate) fn fanout_targets(&self, exchange: &str, topic: &str) -> Vec<Arc<Queue>> {
        let Some(exchange) = self.exchanges.get(exchange) else { return Vec::new() };
        exchange.server_queues.iter().filter(|((t, _), _)| t == topic).map(|(_, q)| Arc::clone(q)).collect()
    }

    /// A server queue if it exists.
    pub(crate) fn existing_server_queue(
        &self,
        exchange: &str,
        topic: &str,
        server: &str,
    ) -> Option<Arc<Queue>> {
        let key = (topic.to_owned(), Some(server.to_owned()));
        self.exchanges.get(exchange)?.server_queues.get(&key).cloned()
    }

    pub(crate) fn add_reply_queue(&mut self, name: String, router: ReplyRouter) {
        self.reply_queues.insert(name, router);
    }

    pub(crate) fn remove_reply_queue(&mut self, name: &str) {
        self.reply_queues.remove(name);
    }

    pub(crate) fn reply_router(&self, name: &str) -> Option<ReplyRouter> {
        self.reply_queues.get(name).cloned()
    }
}
