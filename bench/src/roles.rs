//! The processes the harness starts: a server and a client of each implementation, each in its
//! own process so the client and the server do not share a runtime (as in a real deployment).
//!
//! A server prints `ready` once it consumes; with `--expect N` it prints one [`Finished`] line
//! when the N-th cast or notification was processed. A client prints one [`Outcome`] line.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use courier::{Context, Metadata, NotificationListener, Notifier, RpcClient, RpcServer, Target};
use courier::{notification_endpoint, rpc_endpoint};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

use crate::{Implementation, Scenario};

/// How long one call may take before the client gives up on it.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Casts and notifications in flight at once from one client (pipelined publishes).
const PUBLISH_WINDOW: usize = 64;
/// Calls before the measured ones (reply queue set-up, first declares).
const WARMUP_CALLS: usize = 20;
/// Concurrent sync sleepers in the isolation scenario, and how long each sleeps.
const SLEEPERS: usize = 8;
const SLEEP_MS: u64 = 200;

/// What a client measured.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// Operations that completed.
    pub completed: u64,
    /// Seconds the measured operations took (client side).
    pub secs: f64,
    /// Wall clock (ns since the epoch) when the first measured operation was sent.
    pub start_ns: u128,
    /// Latency percentiles in microseconds, where measured.
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// Isolation only: p99 of the same calls while sync sleepers run.
    pub loaded_p99_us: Option<f64>,
    /// The client's peak resident set (VmHWM), KiB.
    pub rss_kib: Option<u64>,
}

/// What a server reports once it processed all it expected.
#[derive(Debug, Serialize, Deserialize)]
pub struct Finished {
    /// Wall clock (ns since the epoch) when the last expected message was processed.
    pub last_ns: u128,
}

/// Reads VmHWM (peak resident set) of a process from `/proc/<pid>/status`, in KiB.
pub fn peak_rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// Counts processed casts/notifications and says when `expect` were seen.
struct Tally {
    expect: usize,
    seen: AtomicUsize,
    last_ns: AtomicU64,
    done: Notify,
    /// Isolation: sync `sleep` methods sleeping right now.
    asleep: AtomicUsize,
}

impl Tally {
    fn new(expect: usize) -> Arc<Self> {
        Arc::new(Self {
            expect,
            seen: AtomicUsize::new(0),
            last_ns: AtomicU64::new(0),
            done: Notify::new(),
            asleep: AtomicUsize::new(0),
        })
    }

    fn record(&self) {
        if self.seen.fetch_add(1, Ordering::AcqRel) + 1 == self.expect {
            self.last_ns.store(u64::try_from(now_ns()).unwrap_or(u64::MAX), Ordering::Release);
            self.done.notify_one();
        }
    }

    async fn report_when_done(&self) {
        if self.expect == 0 {
            return std::future::pending().await;
        }
        self.done.notified().await;
        let finished = Finished { last_ns: u128::from(self.last_ns.load(Ordering::Acquire)) };
        println!("{}", serde_json::to_string(&finished).expect("plain struct"));
    }
}

/// The benchmark service with an `async fn echo`.
struct AsyncEcho(Arc<Tally>);

#[rpc_endpoint]
impl AsyncEcho {
    async fn echo(&self, payload: String) -> String {
        payload
    }

    async fn consume(&self, payload: String) {
        drop(payload);
        self.0.record();
    }

    /// The isolation scenario's blocking neighbour.
    fn sleep(&self, ms: u64) -> u64 {
        self.0.asleep.fetch_add(1, Ordering::AcqRel);
        std::thread::sleep(Duration::from_millis(ms));
        self.0.asleep.fetch_sub(1, Ordering::AcqRel);
        ms
    }

    /// How many `sleep` calls are sleeping now (the isolation client waits for all of them).
    async fn asleep(&self) -> usize {
        self.0.asleep.load(Ordering::Acquire)
    }
}

/// The benchmark service with a sync `fn echo`.
struct SyncEcho(Arc<Tally>);

#[rpc_endpoint]
impl SyncEcho {
    fn echo(&self, payload: String) -> String {
        payload
    }

    fn consume(&self, payload: String) {
        drop(payload);
        self.0.record();
    }
}

struct AsyncTap(Arc<Tally>);

