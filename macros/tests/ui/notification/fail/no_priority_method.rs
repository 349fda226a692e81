use courier::notification_endpoint;

struct Audit;

#[notification_endpoint]
impl Audit {
    #[notification(skip)]
    fn helper(&self) {}
}

fn main() {}
