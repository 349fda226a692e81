use courier::{Context, Metadata, notification_endpoint};

struct Audit;

#[notification_endpoint]
impl Audit {
    fn info(&self, publisher_id: String, ctx: &Context, event_type: String, payload: serde_json::Value, metadata: Metadata) {
        let _ = (ctx, publisher_id, event_type, payload, metadata);
    }
}

fn main() {}