#[notification_endpoint]
impl AsyncTap {
    async fn info(&self, publisher_id: String, event_type: String, payload: Value, metadata: Metadata) {
        drop((publisher_id, event_type, payload, metadata));
        self.0.record();
    }
}

struct SyncTap(Arc<Tally>);

#[notification_endpoint]
impl SyncTap {
    fn info(&self, publisher_id: String, event_type: String, payload: Value, metadata: Metadata) {
        drop((publisher_id, event_type, payload, metadata));
        self.0.record();
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Runs a server until the harness ends the process.
pub async fn serve(
    implementation: Implementation,
    scenario: Scenario,
    url: &str,
    topic: &str,
    expect: usize,
) -> Result<(), Failure> {
    let tally = Tally::new(expect);
    match implementation {
        Implementation::Limit => {
            let channel = lapin_channel(url).await?;
            let tally = tally.clone();
            let counting = matches!(scenario, Scenario::Casts | Scenario::Notifications);
            let consumer = lapin_consumer(&channel, topic, 64).await?;
            println!("ready");
            tokio::spawn(async move {
                if let Err(error) = lapin_serve(channel, consumer, counting, tally).await {
                    eprintln!("lapin server: {error}");
                }
            });
        }
        Implementation::LimitOslo => {
            let (consumer, publisher) = OsloShaped::server(url, topic).await?;
            println!("ready");
            tokio::spawn(async move {
                if let Err(error) = OsloShaped::serve(consumer, publisher).await {
                    eprintln!("oslo-shaped lapin server: {error}");
                }
            });
        }
        Implementation::CourierAsync | Implementation::CourierSync => {
            let transport = courier::connect(url).await?;
            let sync = implementation == Implementation::CourierSync;
            if scenario == Scenario::Notifications {
                let builder = NotificationListener::builder(transport).target(Target::new(topic));
                let builder = if sync {
                    builder.endpoint(SyncTap(tally.clone()))
                } else {
                    builder.endpoint(AsyncTap(tally.clone()))
                };
                let listener = builder.build()?;
                listener.start().await?;
                std::mem::forget(listener);
            } else {
                let builder = RpcServer::builder(transport, Target::new(topic).with_server("bench"));
                let builder = if sync {
                    builder.endpoint(SyncEcho(tally.clone()))
                } else {
                    builder.endpoint(AsyncEcho(tally.clone()))
                };
                let server = builder.build()?;
                server.start().await?;
                std::mem::forget(server);
            }
            println!("ready");
        }
        other => return Err(format!("{other:?} has no server process").into()),
    }
    tally.report_when_done().await;
    std::future::pending().await
}

/// The harness's `rabbit://host:port/` as lapin spells it (`amqp://`, the default vhost `/`). A
/// query holds courier's driver options (e.g. `?rabbit_qos_prefetch_count=64`), which mean
/// nothing to the bare loop: it is left out.
fn lapin_url(url: &str) -> String {
    let url = url.split_once('?').map_or(url, |(base, _)| base);
    let url = url.strip_prefix("rabbit://").map_or_else(|| url.to_owned(), |rest| format!("amqp://{rest}"));
    url.strip_suffix('/').map_or(url.clone(), str::to_owned)
}

async fn lapin_channel(url: &str) -> Result<Channel, Failure> {
    let connection = Connection::connect(&lapin_url(url), ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    // The connection closes when its last handle goes; the process lives as long as the run.
    std::mem::forget(connection);
    Ok(channel)
}

async fn lapin_consumer(channel: &Channel, queue: &str, prefetch: u16) -> Result<lapin::Consumer, Failure> {
    channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let options = QueueDeclareOptions { auto_delete: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(queue.into(), options, FieldTable::default()).await?;
    Ok(channel
        .basic_consume(queue.into(), "bench".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await?)
}

/// The limit's server: decode the JSON request, encode the JSON reply, publish it to the
/// caller's reply queue, ack the request. No framework, no confirms.
async fn lapin_serve(
    channel: Channel,
    mut consumer: lapin::Consumer,
    counting: bool,
    tally: Arc<Tally>,
) -> Result<(), Failure> {
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery?;
        let request: Value = serde_json::from_slice(&delivery.data)?;
        if counting {
            drop(request);
            delivery.acker.ack(BasicAckOptions::default()).await?;
            tally.record();
            continue;
        }
        let reply = serde_json::to_vec(&json!({"result": request["args"]["payload"]}))?;
        let (Some(reply_to), Some(correlation)) =
            (delivery.properties.reply_to().clone(), delivery.properties.correlation_id().clone())
        else {
            return Err("a request without reply_to or correlation_id".into());
        };
        let properties = BasicProperties::default().with_correlation_id(correlation);
        // Without confirms the returned confirmation is `NotRequested`.
        drop(
            channel
                .basic_publish("".into(), reply_to, BasicPublishOptions::default(), &reply, properties)
                .await?,
        );
        delivery.acker.ack(BasicAckOptions::default()).await?;
    }
    Ok(())
}

/// A loop caller's calls waiting for their reply bodies, by correlation id.
type ReplyWaiters = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>;

/// The limit's client: one exclusive reply queue, replies routed by correlation id.
struct LapinCaller {
    channel: Channel,
    reply_queue: lapin::types::ShortString,
    waiters: ReplyWaiters,
    next_id: AtomicU64,
}

impl LapinCaller {
    async fn connect(url: &str) -> Result<Arc<Self>, Failure> {
        let channel = lapin_channel(url).await?;
        let options =
            QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() };
        let queue = channel.queue_declare("".into(), options, FieldTable::default()).await?;
        let reply_queue = queue.name().clone();
        let consume = BasicConsumeOptions { no_ack: true, ..BasicConsumeOptions::default() };
        let mut consumer = channel
            .basic_consume(reply_queue.clone(), "replies".into(), consume, FieldTable::default())
            .await?;
        let waiters = ReplyWaiters::default();
        let routing = waiters.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let Some(id) = delivery.properties.correlation_id() else { continue };
                let waiter = routing.lock().expect("not poisoned").remove(id.as_str());
                if let Some(waiter) = waiter {
                    let _ = waiter.send(delivery.data);
                }
            }
        });
        Ok(Arc::new(Self { channel, reply_queue, waiters, next_id: AtomicU64::new(0) }))
    }

