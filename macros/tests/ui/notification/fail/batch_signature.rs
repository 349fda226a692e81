use courier::{Metadata, notification_endpoint};

struct Audit;

#[notification_endpoint(batch)]
impl Audit {
    fn info(&self, messages: Vec<Metadata>) {
        let _ = messages;
    }
}

fn main() {}
