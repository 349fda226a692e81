//! Client calls, casts (plain and fanout) and notifications each run in a producer span with
//! OpenTelemetry's messaging fields, captured here by a recording `tracing` layer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use courier::{Context, Notifier, RpcClient, RpcServer, Target, rpc_endpoint};
use courier_test_support::{unique, within};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

/// A span's fields by name.
type FieldMap = BTreeMap<String, String>;

/// The name and fields of every span opened, in order.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(String, FieldMap)>>>);

struct Fields<'a>(&'a mut FieldMap);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: LayerContext<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push((attrs.metadata().name().to_owned(), fields));
    }

    fn on_record(&self, _id: &Id, _values: &Record<'_>, _ctx: LayerContext<'_, S>) {}
}

impl Spans {
    fn named(&self, name: &str) -> Vec<FieldMap> {
        let spans = self.0.lock().unwrap();
        spans.iter().filter(|(n, _)| n == name).map(|(_, fields)| fields.clone()).collect()
    }
}

struct Echo;

#[rpc_endpoint]
impl Echo {
    async fn echo(&self, value: u32) -> u32 {
        value
    }
}

fn field<'a>(span: &'a FieldMap, name: &str) -> Option<&'a str> {
    span.get(name).map(String::as_str)
}

#[tokio::test]
async fn calls_casts_and_notifications_get_producer_spans() {
    let spans = Spans::default();
    // A current-thread runtime: every producer span is opened on this thread.
    let _guard = tracing::subscriber::set_default(Registry::default().with(spans.clone()));

    let topic = unique("spans");
    let transport = courier::connect("fake://").await.unwrap();
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("h1"))
        .endpoint(Echo)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = RpcClient::new(transport.clone(), Target::new(&topic));
    let ctx = Context::new().with_request_id("req-1").with_global_request_id("greq-1");
    let args = courier::rpc::to_args(&serde_json::json!({"value": 7})).unwrap();

    assert_eq!(within("the call", client.call(&ctx, "echo", args.clone())).await.unwrap(), 7);
    client.prepare().with_server("h1").cast(&ctx, "echo", args.clone()).await.unwrap();
    client.prepare().with_fanout(true).cast(&Context::new(), "echo", args).await.unwrap();
    Notifier::new(transport, "host1").info(&ctx, "thing.happened", "payload").await.unwrap();
    server.wait().await;

    let calls = spans.named("rpc.call");
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(field(call, "otel.kind"), Some("producer"));
    assert_eq!(field(call, "messaging.system"), Some("fake"));
    assert_eq!(field(call, "messaging.destination.name"), Some("openstack"));
    assert_eq!(field(call, "messaging.rabbitmq.destination.routing_key"), Some(topic.as_str()));
    assert_eq!(field(call, "rpc.method"), Some("echo"));
    assert_eq!(field(call, "request_id"), Some("req-1"));
    assert_eq!(field(call, "global_request_id"), Some("greq-1"));
    let msg_id = field(call, "messaging.message.id").expect("a call has a message id");
    assert_eq!(msg_id.len(), 32, "oslo's msg ids are uuid4 hex: {msg_id}");

    let casts = spans.named("rpc.cast");
    assert_eq!(casts.len(), 2, "{casts:?}");
    let (direct, fanout) = (&casts[0], &casts[1]);
    assert_eq!(field(direct, "otel.kind"), Some("producer"));
    assert_eq!(field(direct, "messaging.destination.name"), Some("openstack"));
    assert_eq!(
        field(direct, "messaging.rabbitmq.destination.routing_key"),
        Some(format!("{topic}.h1").as_str())
    );
    assert_eq!(field(direct, "messaging.message.id"), None, "oslo casts carry no msg id");
    assert_eq!(field(direct, "request_id"), Some("req-1"));
    assert_eq!(field(fanout, "messaging.destination.name"), Some(format!("{topic}_fanout").as_str()));
    assert_eq!(field(fanout, "messaging.rabbitmq.destination.routing_key"), Some(""));
    assert_eq!(field(fanout, "request_id"), None, "the fanout cast had an empty context");

    let notes = spans.named("notify");
    assert_eq!(notes.len(), 1, "{notes:?}");
    let note = &notes[0];
    assert_eq!(field(note, "otel.kind"), Some("producer"));
    assert_eq!(field(note, "messaging.system"), Some("fake"));
    assert_eq!(field(note, "messaging.destination.name"), Some("openstack"));
    assert_eq!(field(note, "messaging.rabbitmq.destination.routing_key"), Some("notifications.info"));
    assert_eq!(field(note, "rpc.method"), Some("thing.happened"));
    assert_eq!(field(note, "global_request_id"), Some("greq-1"));
    let message_id = field(note, "messaging.message.id").expect("a notification has a message id");
    assert_eq!(message_id.len(), 36, "oslo's notification ids are dashed uuid4: {message_id}");
}

#[tokio::test]
async fn the_exchange_is_the_targets_or_the_transports_control_exchange() {
    let spans = Spans::default();
    let _guard = tracing::subscriber::set_default(Registry::default().with(spans.clone()));
    let transport = courier::connect_with(
        "fake://",
        courier::transport::TransportConfig::default().with_control_exchange("nova"),
    )
    .await
    .unwrap();
    let topic = unique("spans-exchange");
    let client = RpcClient::new(transport, Target::new(&topic));
    let args = serde_json::Map::new();
    // Nobody listens: the fake broker keeps a plain cast on the topic queue.
    client.cast(&Context::new(), "a", args.clone()).await.unwrap();
    client.prepare().with_exchange("glance").cast(&Context::new(), "b", args).await.unwrap();

    let casts = spans.named("rpc.cast");
    let exchanges: Vec<_> = casts.iter().map(|s| field(s, "messaging.destination.name")).collect();
    assert_eq!(exchanges, [Some("nova"), Some("glance")]);
}