    async fn call(&self, topic: &str, payload: &str) -> Result<String, Failure> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let (sender, receiver) = oneshot::channel();
        self.waiters.lock().expect("not poisoned").insert(id.clone(), sender);
        let body = serde_json::to_vec(&json!({"method": "echo", "args": {"payload": payload}}))?;
        let properties =
            BasicProperties::default().with_correlation_id(id.into()).with_reply_to(self.reply_queue.clone());
        drop(
            self.channel
                .basic_publish("".into(), topic.into(), BasicPublishOptions::default(), &body, properties)
                .await?,
        );
        let reply = tokio::time::timeout(CALL_TIMEOUT, receiver).await??;
        let reply: Value = serde_json::from_slice(&reply)?;
        match reply["result"].as_str() {
            Some(result) => Ok(result.to_owned()),
            None => Err("a reply without a result".into()),
        }
    }
}

/// The exchange the oslo-shaped loop routes requests through (a topic exchange, as oslo's
/// control exchange).
const OSLO_SHAPED_EXCHANGE: &str = "courier-bench-oslo-shaped";

/// The bare loop doing what oslo.messaging's rabbit driver asks of every call, so its rows show
/// what those obligations cost on this broker with no framework at all:
/// - publishing on a connection (and a confirm-mode channel) apart from the consuming one, and
///   awaiting each publish's confirm;
/// - the 2.0 envelope (the message JSON-encoded inside a JSON string) both ways;
/// - requests through a topic exchange, persistent, with the call's timeout as their TTL;
/// - replies `mandatory`, to the default exchange;
/// - requests acknowledged on receipt, before the reply (the ack not awaited, as courier's
///   server); replies acknowledged by the caller.
///
/// The caller is shared by the calling tasks: one publishing channel, one reply queue.
struct OsloShaped {
    publisher: Channel,
    reply_queue: String,
    waiters: ReplyWaiters,
    next_id: AtomicU64,
}

impl OsloShaped {
    /// The oslo envelope around a JSON message.
    fn envelope(message: &Value) -> Result<Vec<u8>, Failure> {
        let inner = serde_json::to_string(message)?;
        Ok(serde_json::to_vec(&json!({"oslo.version": "2.0", "oslo.message": inner}))?)
    }

    /// The JSON message inside an oslo envelope.
    fn unwrap(body: &[u8]) -> Result<Value, Failure> {
        let outer: Value = serde_json::from_slice(body)?;
        let inner = outer["oslo.message"].as_str().ok_or("a body without an envelope")?;
        Ok(serde_json::from_str(inner)?)
    }

