//! The dispatcher: picks the endpoint and method for a request with oslo's rules.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::context::Context;
use crate::endpoint::{Endpoint, EndpointInfo, Invocation, MethodInfo, MethodKind};
use crate::target::{Target, Version};
use crate::wire::{Failure, Request};

/// The version an endpoint (or a request) without one has.
pub(crate) const DEFAULT_VERSION: &str = "1.0";

/// oslo's built-in ping method, served when enabled.
pub(crate) const PING_METHOD: &str = "oslo_rpc_server_ping";

/// Which endpoint methods a request may call: oslo's `access_policy` of `get_rpc_server`.
///
/// The policy applies to every endpoint of a server, [`with_ping`](crate::server::RpcServerBuilder::with_ping)'s
/// included (as in oslo, its ping method is not marked exposed, so [`Explicit`](Self::Explicit)
/// hides it). A hidden method is answered as a missing one: `NoSuchMethod`.
///
/// ```
/// use courier_runtime::{endpoint::{MethodInfo, MethodKind}, server::AccessPolicy};
///
/// let row = |name, exposed| MethodInfo { name, kind: MethodKind::Async, args: &[], exposed, idempotent: false, drop_at_deadline: false };
/// assert!(AccessPolicy::Default.allows(&row("resize", false)));
/// assert!(!AccessPolicy::Default.allows(&row("_cleanup", false)));
/// assert!(AccessPolicy::Legacy.allows(&row("_cleanup", false)));
/// assert!(!AccessPolicy::Explicit.allows(&row("resize", false)));
/// assert!(AccessPolicy::Explicit.allows(&row("resize", true)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AccessPolicy {
    /// oslo's `DefaultRPCAccessPolicy`: every method but those whose name starts with `_`.
    #[default]
    Default,
    /// oslo's `ExplicitRPCAccessPolicy`: only methods marked exposed (`#[rpc(expose)]`, or
    /// [`MethodInfo::exposed`] in a hand-written endpoint), whatever their name.
    Explicit,
    /// oslo's `LegacyRPCAccessPolicy`: every method, `_`-prefixed ones too (which only
    /// hand-written [`Endpoint`] impls have: the macro refuses such wire names).
    Legacy,
}

impl AccessPolicy {
    /// Whether a request may call `method`.
    #[must_use]
    pub fn allows(self, method: &MethodInfo) -> bool {
        match self {
            Self::Default => !method.name.starts_with('_'),
            Self::Explicit => method.exposed,
            Self::Legacy => true,
        }
    }
}

/// A method chosen for a request.
#[derive(Clone)]
pub(crate) struct Route {
    /// The endpoint that serves it.
    pub(crate) endpoint: Arc<dyn Endpoint>,
    /// Its row in the endpoint's table.
    pub(crate) index: usize,
    /// The row.
    pub(crate) method: &'static MethodInfo,
}

impl Route {
    /// How the method runs.
    #[must_use]
    pub(crate) fn kind(&self) -> MethodKind {
        self.method.kind
    }

    /// Binds the arguments.
    #[must_use]
    pub(crate) fn invoke(&self, context: Context, args: Map<String, Value>) -> Invocation {
        Arc::clone(&self.endpoint).invoke(self.index, context, args)
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("endpoint", &self.endpoint.info().type_name)
            .field("method", &self.method)
            .finish()
    }
}

/// Endpoints tried in order, as oslo's `RPCDispatcher`.
#[derive(Clone, Default)]
pub(crate) struct Dispatcher {
    endpoints: Vec<Served>,
    policy: AccessPolicy,
}

/// An endpoint and the namespace and version it serves: its table's (the macro's arguments),
/// or those of a target given when the server is built (oslo's `endpoint.target`).
#[derive(Clone)]
pub(crate) struct Served {
    endpoint: Arc<dyn Endpoint>,
    namespace: Option<String>,
    version: Option<Version>,
}

impl Served {
    /// `endpoint` at the namespace and version of its table.
    pub(crate) fn new(endpoint: Arc<dyn Endpoint>) -> Self {
        let info = endpoint.info();
        Self { namespace: info.namespace.map(str::to_owned), version: info.version, endpoint }
    }

    /// `endpoint` at `target`'s namespace and version instead, each `None` when the target has
    /// none (as oslo's `endpoint.target` replaces the default target whole).
    pub(crate) fn at(endpoint: Arc<dyn Endpoint>, target: &Target) -> Self {
        Self { endpoint, namespace: target.namespace.clone(), version: target.version }
    }
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.endpoints.iter().map(|served| served.endpoint.info().type_name)).finish()
    }
}

impl Dispatcher {
    /// A dispatcher over `endpoints`, tried in order.
    #[must_use]
    pub(crate) fn new(endpoints: Vec<Served>) -> Self {
        Self { endpoints, policy: AccessPolicy::Default }
    }

