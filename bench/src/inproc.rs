//! The in-process rows: courier on `fake://` against an in-memory JSON request/reply loop that
//! runs the method with `tokio::spawn` (async) or `spawn_blocking` (sync). Both run in one
//! process on a 2-worker multi-thread runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use courier::{Context, RpcClient, RpcServer, Target, rpc_endpoint};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::Implementation;
use crate::roles::{Outcome, peak_rss_kib};

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Requests the in-memory loop may hold before callers wait (it is bounded like a broker queue).
const LOOP_QUEUE: usize = 256;

struct FakeAsync;

#[rpc_endpoint]
impl FakeAsync {
    async fn echo(&self, payload: String) -> String {
        payload
    }
}

struct FakeSync;

#[rpc_endpoint]
impl FakeSync {
    fn echo(&self, payload: String) -> String {
        payload
    }
}

type Job = (Vec<u8>, oneshot::Sender<Vec<u8>>);

/// The in-memory loop: a bounded channel of JSON requests; each is decoded, its method run as a
/// task (or on the blocking pool), its result encoded and handed back.
fn start_loop(sync: bool) -> mpsc::Sender<Job> {
    let (sender, mut requests) = mpsc::channel::<Job>(LOOP_QUEUE);
    tokio::spawn(async move {
        while let Some((body, reply)) = requests.recv().await {
            let Ok(mut request) = serde_json::from_slice::<Value>(&body) else { continue };
            let payload = request["args"]["payload"].take();
            let answer = move |payload: Value| {
                let payload = payload.as_str().map(str::to_owned).unwrap_or_default();
                let _ = reply.send(serde_json::to_vec(&json!({"result": payload})).unwrap_or_default());
            };
            if sync {
                tokio::task::spawn_blocking(move || answer(payload));
            } else {
                tokio::spawn(async move { answer(payload) });
            }
        }
    });
    sender
}

#[derive(Clone)]
enum Caller {
    Loop(mpsc::Sender<Job>),
    Courier(Arc<FakeAsyncClient>),
}

impl Caller {
    async fn echo(&self, payload: &str) -> Result<(), Failure> {
        let result = match self {
            Self::Loop(sender) => {
                let body = serde_json::to_vec(&json!({"method": "echo", "args": {"payload": payload}}))?;
                let (reply, answered) = oneshot::channel();
                sender.send((body, reply)).await.map_err(|_| "the loop stopped")?;
                let reply: Value = serde_json::from_slice(&answered.await?)?;
                reply["result"].as_str().map(str::to_owned).ok_or("a reply without a result")?
            }
            Self::Courier(client) => client.echo(&Context::new(), payload.to_owned()).await?,
        };
        if result.len() == payload.len() { Ok(()) } else { Err("the echo changed the payload".into()) }
    }
}

/// Runs one in-process measurement on a fresh 2-worker runtime.
pub fn run(
    implementation: Implementation,
    callers: usize,
    size: usize,
    count: usize,
) -> Result<Outcome, Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut outcome = runtime.block_on(async move {
        let payload: Arc<str> = "x".repeat(size).into();
        let topic = format!("bench-{}", uuid::Uuid::new_v4().simple());
        let mut server = None;
        let caller = match implementation {
            Implementation::LoopAsync => Caller::Loop(start_loop(false)),
            Implementation::LoopSync => Caller::Loop(start_loop(true)),
            Implementation::FakeAsync | Implementation::FakeSync => {
                let transport = courier::connect("fake://").await?;
                let builder = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("bench"));
                let builder = if implementation == Implementation::FakeSync {
                    builder.endpoint(FakeSync)
                } else {
                    builder.endpoint(FakeAsync)
                };
                let started = builder.build()?;
                started.start().await?;
                server = Some(started);
                let client =
                    RpcClient::new(transport, Target::new(&topic)).with_timeout(Duration::from_secs(60));
                Caller::Courier(Arc::new(FakeAsyncClient::new(client)))
            }
            other => return Err(format!("{other:?} is not an in-process implementation").into()),
        };
        let remaining = Arc::new(AtomicUsize::new(count));
        let started = Instant::now();
        let tasks: Vec<_> = (0..callers)
            .map(|_| {
                let (caller, payload, remaining) = (caller.clone(), payload.clone(), remaining.clone());
                tokio::spawn(async move {
                    let mut done = 0u64;
                    while remaining
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        caller.echo(&payload).await?;
                        done += 1;
                    }
                    Ok::<_, Failure>(done)
                })
            })
            .collect();
        let mut completed = 0;
        for task in tasks {
            completed += task.await??;
        }
        let secs = started.elapsed().as_secs_f64();
        if let Some(server) = server {
            server.wait().await;
        }
        Ok::<_, Failure>(Outcome { completed, secs, ..Outcome::default() })
    })?;
    outcome.rss_kib = peak_rss_kib("self");
    Ok(outcome)
}
