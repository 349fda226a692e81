use std::rc::Rc;

use courier::{Metadata, notification_endpoint};

struct Audit;

#[notification_endpoint]
impl Audit {
    async fn info(&self, publisher_id: String, event_type: String, payload: serde_json::Value, metadata: Metadata) {
        let local = Rc::new((publisher_id, event_type, payload, metadata));
        tokio::task::yield_now().await;
        let _ = local;
    }
}

fn main() {}
