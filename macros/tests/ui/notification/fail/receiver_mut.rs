use courier::{Metadata, notification_endpoint};

struct Audit {
    seen: u32,
}

#[notification_endpoint]
impl Audit {
    fn info(&mut self, publisher_id: String, event_type: String, payload: serde_json::Value, metadata: Metadata) {
        let _ = (publisher_id, event_type, payload, metadata);
        self.seen += 1;
    }
}

fn main() {}