    async fn confirming_channel(url: &str) -> Result<Channel, Failure> {
        let channel = lapin_channel(url).await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        Ok(channel)
    }

    /// Publishes and awaits the broker's confirm; a returned (unroutable) message is an error.
    async fn publish(
        channel: &Channel,
        exchange: &str,
        routing_key: &str,
        mandatory: bool,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), Failure> {
        let properties = properties
            .with_content_type("application/json".into())
            .with_content_encoding("utf-8".into())
            .with_delivery_mode(2);
        let options = BasicPublishOptions { mandatory, ..BasicPublishOptions::default() };
        let confirm = channel
            .basic_publish(exchange.into(), routing_key.into(), options, body, properties)
            .await?
            .await?;
        match confirm {
            lapin::Confirmation::Ack(None) => Ok(()),
            other => Err(format!("the broker did not take the message: {other:?}").into()),
        }
    }

    /// The server's consumer (on its own connection) and publishing channel.
    async fn server(url: &str, topic: &str) -> Result<(lapin::Consumer, Channel), Failure> {
        let channel = lapin_channel(url).await?;
        let exchange_options = lapin::options::ExchangeDeclareOptions::default();
        channel
            .exchange_declare(
                OSLO_SHAPED_EXCHANGE.into(),
                lapin::ExchangeKind::Topic,
                exchange_options,
                FieldTable::default(),
            )
            .await?;
        let consumer = lapin_consumer(&channel, topic, courier::rpc::DEFAULT_PREFETCH).await?;
        channel
            .queue_bind(
                topic.into(),
                OSLO_SHAPED_EXCHANGE.into(),
                topic.into(),
                lapin::options::QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok((consumer, Self::confirming_channel(url).await?))
    }

    /// Each request: ack sent, envelope opened, reply enveloped and published (mandatory,
    /// confirmed), in a task of its own so confirms overlap as courier's do.
    async fn serve(mut consumer: lapin::Consumer, publisher: Channel) -> Result<(), Failure> {
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery?;
            let publisher = publisher.clone();
            tokio::spawn(async move {
                let answer = async {
                    let request = Self::unwrap(&delivery.data)?;
                    let reply = Self::envelope(&json!({
                        "result": request["args"]["payload"],
                        "failure": null,
                        "ending": true,
                        "_msg_id": request["_msg_id"],
                    }))?;
                    let reply_q = request["_reply_q"].as_str().ok_or("a request without _reply_q")?;
                    Self::publish(&publisher, "", reply_q, true, &reply, BasicProperties::default()).await
                };
                let (acked, answered) = tokio::join!(delivery.acker.ack(BasicAckOptions::default()), answer);
                if let Err(error) = acked.map_err(Failure::from).and(answered) {
                    eprintln!("oslo-shaped lapin server: {error}");
                }
            });
        }
        Ok(())
    }

    /// A caller: a publishing connection, and a reply queue consumed (with acks) on another.
    async fn caller(url: &str) -> Result<Arc<Self>, Failure> {
        let publisher = Self::confirming_channel(url).await?;
        let replies = lapin_channel(url).await?;
        let reply_queue = format!("reply_{}", uuid::Uuid::new_v4().simple());
        let mut consumer = lapin_consumer(&replies, &reply_queue, 64).await?;
        let waiters = ReplyWaiters::default();
        let routing = waiters.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let Ok(reply) = Self::unwrap(&delivery.data) else { continue };
                let waiter =
                    reply["_msg_id"].as_str().and_then(|id| routing.lock().expect("not poisoned").remove(id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(delivery.data);
                }
                let _ = delivery.acker.ack(BasicAckOptions::default()).await;
            }
        });
        Ok(Arc::new(Self { publisher, reply_queue, waiters, next_id: AtomicU64::new(0) }))
    }

    async fn call(&self, topic: &str, payload: &str) -> Result<String, Failure> {
        let msg_id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let (sender, receiver) = oneshot::channel();
        self.waiters.lock().expect("not poisoned").insert(msg_id.clone(), sender);
        let body = Self::envelope(&json!({
            "method": "echo",
            "args": {"payload": payload},
            "_msg_id": msg_id,
            "_reply_q": self.reply_queue,
        }))?;
        let ttl = CALL_TIMEOUT.as_millis().to_string();
        let properties = BasicProperties::default().with_expiration(ttl.into());
        Self::publish(&self.publisher, OSLO_SHAPED_EXCHANGE, topic, false, &body, properties).await?;
        let reply = Self::unwrap(&tokio::time::timeout(CALL_TIMEOUT, receiver).await??)?;
        match reply["result"].as_str() {
            Some(result) => Ok(result.to_owned()),
            None => Err("a reply without a result".into()),
        }
    }
}

