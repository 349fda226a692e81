//! Notifications in one process: a service publishes oslo-style notifications with a
//! `Notifier`; two listeners consume them — a billing listener in its own pool whose endpoint
//! mixes a blocking `fn` and an `async fn`, filtered to instance events, and an audit listener
//! that takes `ERROR` notifications in batches.
//!
//! ```text
//! cargo run --example notifications                      # in memory (fake://)
//! cargo run --example notifications -- --url rabbit://guest:guest@127.0.0.1:5672/
//! ```

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use courier::{
    Context, Metadata, NotificationListener, NotificationMessage, Notifier, Target, notification_endpoint,
    notify::{NotificationFilter, NotificationResult},
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// The payload of instance events.
#[derive(Debug, Serialize, Deserialize)]
struct InstanceEvent {
    instance_id: u64,
    flavor: String,
}

/// Charges for instances: `INFO` (blocking code, say a database driver) and `WARN` (async).
struct Billing {
    done: mpsc::UnboundedSender<String>,
}

#[notification_endpoint]
impl Billing {
    /// Runs on the blocking pool.
    fn info(
        &self,
        ctx: &Context,
        publisher_id: String,
        event_type: String,
        payload: InstanceEvent,
        metadata: Metadata,
    ) {
        std::thread::sleep(Duration::from_millis(50)); // the blocking database write
        let line = format!(
            "billing  INFO  {event_type} from {publisher_id}: instance {} ({}) for {} [{} at {}]",
            payload.instance_id,
            payload.flavor,
            ctx.user().unwrap_or("nobody"),
            metadata.message_id,
            metadata.timestamp
        );
        let _ = self.done.send(line);
    }

    /// Runs as a task. Returning `NotificationResult::Requeue` would ask for a redelivery.
    async fn warn(
        &self,
        _publisher_id: String,
        event_type: String,
        payload: InstanceEvent,
        _metadata: Metadata,
    ) -> NotificationResult {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let _ = self.done.send(format!("billing  WARN  {event_type}: instance {}", payload.instance_id));
        NotificationResult::Handled
    }
}

/// Collects errors in batches.
struct Audit {
    done: mpsc::UnboundedSender<String>,
}

#[notification_endpoint(batch)]
impl Audit {
    async fn error(&self, messages: Vec<NotificationMessage<serde_json::Value>>) {
        let events: Vec<&str> = messages.iter().map(|m| m.event_type.as_str()).collect();
        let _ = self.done.send(format!("audit    ERROR batch of {}: {events:?}", messages.len()));
    }
}

/// Runs the demo.
#[derive(Parser)]
struct Args {
    /// Transport URL.
    #[arg(long, default_value = "fake://")]
    url: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let transport = courier::connect(&args.url).await?;
    let topic = format!("notifications-demo-{}", std::process::id());
    let (done, mut lines) = mpsc::unbounded_channel();

    let billing = NotificationListener::builder(Arc::clone(&transport))
        .target(Target::new(&topic))
        .endpoint_with_filter(
            Billing { done: done.clone() },
            NotificationFilter::new().with_event_type(r"compute\.instance\.")?,
        )
        .pool("billing")
        .build()?;
    let audit = NotificationListener::builder(Arc::clone(&transport))
        .target(Target::new(&topic))
        .endpoint(Audit { done })
        .batch(3, Some(Duration::from_millis(500)))
        .build()?;
    billing.start().await?;
    audit.start().await?;
    let keys = |l: &NotificationListener| -> Vec<String> {
        l.subscriptions().iter().map(|(t, p)| format!("{}.{p}", t.topic.as_deref().unwrap_or(""))).collect()
    };
    println!("billing (pool `billing`) consumes {:?}; audit consumes {:?}", keys(&billing), keys(&audit));

    let notifier = Notifier::new(Arc::clone(&transport), "compute.host1").with_topics([&topic]);
    let ctx = Context::new().with_user("alice").with_auth_token("never-published");
    let event = |id| InstanceEvent { instance_id: id, flavor: "m1.small".into() };
    notifier.info(&ctx, "compute.instance.create.end", event(1)).await?;
    notifier.info(&ctx, "image.upload.end", event(2)).await?; // filtered out of billing
    notifier.warn(&ctx, "compute.instance.resize.slow", event(3)).await?;
    for n in 0..4 {
        notifier.prepare(format!("compute.host{n}")).error(&ctx, "compute.instance.fail", event(n)).await?;
    }

    // 2 billing lines, then the errors: one batch of 3 (by size), one of 1 (by timeout).
    let mut errors = 0;
    let mut billed = 0;
    while billed < 2 || errors < 4 {
        let line =
            tokio::time::timeout(Duration::from_secs(10), lines.recv()).await?.ok_or("listeners gone")?;
        println!("{line}");
        if line.starts_with("billing") {
            billed += 1;
        } else if let Some(n) = line.split("batch of ").nth(1).and_then(|rest| rest.split(':').next()) {
            errors += n.parse::<usize>()?;
        }
    }
    billing.wait().await;
    audit.wait().await;
    transport.cleanup().await;
    Ok(())
}
