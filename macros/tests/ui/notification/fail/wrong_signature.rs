use courier::{Context, notification_endpoint};

struct Audit;

#[notification_endpoint]
impl Audit {
    fn info(&self, ctx: &Context, event_type: String, payload: serde_json::Value) {
        let _ = (ctx, event_type, payload);
    }
}

fn main() {}
