use courier::{Metadata, notification_endpoint};

struct Audit;

struct Event {
    id: u32,
}

#[notification_endpoint]
impl Audit {
    fn info(&self, publisher_id: String, event_type: String, payload: Event, metadata: Metadata) {
        let _ = (publisher_id, event_type, payload.id, metadata);
    }
}

fn main() {}
