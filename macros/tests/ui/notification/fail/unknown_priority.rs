use courier::{Metadata, notification_endpoint};

struct Audit;

#[notification_endpoint]
impl Audit {
    fn warning(&self, publisher_id: String, event_type: String, payload: serde_json::Value, metadata: Metadata) {
        let _ = (publisher_id, event_type, payload, metadata);
    }
}

fn main() {}