/// Publishes `count` bodies to `queue` with publisher confirms, `PUBLISH_WINDOW` unconfirmed at
/// most: the limit's confirmed, pipelined publish rate.
async fn lapin_publish_confirmed(url: &str, queue: &str, payload: &str, count: usize) -> Result<(), Failure> {
    let channel = lapin_channel(url).await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    let body = serde_json::to_vec(&json!({"method": "consume", "args": {"payload": payload}}))?;
    let mut in_flight = FuturesUnordered::new();
    for _ in 0..count {
        if in_flight.len() >= PUBLISH_WINDOW {
            in_flight.next().await.expect("not empty")?;
        }
        let confirm = channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default(),
            )
            .await?;
        in_flight.push(confirm);
    }
    while let Some(confirm) = in_flight.next().await {
        confirm?;
    }
    Ok(())
}

/// One way to make a call, for every call-based scenario.
#[derive(Clone)]
enum Caller {
    Lapin(Arc<LapinCaller>, Arc<str>),
    Oslo(Arc<OsloShaped>, Arc<str>),
    Courier(Arc<AsyncEchoClient>),
}

impl Caller {
    async fn echo(&self, payload: &str) -> Result<(), Failure> {
        let result = match self {
            Self::Lapin(caller, topic) => caller.call(topic, payload).await?,
            Self::Oslo(caller, topic) => caller.call(topic, payload).await?,
            Self::Courier(client) => client.echo(&Context::new(), payload.to_owned()).await?,
        };
        if result.len() == payload.len() { Ok(()) } else { Err("the echo changed the payload".into()) }
    }
}

/// Runs one client scenario and prints its [`Outcome`].
pub async fn drive(
    implementation: Implementation,
    scenario: Scenario,
    url: &str,
    topic: &str,
    size: usize,
    count: usize,
) -> Result<Outcome, Failure> {
    let payload: Arc<str> = "x".repeat(size).into();
    let transport = match implementation {
        Implementation::Limit | Implementation::LimitOslo => None,
        _ => Some(courier::connect(url).await?),
    };
    let client = transport.as_ref().map(|transport| {
        AsyncEchoClient::new(RpcClient::new(transport.clone(), Target::new(topic)).with_timeout(CALL_TIMEOUT))
    });
    let mut outcome = match scenario {
        Scenario::Casts | Scenario::Notifications => {
            let start_ns = now_ns();
            let started = Instant::now();
            match (&transport, scenario) {
                (None, _) => lapin_publish_confirmed(url, topic, &payload, count).await?,
                (Some(transport), Scenario::Notifications) => {
                    let notifier = Notifier::new(transport.clone(), "bench").with_topics([topic]);
                    let context = Context::new();
                    let sends = futures::stream::iter(0..count)
                        .map(|_| notifier.info(&context, "bench.event", json!({"payload": &*payload})))
                        .buffer_unordered(PUBLISH_WINDOW);
                    sends.collect::<Vec<_>>().await.into_iter().collect::<Result<Vec<_>, _>>()?;
                }
                (Some(_), _) => {
                    let client = client.clone().expect("a courier client");
                    let context = Context::new();
                    let sends = futures::stream::iter(0..count)
                        .map(|_| client.cast_consume(&context, payload.to_string()))
                        .buffer_unordered(PUBLISH_WINDOW);
                    sends.collect::<Vec<_>>().await.into_iter().collect::<Result<Vec<_>, _>>()?;
                }
            }
            Outcome {
                completed: count as u64,
                secs: started.elapsed().as_secs_f64(),
                start_ns,
                ..Outcome::default()
            }
        }
        _ => {
            let caller = match client {
                Some(client) => Caller::Courier(Arc::new(client)),
                None if implementation == Implementation::LimitOslo => {
                    Caller::Oslo(OsloShaped::caller(url).await?, topic.into())
                }
                None => Caller::Lapin(LapinCaller::connect(url).await?, topic.into()),
            };
            for _ in 0..WARMUP_CALLS {
                caller.echo(&payload).await?;
            }
            match scenario {
                Scenario::Sequential => concurrent_calls(&caller, &payload, count, 1).await?,
                Scenario::Outstanding(callers) => concurrent_calls(&caller, &payload, count, callers).await?,
                Scenario::Flood => flood(&caller, &payload, count).await,
                Scenario::Isolation => isolation(&caller, transport.as_ref(), topic, &payload, count).await?,
                Scenario::Casts | Scenario::Notifications => unreachable!("handled above"),
            }
        }
    };
    outcome.rss_kib = peak_rss_kib("self");
    Ok(outcome)
}

