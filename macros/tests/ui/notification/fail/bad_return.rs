use courier::{Metadata, notification_endpoint};

struct Audit;

#[notification_endpoint]
impl Audit {
    fn info(&self, publisher_id: String, event_type: String, payload: serde_json::Value, metadata: Metadata) -> u32 {
        let _ = (publisher_id, event_type, payload, metadata);
        1
    }
}

fn main() {}
