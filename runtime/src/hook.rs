//! Hooks around an RPC server's methods: see each request before it runs (and refuse it with
//! a failure the caller gets as its reply: authorisation, rate limits), and see its outcome
//! after. In the spirit of tower's layers and tarpc's request hooks, kept synchronous and
//! cheap: a server without hooks pays nothing.

use crate::context::Context;
use crate::endpoint::{MethodKind, MethodResult};
use crate::target::Target;
use crate::wire::Failure;

/// What a [`Hook`] sees of a routed request.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RequestInfo<'a> {
    /// The server's target.
    pub target: &'a Target,
    /// The method called.
    pub method: &'a str,
    /// The requested namespace (`None`: oslo's null namespace).
    pub namespace: Option<&'a str>,
    /// The requested version (`None`: `1.0`).
    pub version: Option<&'a str>,
    /// How the method runs.
    pub kind: MethodKind,
    /// The request context (after the server's serializer).
    pub context: &'a Context,
    /// Whether the caller waits for a reply (a call), or not (a cast).
    pub is_call: bool,
}

/// An interceptor around an RPC server's methods; add it with
/// [`RpcServerBuilder::with_hook`](crate::server::RpcServerBuilder::with_hook).
///
/// Hooks see requests that were routed to a method (unknown methods and versions are answered
/// before them). `before` runs in the order the hooks were added, before the arguments are
/// bound; the first refusal wins: the method does not run and the caller gets the failure.
/// `after` runs for every hook, refusals included, with the outcome sent back. Both run on the
/// request's task: keep them quick and non-blocking.
///
/// ```
/// use courier_runtime::hook::{Hook, RequestInfo};
/// use courier_runtime::wire::Failure;
///
/// /// Refuses every call without a `user` in the context.
/// struct RequireUser;
///
/// impl Hook for RequireUser {
///     fn before(&self, request: &RequestInfo<'_>) -> Result<(), Failure> {
///         match request.context.user() {
///             Some(_) => Ok(()),
///             None => Err(Failure::new("NotAuthorized", "my_service.exception", "a user is required")),
///         }
///     }
/// }
/// ```
pub trait Hook: Send + Sync + 'static {
    /// Sees a request before its method runs.
    ///
    /// # Errors
    /// A failure refuses the request: it becomes the reply (for a call) instead of running
    /// the method.
    fn before(&self, request: &RequestInfo<'_>) -> Result<(), Failure> {
        let _ = request;
        Ok(())
    }

    /// Sees the outcome: the method's result or failure, or a hook's refusal.
    fn after(&self, request: &RequestInfo<'_>, outcome: &MethodResult) {
        let _ = (request, outcome);
    }
}

/// A shared hook, so the code that added it can keep a handle on it (its counters, say).
impl<H: Hook + ?Sized> Hook for std::sync::Arc<H> {
    fn before(&self, request: &RequestInfo<'_>) -> Result<(), Failure> {
        (**self).before(request)
    }

    fn after(&self, request: &RequestInfo<'_>, outcome: &MethodResult) {
        (**self).after(request, outcome);
    }
}