fn percentile_us(sorted: &[Duration], fraction: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    Some(sorted[index].as_secs_f64() * 1e6)
}

/// `callers` tasks, each calling in a loop until `count` calls were made in all.
async fn concurrent_calls(
    caller: &Caller,
    payload: &Arc<str>,
    count: usize,
    callers: usize,
) -> Result<Outcome, Failure> {
    let remaining = Arc::new(AtomicUsize::new(count));
    let start_ns = now_ns();
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (caller, payload, remaining) = (caller.clone(), payload.clone(), remaining.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while remaining
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let sent = Instant::now();
                    caller.echo(&payload).await?;
                    latencies.push(sent.elapsed());
                }
                Ok::<_, Failure>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(count);
    for task in tasks {
        latencies.extend(task.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Ok(Outcome {
        completed: latencies.len() as u64,
        secs,
        start_ns,
        p50_us: percentile_us(&latencies, 0.5),
        p99_us: percentile_us(&latencies, 0.99),
        ..Outcome::default()
    })
}

/// `count` calls at once; counts the ones that completed.
async fn flood(caller: &Caller, payload: &Arc<str>, count: usize) -> Outcome {
    let start_ns = now_ns();
    let started = Instant::now();
    let calls: FuturesUnordered<_> = (0..count).map(|_| caller.echo(payload)).collect();
    let results: Vec<_> = calls.collect().await;
    let completed = results.iter().filter(|result| result.is_ok()).count() as u64;
    if let Some(Err(error)) = results.iter().find(|result| result.is_err()) {
        eprintln!("flood: {} calls failed, e.g. {error}", count as u64 - completed);
    }
    Outcome { completed, secs: started.elapsed().as_secs_f64(), start_ns, ..Outcome::default() }
}

/// Sequential async calls alone, then again while `SLEEPERS` sync methods sleep in a loop.
async fn isolation(
    caller: &Caller,
    transport: Option<&Arc<dyn courier::Transport>>,
    topic: &str,
    payload: &Arc<str>,
    count: usize,
) -> Result<Outcome, Failure> {
    let Some(transport) = transport else { return Err("the isolation scenario is courier's".into()) };
    let unloaded = concurrent_calls(caller, payload, count, 1).await?;
    let sleeper = AsyncEchoClient::new(
        RpcClient::new(transport.clone(), Target::new(topic)).with_timeout(CALL_TIMEOUT),
    );
    let stop = Arc::new(tokio::sync::watch::Sender::new(false));
    let sleepers: Vec<_> = (0..SLEEPERS)
        .map(|_| {
            let (sleeper, mut stopped) = (sleeper.clone(), stop.subscribe());
            tokio::spawn(async move {
                while !*stopped.borrow_and_update() {
                    sleeper.sleep(&Context::new(), SLEEP_MS).await?;
                }
                Ok::<_, courier::Error>(())
            })
        })
        .collect();
    // Measure only once every sleeper is really asleep on the server, not while their first
    // calls are still on the way.
    let all_asleep = async {
        while sleeper.asleep(&Context::new()).await? < SLEEPERS {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok::<_, courier::Error>(())
    };
    tokio::time::timeout(CALL_TIMEOUT, all_asleep)
        .await
        .map_err(|_| format!("the {SLEEPERS} sleepers were never asleep at once"))??;
    let loaded = concurrent_calls(caller, payload, count, 1).await?;
    stop.send_replace(true);
    for sleeper in sleepers {
        sleeper.await??;
    }
    Ok(Outcome { loaded_p99_us: loaded.p99_us, ..unloaded })
}
