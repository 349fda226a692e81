//! Server hooks: `before` sees target, method and context and may refuse (the caller gets the
//! failure, the method does not run, later hooks are not asked); `after` sees every outcome.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use courier::wire::Failure;
use courier::{
    Context, Error, RpcClient, RpcServer, Target,
    rpc::{Hook, MethodResult, RequestInfo},
    rpc_endpoint,
};
use courier_test_support::{PATIENCE, unique};

/// Refuses requests without a `user`.
struct RequireUser;

impl Hook for RequireUser {
    fn before(&self, request: &RequestInfo<'_>) -> Result<(), Failure> {
        match request.context.user() {
            Some(_) => Ok(()),
            None => Err(Failure::new("NotAuthorized", "my_service.exception", "a user is required")),
        }
    }
}

/// What `before` saw: topic, method, user, whether it is a call.
type Before = (String, String, Option<String>, bool);

/// Records what it sees: `before` as [`Before`], `after` as `(method, outcome)`.
#[derive(Default)]
struct Journal {
    before: Mutex<Vec<Before>>,
    after: Mutex<Vec<(String, Result<serde_json::Value, String>)>>,
    changed: tokio::sync::Notify,
}

impl Hook for Journal {
    fn before(&self, request: &RequestInfo<'_>) -> Result<(), Failure> {
        self.before.lock().unwrap().push((
            request.target.topic.clone().unwrap_or_default(),
            request.method.to_owned(),
            request.context.user().map(str::to_owned),
            request.is_call,
        ));
        Ok(())
    }

    fn after(&self, request: &RequestInfo<'_>, outcome: &MethodResult) {
        let outcome = outcome.clone().map_err(|failure| failure.class);
        self.after.lock().unwrap().push((request.method.to_owned(), outcome));
        self.changed.notify_waiters();
    }
}

struct Service {
    ran: AtomicUsize,
}

#[rpc_endpoint]
impl Service {
    async fn echo(&self, text: String) -> String {
        self.ran.fetch_add(1, Ordering::SeqCst);
        text
    }

    async fn fail(&self) -> Result<(), String> {
        self.ran.fetch_add(1, Ordering::SeqCst);
        Err("no".into())
    }
}

#[tokio::test]
async fn hooks_refuse_calls_and_see_every_outcome() {
    let topic = unique("hooks");
    let transport = courier::connect("fake://").await.unwrap();
    let service = Arc::new(Service { ran: AtomicUsize::new(0) });
    let journal = Arc::new(Journal::default());
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint_arc(service.clone())
        .with_hook(RequireUser)
        .with_hook(journal.clone())
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client =
        ServiceClient::new(RpcClient::new(transport.clone(), Target::new(&topic)).with_timeout(PATIENCE));
    let alice = Context::new().with_user("alice");

    match client.echo(&Context::new(), "hi".into()).await {
        Err(Error::Remote(failure)) => {
            assert_eq!(
                (failure.class.as_str(), failure.message.as_str()),
                ("NotAuthorized", "a user is required")
            );
        }
        other => panic!("expected the hook's refusal, got {other:?}"),
    }
    assert_eq!(service.ran.load(Ordering::SeqCst), 0, "a refused call does not run");

    assert_eq!(client.echo(&alice, "hi".into()).await.unwrap(), "hi");
    assert!(
        matches!(client.fail(&alice).await, Err(Error::Remote(failure)) if failure.class == "RuntimeError")
    );
    client.cast_echo(&alice, "cast".into()).await.unwrap();
    let after = tokio::time::timeout(PATIENCE, async {
        loop {
            let changed = journal.changed.notified();
            if journal.after.lock().unwrap().len() == 4 {
                return journal.after.lock().unwrap().clone();
            }
            changed.await;
        }
    })
    .await
    .expect("the hook saw four outcomes");
    server.wait().await;

    assert_eq!(
        after,
        [
            ("echo".to_owned(), Err("NotAuthorized".to_owned())),
            ("echo".to_owned(), Ok(serde_json::json!("hi"))),
            ("fail".to_owned(), Err("RuntimeError".to_owned())),
            ("echo".to_owned(), Ok(serde_json::json!("cast"))),
        ]
    );
    // The refused call never reached the hooks after the refusing one.
    let user = Some("alice".to_owned());
    assert_eq!(
        *journal.before.lock().unwrap(),
        [
            (topic.clone(), "echo".to_owned(), user.clone(), true),
            (topic.clone(), "fail".to_owned(), user.clone(), true),
            (topic.clone(), "echo".to_owned(), user, false),
        ]
    );
    assert_eq!(service.ran.load(Ordering::SeqCst), 3);
}