    /// Applies `policy` instead of [`AccessPolicy::Default`].
    #[must_use]
    pub(crate) fn with_access_policy(mut self, policy: AccessPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Adds oslo's `oslo_rpc_server_ping` method (null namespace, version 1.0), answering "pong".
    #[must_use]
    pub(crate) fn with_ping(mut self) -> Self {
        self.endpoints.push(Served::new(Arc::new(PingEndpoint)));
        self
    }

    /// Chooses the method for a request.
    ///
    /// For each endpoint in order whose namespace matches and whose version is compatible,
    /// the method is looked up and kept if the [`AccessPolicy`] allows it (by default, names
    /// starting with `_` are never callable). When none has an allowed one,
    /// the failure is `NoSuchMethod` if some endpoint matched namespace and version, else
    /// `UnsupportedVersion`, exactly as oslo decides.
    ///
    /// # Errors
    /// The failure to reply with.
    pub(crate) fn route(&self, request: &Request) -> Result<Route, Failure> {
        let version = request.version.as_deref().unwrap_or(DEFAULT_VERSION);
        // Parsed once per request; one that does not parse is compatible with no endpoint.
        let requested = version.parse::<Version>().ok();
        let mut found_compatible = false;
        for served in &self.endpoints {
            if served.namespace.as_deref() != request.namespace.as_deref()
                || !requested.is_some_and(|r| served.version.unwrap_or(Version::DEFAULT).accepts(r))
            {
                continue;
            }
            if let Some((index, method)) = served.endpoint.info().method(&request.method)
                && self.policy.allows(method)
            {
                return Ok(Route { endpoint: Arc::clone(&served.endpoint), index, method });
            }
            found_compatible = true;
        }
        Err(if found_compatible {
            Failure::no_such_method(&request.method)
        } else {
            Failure::unsupported_version(version, &request.method)
        })
    }
}

/// The endpoint behind [`Dispatcher::with_ping`].
struct PingEndpoint;

impl Endpoint for PingEndpoint {
    fn info(&self) -> &'static EndpointInfo {
        const METHODS: &[MethodInfo] = &[MethodInfo {
            name: PING_METHOD,
            kind: MethodKind::Async,
            args: &[],
            exposed: false,
            idempotent: false,
            drop_at_deadline: false,
        }];
        static INFO: EndpointInfo =
            EndpointInfo { type_name: "PingEndpoint", namespace: None, version: None, methods: METHODS };
        &INFO
    }

    fn invoke(self: Arc<Self>, _index: usize, _context: Context, _args: Map<String, Value>) -> Invocation {
        Invocation::Async(Box::pin(std::future::ready(Ok(Value::from("pong")))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static EndpointInfo);

    impl Endpoint for Fixed {
        fn info(&self) -> &'static EndpointInfo {
            self.0
        }
        fn invoke(self: Arc<Self>, index: usize, _: Context, _: Map<String, Value>) -> Invocation {
            Invocation::Async(Box::pin(std::future::ready(Ok(Value::from(index)))))
        }
    }

    const ROWS: &[MethodInfo] = &[
        MethodInfo {
            name: "echo",
            kind: MethodKind::Async,
            args: &["payload"],
            exposed: false,
            idempotent: false,
            drop_at_deadline: false,
        },
        MethodInfo {
            name: "_private",
            kind: MethodKind::Sync,
            args: &[],
            exposed: true,
            idempotent: false,
            drop_at_deadline: false,
        },
    ];
    static PLAIN: EndpointInfo =
        EndpointInfo { type_name: "Plain", namespace: None, version: None, methods: ROWS };
    static NS: EndpointInfo = EndpointInfo {
        type_name: "Ns",
        namespace: Some("demo"),
        version: Some(Version::new(2, 3)),
        methods: ROWS,
    };

    fn dispatcher() -> Dispatcher {
        Dispatcher::new(vec![Served::new(Arc::new(Fixed(&PLAIN))), Served::new(Arc::new(Fixed(&NS)))])
            .with_ping()
    }

    fn request(method: &str, namespace: Option<&str>, version: Option<&str>) -> Request {
        let mut r = Request::new(method, Map::new());
        r.namespace = namespace.map(str::to_owned);
        r.version = version.map(str::to_owned);
        r
    }

    #[test]
    fn routes_by_namespace_and_version() {
        let d = dispatcher();
        assert_eq!(d.route(&request("echo", None, None)).unwrap().endpoint.info().type_name, "Plain");
        assert_eq!(
            d.route(&request("echo", Some("demo"), Some("2.1"))).unwrap().endpoint.info().type_name,
            "Ns"
        );
        assert_eq!(d.route(&request(PING_METHOD, None, Some("1.0"))).unwrap().kind(), MethodKind::Async);
    }

    #[test]
    fn no_such_method_vs_unsupported_version() {
        let d = dispatcher();
        assert_eq!(d.route(&request("nope", None, None)).unwrap_err().class, "NoSuchMethod");
        assert_eq!(d.route(&request("_private", None, None)).unwrap_err().class, "NoSuchMethod");
        let err = d.route(&request("echo", Some("demo"), Some("2.4"))).unwrap_err();
        assert_eq!(err.class, "UnsupportedVersion");
        assert_eq!(err.message, "Endpoint does not support RPC version 2.4. Attempted method: echo");
        assert_eq!(d.route(&request("echo", Some("other"), None)).unwrap_err().class, "UnsupportedVersion");
        assert_eq!(d.route(&request("echo", None, Some("3.0"))).unwrap_err().class, "UnsupportedVersion");
    }

    #[test]
    fn access_policies_hide_methods_as_missing() {
        let explicit = dispatcher().with_access_policy(AccessPolicy::Explicit);
        assert_eq!(explicit.route(&request("echo", None, None)).unwrap_err().class, "NoSuchMethod");
        assert_eq!(explicit.route(&request(PING_METHOD, None, None)).unwrap_err().class, "NoSuchMethod");
        assert_eq!(explicit.route(&request("_private", None, None)).unwrap().index, 1);
        let legacy = dispatcher().with_access_policy(AccessPolicy::Legacy);
        assert_eq!(legacy.route(&request("_private", None, None)).unwrap().index, 1);
        assert_eq!(legacy.route(&request("echo", None, None)).unwrap().index, 0);
    }
}
