//! W3C trace context in message headers (feature `opentelemetry`, enabled for the tests by the
//! dev-dependencies): with a `tracing-opentelemetry` layer installed, a call's producer span
//! travels as `traceparent` and the server's span for the request continues its trace, over
//! `fake://` and `rabbit://`. Without a layer nothing is added to the message.

use std::sync::{Arc, Mutex};

use courier::{
    Context, Metadata, NotificationListener, Notifier, RpcClient, RpcServer, Target, Transport,
    notification_endpoint, rpc_endpoint, transport::ListenOptions,
};
use courier_test_support::{broker, unique, within};
use opentelemetry::trace::{SpanKind, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::subscriber::DefaultGuard;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// Records the trace id of the span each request runs in.
#[derive(Default)]
struct Traced {
    seen: Arc<Mutex<Vec<TraceId>>>,
}

#[rpc_endpoint]
impl Traced {
    async fn ping(&self) -> String {
        let context = tracing::Span::current().context();
        self.seen.lock().unwrap().push(context.span().span_context().trace_id());
        "pong".into()
    }
}

/// A `tracing-opentelemetry` layer over an in-memory exporter, for this thread (the tests run
/// on current-thread runtimes, so every span of client, server and transport opens here).
struct OtelLayer {
    exporter: InMemorySpanExporter,
    _provider: SdkTracerProvider,
    _guard: DefaultGuard,
}

impl OtelLayer {
    fn install() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("courier-tests"));
        let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        Self { exporter, _provider: provider, _guard: guard }
    }

    fn finished(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().expect("the in-memory exporter")
    }
}

/// A call from a client span reaches the server's span as its parent.
async fn call_continues_the_callers_trace(transport: Arc<dyn Transport>) {
    let otel = OtelLayer::install();
    let topic = unique("trace");
    let endpoint = Traced::default();
    let seen = Arc::clone(&endpoint.seen);
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("h1"))
        .endpoint(endpoint)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = RpcClient::new(transport, Target::new(&topic));
    let reply = within("the call", client.call(&Context::new(), "ping", serde_json::Map::new())).await;
    assert_eq!(reply.unwrap(), "pong");
    server.wait().await;

    let spans = otel.finished();
    let call = spans.iter().find(|s| s.name == "rpc.call").expect("the client's rpc.call span");
    assert_eq!(call.span_kind, SpanKind::Producer);
    let trace_id = call.span_context.trace_id();
    assert_eq!(*seen.lock().unwrap(), [trace_id], "the method ran in the caller's trace");
    let children: Vec<_> = spans.iter().filter(|s| s.parent_span_id == call.span_context.span_id()).collect();
    assert!(
        children.iter().any(|s| s.span_context.trace_id() == trace_id && s.parent_span_is_remote),
        "the server's span is a remote child of the call: {spans:#?}"
    );
}

#[tokio::test]
async fn a_call_over_fake_carries_the_trace_to_the_server() {
    call_continues_the_callers_trace(courier::connect("fake://").await.unwrap()).await;
}

#[tokio::test]
async fn a_call_over_rabbit_carries_the_trace_to_the_server() {
    if !broker::available("a_call_over_rabbit_carries_the_trace_to_the_server") {
        return;
    }
    let (transport, _exchange) = broker::transport_with("").await;
    call_continues_the_callers_trace(transport.clone()).await;
    transport.cleanup().await;
}

/// Reports the trace id each notification is handled in.
struct TracedNotes(mpsc::UnboundedSender<TraceId>);

#[notification_endpoint]
impl TracedNotes {
    async fn info(&self, _publisher_id: String, _event_type: String, _payload: Value, _metadata: Metadata) {
        let context = tracing::Span::current().context();
        let _ = self.0.send(context.span().span_context().trace_id());
    }
}

#[tokio::test]
async fn a_notification_carries_the_trace_to_the_listener() {
    let otel = OtelLayer::install();
    let transport = courier::connect("fake://").await.unwrap();
    let topic = unique("trace-notes");
    let (sender, mut seen) = mpsc::unbounded_channel();
    let listener = NotificationListener::builder(transport.clone())
        .target(Target::new(&topic))
        .endpoint(TracedNotes(sender))
        .build()
        .unwrap();
    listener.start().await.unwrap();
    let notifier = Notifier::new(transport, "trace-test").with_topics([topic.as_str()]);
    notifier.info(&Context::new(), "thing.happened", "payload").await.unwrap();
    let handled_in = within("the notification", seen.recv()).await.expect("a trace id");
    listener.wait().await;

    let spans = otel.finished();
    let notify = spans.iter().find(|s| s.name == "notify").expect("the notifier's span");
    assert_eq!(notify.span_kind, SpanKind::Producer);
    assert_eq!(handled_in, notify.span_context.trace_id());
}

/// The headers a cast arrives with at a raw listener of the transport.
async fn headers_of_a_cast(transport: &Arc<dyn Transport>) -> courier::transport::Headers {
    let target = Target::new(unique("trace-wire")).with_server("h1");
    let mut listener = transport.listen(&target, &ListenOptions::default()).await.unwrap();
    let client = RpcClient::new(transport.clone(), target);
    client.cast(&Context::new(), "ping", serde_json::Map::new()).await.unwrap();
    let incoming = within("the cast", listener.next()).await.expect("a message");
    incoming.delivery.ack().await.unwrap();
    listener.close().await;
    incoming.headers
}

/// No header without a layer; with one, `traceparent` names the cast's producer span.
async fn traceparent_names_the_producer_span(transport: Arc<dyn Transport>) {
    assert!(headers_of_a_cast(&transport).await.is_empty(), "no layer, no header");
    let otel = OtelLayer::install();
    let headers = headers_of_a_cast(&transport).await;
    let cast = otel.finished().into_iter().find(|s| s.name == "rpc.cast").expect("the cast's span");
    let expected = format!("00-{}-{}-01", cast.span_context.trace_id(), cast.span_context.span_id());
    assert_eq!(headers.get("traceparent"), Some(&expected));
}

#[tokio::test]
async fn fake_carries_the_traceparent_header_and_adds_none_without_a_layer() {
    traceparent_names_the_producer_span(courier::connect("fake://").await.unwrap()).await;
}

#[tokio::test]
async fn rabbit_carries_the_traceparent_header_and_adds_none_without_a_layer() {
    if !broker::available("rabbit_carries_the_traceparent_header_and_adds_none_without_a_layer") {
        return;
    }
    let (transport, _exchange) = broker::transport_with("").await;
    traceparent_names_the_producer_span(transport.clone()).await;
    transport.cleanup().await;
}
