//! A `Context` whose type reaches the macro through a `macro_rules!` `$t:ty` fragment (an
//! invisible group around the type) is still the request context, not a fifth parameter:
//! behind `&`, by value, and as a whole `&Context` fragment.
#![deny(warnings)]

use courier::notify::NotificationEndpoint;
use courier::rpc::MethodKind;
use courier::{Context, Metadata, Priority};

pub struct Audit;

macro_rules! audit_endpoint {
    ($context:ty, $context_ref:ty) => {
        #[courier::notification_endpoint]
        impl Audit {
            fn info(&self, ctx: &$context, publisher_id: String, event_type: String, payload: serde_json::Value, metadata: Metadata) {
                let _ = (ctx, publisher_id, event_type, payload, metadata);
            }

            fn warn(&self, ctx: $context, publisher_id: String, event_type: String, payload: serde_json::Value, metadata: Metadata) {
                let _ = (ctx, publisher_id, event_type, payload, metadata);
            }

            async fn error(&self, ctx: $context_ref, publisher_id: String, event_type: String, payload: serde_json::Value, metadata: Metadata) {
                let _ = (ctx, publisher_id, event_type, payload, metadata);
            }
        }
    };
}

audit_endpoint!(Context, &Context);

fn main() {
    let info = Audit.endpoint_info();
    assert_eq!(info.method(Priority::Info).map(|m| m.kind), Some(MethodKind::Sync));
    assert_eq!(info.method(Priority::Warn).map(|m| m.kind), Some(MethodKind::Sync));
    assert_eq!(info.method(Priority::Error).map(|m| m.kind), Some(MethodKind::Async));
}
