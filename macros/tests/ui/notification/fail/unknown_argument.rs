use courier::{NotificationMessage, notification_endpoint};

struct Audit;

#[notification_endpoint(batched)]
impl Audit {
    fn info(&self, messages: Vec<NotificationMessage>) {
        let _ = messages;
    }
}

fn main() {}
