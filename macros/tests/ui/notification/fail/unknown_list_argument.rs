use courier::{Metadata, notification_endpoint};

struct Audit;

// The unknown argument is skipped with its `(..)` group: `crate` after it is still parsed.
#[notification_endpoint(foo(x), crate = "not a path")]
impl Audit {
    fn info(&self, publisher_id: String, event_type: String, payload: serde_json::Value, metadata: Metadata) {
        let _ = (publisher_id, event_type, payload, metadata);
    }
}

fn main() {}
