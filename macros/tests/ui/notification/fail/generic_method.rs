use courier::{Metadata, notification_endpoint};

struct Audit;

#[notification_endpoint]
impl Audit {
    fn info<T: serde::de::DeserializeOwned>(&self, publisher_id: String, event_type: String, payload: T, metadata: Metadata) {
        let _ = (publisher_id, event_type, payload, metadata);
    }
}

fn main() {}
