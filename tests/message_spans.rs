//! Every received message gets one consumer span, opened on receipt, with OpenTelemetry's
//! messaging fields and the context's request ids; log lines about the message (the
//! endpoint's own, or "rejecting a malformed request") are inside it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use courier::{Context, NotificationListener, Notifier, RpcClient, RpcServer, Target, rpc_endpoint};
use courier_test_support::transports::{Recorder, channel};
use courier_test_support::{PATIENCE, unique, within};
use serde_json::json;
use tokio::sync::Notify;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span as the capture saw it: its name and the fields recorded so far.
#[derive(Clone, Debug)]
struct SpanSeen {
    name: &'static str,
    fields: BTreeMap<String, String>,
}

/// An event: its message and the spans it was in, innermost first (indexes into `spans`).
#[derive(Clone, Debug)]
struct EventSeen {
    message: String,
    scope: Vec<usize>,
}

#[derive(Default)]
struct Captured {
    spans: Vec<SpanSeen>,
    events: Vec<EventSeen>,
}

/// A layer recording spans, their fields and events.
#[derive(Clone, Default)]
struct Capture {
    captured: Arc<Mutex<Captured>>,
    changed: Arc<Notify>,
}

/// The index of a span in `Captured::spans`, kept in the span's extensions.
struct Index(usize);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut captured = self.captured.lock().unwrap();
        captured.spans.push(SpanSeen { name: attrs.metadata().name(), fields });
        let index = captured.spans.len() - 1;
        ctx.span(id).expect("a new span").extensions_mut().insert(Index(index));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let span = ctx.span(id).expect("a recorded span");
        let Some(Index(index)) = span.extensions().get::<Index>().map(|i| Index(i.0)) else { return };
        values.record(&mut Fields(&mut self.captured.lock().unwrap().spans[index].fields));
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let scope = ctx
            .event_scope(event)
            .map(|scope| scope.filter_map(|span| span.extensions().get::<Index>().map(|i| i.0)).collect())
            .unwrap_or_default();
        let message = fields.remove("message").unwrap_or_default();
        self.captured.lock().unwrap().events.push(EventSeen { message, scope });
        self.changed.notify_waiters();
    }
}

impl Capture {
    /// Waits until an event with this message was captured; returns its innermost span
    /// named `span`.
    async fn span_of_event(&self, message: &str, span: &str) -> SpanSeen {
        within(&format!("the event {message:?}"), async {
            loop {
                let changed = self.changed.notified();
                {
                    let captured = self.captured.lock().unwrap();
                    if let Some(event) = captured.events.iter().find(|e| e.message == message) {
                        let inside = event.scope.iter().map(|&i| &captured.spans[i]).find(|s| s.name == span);
                        return inside
                            .unwrap_or_else(|| panic!("{message:?} is not inside a {span} span"))
                            .clone();
                    }
                }
                changed.await;
            }
        })
        .await
    }

    fn spans_named(&self, name: &str) -> Vec<SpanSeen> {
        self.captured.lock().unwrap().spans.iter().filter(|s| s.name == name).cloned().collect()
    }
}

struct Doubler;

#[rpc_endpoint]
impl Doubler {
    async fn double(&self, n: u32) -> u32 {
        tracing::info!("doubling {n}");
        n * 2
    }
}

fn field<'a>(span: &'a SpanSeen, name: &str) -> Option<&'a str> {
    span.fields.get(name).map(String::as_str)
}

/// The fields every consumer span has.
fn assert_consumer(span: &SpanSeen, routing_key: &str) {
    assert_eq!(field(span, "otel.kind"), Some("consumer"), "{span:?}");
    assert_eq!(field(span, "messaging.system"), Some("fake"), "{span:?}");
    assert_eq!(field(span, "messaging.destination.name"), Some("openstack"), "{span:?}");
    assert_eq!(field(span, "messaging.rabbitmq.destination.routing_key"), Some(routing_key), "{span:?}");
}

#[tokio::test]
async fn one_consumer_span_per_message_with_the_messaging_fields() {
    let capture = Capture::default();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let topic = unique("spans");
    let transport = courier::connect("fake://").await.unwrap();
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Doubler)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client =
        DoublerClient::new(RpcClient::new(transport.clone(), Target::new(&topic)).with_timeout(PATIENCE));
    let ctx = Context::new().with_request_id("req-1").with_global_request_id("greq-1");

    // A call: the endpoint's log line is inside the message's span.
    assert_eq!(client.double(&ctx, 2).await.unwrap(), 4);
    let call = capture.span_of_event("doubling 2", "rpc.receive").await;
    assert_consumer(&call, &topic);
    assert_eq!(field(&call, "rpc.method"), Some("double"));
    assert_eq!(field(&call, "courier.method.kind"), Some("async"));
    assert_eq!(field(&call, "request_id"), Some("req-1"));
    assert_eq!(field(&call, "global_request_id"), Some("greq-1"));
    assert!(field(&call, "messaging.message.id").is_some_and(|id| !id.is_empty()), "{call:?}");

    // A cast, to the server's own queue.
    let to_server = DoublerClient::new(
        RpcClient::new(transport.clone(), Target::new(&topic).with_server("s1")).with_timeout(PATIENCE),
    );
    to_server.cast_double(&Context::new().with_request_id("req-2"), 3).await.unwrap();
    let cast = capture.span_of_event("doubling 3", "rpc.receive").await;
    assert_consumer(&cast, &format!("{topic}.s1"));
    assert_eq!(field(&cast, "rpc.method"), Some("double"));
    assert_eq!(field(&cast, "request_id"), Some("req-2"));
    assert_eq!(field(&cast, "global_request_id"), None);

    // A malformed request: the rejection is logged inside its span, which names its msg id.
    let body = json!({"_msg_id": "malformed-1", "_reply_q": "reply_nobody", "args": {}});
    courier::fake::publish_raw("openstack", &topic, body.to_string());
    let malformed = capture.span_of_event("rejecting a malformed request", "rpc.receive").await;
    assert_consumer(&malformed, &topic);
    assert_eq!(field(&malformed, "messaging.message.id"), Some("malformed-1"));
    assert_eq!(field(&malformed, "rpc.method"), None);
    server.wait().await;
    assert_eq!(capture.spans_named("rpc.receive").len(), 3, "one span per message");

    // A notification.
    let (sender, mut seen) = channel();
    let listener = NotificationListener::builder(transport.clone())
        .target(Target::new(&topic))
        .endpoint(Recorder("spans", sender))
        .build()
        .unwrap();
    listener.start().await.unwrap();
    let notifier = Notifier::new(transport.clone(), "compute.host1").with_topics([topic.as_str()]);
    let nctx = Context::new().with_request_id("req-3").with_global_request_id("greq-3");
    notifier.info(&nctx, "compute.instance.create.end", json!({"id": 1})).await.unwrap();
    let message_id = seen.next("the notification").await.message_id;
    listener.wait().await;
    let notifications = capture.spans_named("notification.receive");
    assert_eq!(notifications.len(), 1, "{notifications:?}");
    let notification = &notifications[0];
    assert_consumer(notification, &format!("{topic}.info"));
    assert_eq!(field(notification, "messaging.message.id"), Some(message_id.as_str()));
    assert_eq!(field(notification, "event_type"), Some("compute.instance.create.end"));
    assert_eq!(field(notification, "priority"), Some("INFO"), "as on the wire");
    assert_eq!(field(notification, "request_id"), Some("req-3"));
    assert_eq!(field(notification, "global_request_id"), Some("greq-3"));
}
