//! Spans for the messages courier sends, and the W3C trace context that links them to the
//! spans of the servers and listeners that receive them.
//!
//! # Producer spans
//!
//! [`RpcClient::call`](crate::client::RpcClient::call), [`cast`](crate::client::RpcClient::cast) (also fanout)
//! and each publish of a [`Notifier`](crate::notify::Notifier) run inside an `INFO` span named
//! `rpc.call`, `rpc.cast` or `notify`, with OpenTelemetry's messaging fields:
//!
//! | field | value |
//! |---|---|
//! | `otel.kind` | `producer` |
//! | `messaging.system` | the transport's [`messaging_system`](crate::transport::Transport::messaging_system) (`rabbitmq`, `fake`) |
//! | `messaging.destination.name` | the exchange (`<topic>_fanout` for a fanout cast) |
//! | `messaging.rabbitmq.destination.routing_key` | `topic`, `topic.server`, `<topic>.<priority>`; empty for fanout |
//! | `messaging.message.id` | the call's `_msg_id`, the notification's `message_id` (none for a cast) |
//! | `rpc.method` | the method, or the notification's event type |
//! | `request_id`, `global_request_id` | from the context, when set |
//!
//! Building a span costs nothing more than a callsite check when no subscriber wants it.
//!
//! # Trace context (feature `opentelemetry`)
//!
//! With the feature, when a `tracing-opentelemetry` layer is installed, each producer span's
//! context is published as the W3C `traceparent` (and `tracestate`) AMQP headers, and the
//! server or listener makes the span of each message it receives a child of it, so one trace
//! spans the caller and the servers. Without the feature, or without the layer, no header is
//! added: the wire is exactly oslo's (a Python peer ignores the headers either way).

use std::fmt;

use crate::context::Context;
use crate::target::Target;
use crate::transport::{Headers, Transport};

/// The W3C trace-context header naming the parent span.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C trace-context header carrying vendor state.
pub const TRACESTATE: &str = "tracestate";

/// A producer span with the fields of the module docs; `$name` is the span's name.
macro_rules! producer_span {
    ($name:literal, $transport:expr, $exchange:expr, $routing_key:expr, $message_id:expr, $method:expr, $context:expr) => {
        tracing::info_span!(
            $name,
            otel.kind = "producer",
            messaging.system = $transport.messaging_system(),
            messaging.destination.name = %$exchange,
            messaging.rabbitmq.destination.routing_key = %$routing_key,
            messaging.message.id = $message_id,
            rpc.method = $method,
            request_id = $context.request_id(),
            global_request_id = $context.global_request_id(),
        )
    };
}

/// The span of a call: the publish and the wait for its reply.
pub(crate) fn call_span(
    transport: &dyn Transport,
    target: &Target,
    msg_id: &str,
    method: &str,
    context: &Context,
) -> tracing::Span {
    let route = Route { transport, target };
    producer_span!(
        "rpc.call",
        transport,
        route.exchange(),
        route.routing_key(),
        Some(msg_id),
        method,
        context
    )
}

/// The span of a cast (or a fanout cast).
pub(crate) fn cast_span(
    transport: &dyn Transport,
    target: &Target,
    method: &str,
    context: &Context,
) -> tracing::Span {
    let route = Route { transport, target };
    producer_span!(
        "rpc.cast",
        transport,
        route.exchange(),
        route.routing_key(),
        None::<&str>,
        method,
        context
    )
}

/// The span of one notification publish to one topic.
pub(crate) fn notify_span(
    transport: &dyn Transport,
    target: &Target,
    priority: &str,
    message_id: &str,
    event_type: &str,
    context: &Context,
) -> tracing::Span {
    let route = Route { transport, target };
    let routing_key = format_args!("{}.{priority}", target.topic.as_deref().unwrap_or_default());
    producer_span!("notify", transport, route.exchange(), routing_key, Some(message_id), event_type, context)
}

/// Where a request goes, formatted only when a span records it.
struct Route<'a> {
    transport: &'a dyn Transport,
    target: &'a Target,
}

impl<'a> Route<'a> {
    fn exchange(&self) -> impl fmt::Display + 'a {
        let (transport, target) = (self.transport, self.target);
        Lazy(move |f: &mut fmt::Formatter<'_>| {
            let topic = target.topic.as_deref().unwrap_or_default();
            match target.exchange.as_deref().filter(|e| !e.is_empty()) {
                _ if target.fanout => write!(f, "{topic}_fanout"),
                Some(exchange) => f.write_str(exchange),
                None => f.write_str(transport.control_exchange()),
            }
        })
    }

    fn routing_key(&self) -> impl fmt::Display + 'a {
        let target = self.target;
        Lazy(move |f: &mut fmt::Formatter<'_>| {
            let topic = target.topic.as_deref().unwrap_or_default();
            match target.server.as_deref().filter(|s| !s.is_empty()) {
                _ if target.fanout => Ok(()),
                Some(server) => write!(f, "{topic}.{server}"),
                None => f.write_str(topic),
            }
        })
    }
}

/// Formats with a closure.
struct Lazy<F>(F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for Lazy<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

/// The headers that carry `span`'s trace context: `traceparent` (and `tracestate`) when the
/// `opentelemetry` feature is on and an OpenTelemetry layer records the span; empty otherwise.
#[must_use]
pub(crate) fn inject(span: &tracing::Span) -> Headers {
    #[cfg(feature = "opentelemetry")]
    return otel::inject(span);
    #[cfg(not(feature = "opentelemetry"))]
    {
        let _ = span;
        Headers::new()
    }
}

/// Makes `span` a child of the trace context in `headers` (as [`inject`] wrote them). Does
/// nothing without the `opentelemetry` feature, without an OpenTelemetry layer, or when the
/// headers carry no valid `traceparent`.
pub(crate) fn extract_parent(span: &tracing::Span, headers: &Headers) {
    #[cfg(feature = "opentelemetry")]
    otel::extract_parent(span, headers);
    #[cfg(not(feature = "opentelemetry"))]
    let _ = (span, headers);
}

#[cfg(feature = "opentelemetry")]
mod otel {
    use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
    use opentelemetry::trace::TraceContextExt;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use super::Headers;

    struct Carrier<'a>(&'a mut Headers);

    impl Injector for Carrier<'_> {
        fn set(&mut self, key: &str, value: String) {
            self.0.insert(key.to_owned(), value);
        }
    }

    struct Source<'a>(&'a Headers);

    impl Extractor for Source<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).map(String::as_str)
        }

        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(String::as_str).collect()
        }
    }

    pub(super) fn inject(span: &tracing::Span) -> Headers {
        let mut headers = Headers::new();
        if span.is_disabled() {
            return headers;
        }
        let context = span.context();
        // Without a layer the context holds no valid span, and nothing is written.
        if context.span().span_context().is_valid() {
            TraceContextPropagator::new().inject_context(&context, &mut Carrier(&mut headers));
        }
        headers
    }

    pub(super) fn extract_parent(span: &tracing::Span, headers: &Headers) {
        if span.is_disabled() || !headers.contains_key(super::TRACEPARENT) {
            return;
        }
        let parent = TraceContextPropagator::new().extract(&Source(headers));
        if parent.span().span_context().is_valid()
            && let Err(error) = span.set_parent(parent)
        {
            tracing::debug!(%error, "cannot link a message's span to its sender's trace");
        }
    }
}
