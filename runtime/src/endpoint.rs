//! What `#[rpc_endpoint]` generates code against: the [`Endpoint`] trait, its `const` method
//! table, and the helpers that decode arguments and encode results.

use std::borrow::Cow;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::context::Context;
use crate::target::Version;
use crate::wire::Failure;

/// How a method runs, decided from its signature at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// A plain `fn`: runs on the blocking pool (`spawn_blocking`).
    Sync,
    /// An `async fn`: runs as a tokio task.
    Async,
}

impl MethodKind {
    /// `"sync"` or `"async"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Async => "async",
        }
    }
}

/// One row of an endpoint's dispatch table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodInfo {
    /// The name callers use on the wire.
    pub name: &'static str,
    /// How it runs.
    pub kind: MethodKind,
    /// Its keyword argument names, in declaration order (the context parameter excluded).
    pub args: &'static [&'static str],
    /// Marked exposed (`#[rpc(expose)]`, oslo's `@expose`): only such methods are callable
    /// under [`AccessPolicy::Explicit`](crate::server::AccessPolicy::Explicit).
    pub exposed: bool,
    /// Marked idempotent (`#[rpc(idempotent)]`): a redelivered call runs again instead of being
    /// answered from the server's reply cache (see
    /// [`RpcServerBuilder::with_reply_cache`](crate::server::RpcServerBuilder::with_reply_cache)).
    pub idempotent: bool,
    /// Marked `#[rpc(drop_at_deadline)]` (async methods): its future is dropped, unanswered,
    /// when its caller's deadline passes; otherwise it runs to its end and reads its
    /// [`Cancellation`](crate::cancellation::Cancellation) if it wants to stop early.
    pub drop_at_deadline: bool,
}

/// The static description of an endpoint: what `#[rpc_endpoint(namespace, version)]` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointInfo {
    /// The Rust type's name.
    pub type_name: &'static str,
    /// The namespace (`None`: oslo's null namespace).
    pub namespace: Option<&'static str>,
    /// The implemented version (`None`: [`Version::DEFAULT`], `1.0`).
    pub version: Option<Version>,
    /// The dispatch table.
    pub methods: &'static [MethodInfo],
}

impl EndpointInfo {
    /// The table row of a wire name.
    #[must_use]
    pub fn method(&self, name: &str) -> Option<(usize, &'static MethodInfo)> {
        self.methods.iter().enumerate().find(|(_, m)| m.name == name)
    }
}

/// What a method returned: a JSON result or a failure to send back.
pub type MethodResult = Result<Value, Failure>;

/// A ready-to-run call whose result is a `T`: a sync closure for the blocking pool, or a boxed
/// future for a task. RPC methods produce a [`MethodResult`] (the default); notification
/// methods a [`NotificationOutcome`](crate::notification_endpoint::NotificationOutcome). The executor runs either.
///
/// ```
/// use courier_runtime::endpoint::{Invocation, MethodKind};
///
/// let call: Invocation<u32> = Invocation::Sync(Box::new(|| 2 + 2));
/// assert_eq!(call.kind(), MethodKind::Sync);
/// ```
pub enum Invocation<T = MethodResult> {
    /// Run on the blocking pool.
    Sync(Box<dyn FnOnce() -> T + Send + 'static>),
    /// Run as a task.
    Async(BoxFuture<'static, T>),
}

impl<T> Invocation<T> {
    /// Its kind.
    #[must_use]
    pub fn kind(&self) -> MethodKind {
        match self {
            Self::Sync(_) => MethodKind::Sync,
            Self::Async(_) => MethodKind::Async,
        }
    }
}

impl<T> std::fmt::Debug for Invocation<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Invocation::{:?}", self.kind())
    }
}

/// An RPC endpoint: a dispatch table plus a way to invoke its rows.
///
/// Implemented by `#[rpc_endpoint]`; write it by hand only for dynamic endpoints.
///
/// ```
/// use std::sync::Arc;
/// use courier_runtime::context::Context;
/// use courier_runtime::endpoint::{Endpoint, EndpointInfo, Invocation, MethodInfo, MethodKind};
/// use serde_json::{Map, Value};
///
/// struct Pinger;
///
/// impl Endpoint for Pinger {
///     fn info(&self) -> &'static EndpointInfo {
///         const METHODS: &[MethodInfo] =
///             &[MethodInfo { name: "ping", kind: MethodKind::Async, args: &[], exposed: false, idempotent: false, drop_at_deadline: false }];
///         static INFO: EndpointInfo =
///             EndpointInfo { type_name: "Pinger", namespace: None, version: None, methods: METHODS };
///         &INFO
///     }
///
///     fn invoke(self: Arc<Self>, _index: usize, _ctx: Context, _args: Map<String, Value>) -> Invocation {
///         Invocation::Async(Box::pin(async { Ok(Value::from("pong")) }))
///     }
/// }
/// ```
pub trait Endpoint: Send + Sync + 'static {
    /// The endpoint's namespace, version and dispatch table.
    fn info(&self) -> &'static EndpointInfo;

    /// Binds the arguments of table row `index` into a runnable call. Argument errors are
    /// reported when the invocation runs, as a `TypeError` failure naming the argument.
    fn invoke(self: Arc<Self>, index: usize, context: Context, args: Map<String, Value>) -> Invocation;
}

/// The exception a Python caller sees for an error an endpoint returns.
///
/// The defaults derive the class from the type's name and the module from its path
/// (`my_service::errors::QuotaExceeded` → class `QuotaExceeded`, module `my_service.errors`),
/// and the message from `Display`. Override them to match a Python service's exceptions.
///
/// ```
/// use courier_runtime::endpoint::RemoteException;
///
/// #[derive(Debug)]
/// struct QuotaExceeded(u32);
///
/// impl std::fmt::Display for QuotaExceeded {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "quota of {} exceeded", self.0)
///     }
/// }
///
/// impl RemoteException for QuotaExceeded {
///     fn exception_module(&self) -> std::borrow::Cow<'_, str> {
///         "nova.exception".into()
///     }
/// }
///
/// assert_eq!(QuotaExceeded(3).exception_class(), "QuotaExceeded");
/// assert_eq!(QuotaExceeded(3).to_failure().module, "nova.exception");
/// assert_eq!(QuotaExceeded(3).to_failure().message, "quota of 3 exceeded");
/// ```
pub trait RemoteException: std::fmt::Display {
    /// The exception class name.
    fn exception_class(&self) -> Cow<'_, str> {
        let path = type_path::<Self>();
        Cow::Borrowed(path.rsplit("::").next().unwrap_or(path))
    }

    /// The exception module.
    fn exception_module(&self) -> Cow<'_, str> {
        let path = type_path::<Self>();
        match path.rsplit_once("::") {
            Some((module, _)) => Cow::Owned(module.replace("::", ".")),
            None => Cow::Borrowed("courier"),
        }
    }

    /// The exception's positional arguments (default: the message).
    fn exception_args(&self) -> Vec<Value> {
        vec![Value::String(self.to_string())]
    }

    /// The exception's keyword arguments (default: none).
    fn exception_kwargs(&self) -> Map<String, Value> {
        Map::new()
    }

    /// The failure sent to the caller.
    fn to_failure(&self) -> Failure {
        let mut failure = Failure::new(self.exception_class(), self.exception_module(), self.to_string());
        failure.args = self.exception_args();
        failure.kwargs = self.exception_kwargs();
        failure
    }
}

/// The type's path without generic arguments.
fn type_path<T: ?Sized>() -> &'static str {
    let name = std::any::type_name::<T>();
    name.split('<').next().unwrap_or(name)
}

/// `Err(String)` and `Err(&str)` arrive in Python as `RuntimeError`.
impl RemoteException for String {
    fn exception_class(&self) -> Cow<'_, str> {
        "RuntimeError".into()
    }
    fn exception_module(&self) -> Cow<'_, str> {
        "builtins".into()
    }
}

impl RemoteException for &str {
    fn exception_class(&self) -> Cow<'_, str> {
        "RuntimeError".into()
    }
    fn exception_module(&self) -> Cow<'_, str> {
        "builtins".into()
    }
}

/// I/O errors arrive in Python as `OSError`.
impl RemoteException for std::io::Error {
    fn exception_class(&self) -> Cow<'_, str> {
        "OSError".into()
    }
    fn exception_module(&self) -> Cow<'_, str> {
        "builtins".into()
    }
}

/// Helpers the generated code calls; not a stable API.
#[doc(hidden)]
pub mod support {
    use super::*;

    /// An invocation's keyword arguments.
    pub type Args = Map<String, Value>;

    /// Takes a required keyword argument.
    pub fn required_arg<T: DeserializeOwned>(
        args: &mut Map<String, Value>,
        method: &str,
        name: &str,
    ) -> Result<T, Failure> {
        match args.shift_remove(name) {
            Some(value) => decode_arg(value, method, name),
            None => Err(Failure::type_error(format!("{method}() missing 1 required argument: '{name}'"))),
        }
    }

    /// Takes an `Option<T>` keyword argument: absent or null is `None`.
    pub fn optional_arg<T: DeserializeOwned>(
        args: &mut Map<String, Value>,
        method: &str,
        name: &str,
    ) -> Result<Option<T>, Failure> {
        match args.shift_remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => decode_arg(value, method, name).map(Some),
        }
    }

    fn decode_arg<T: DeserializeOwned>(value: Value, method: &str, name: &str) -> Result<T, Failure> {
        serde_json::from_value(value)
            .map_err(|e| Failure::type_error(format!("{method}() argument '{name}' has the wrong type: {e}")))
    }

    /// Fails when arguments the method does not take are left.
    pub fn no_extra_args(args: &Map<String, Value>, method: &str) -> Result<(), Failure> {
        match args.keys().next() {
            Some(extra) => {
                Err(Failure::type_error(format!("{method}() got an unexpected keyword argument '{extra}'")))
            }
            None => Ok(()),
        }
    }

    /// Encodes a plain return value.
    pub fn encode_value<T: Serialize>(value: &T, method: &str) -> MethodResult {
        serde_json::to_value(value).map_err(|e| {
            Failure::new(
                "ValueError",
                "builtins",
                format!("{method}() returned a value that is not JSON: {e}"),
            )
        })
    }

    /// Encodes a `Result` return value.
    pub fn encode_result<T: Serialize, E: RemoteException>(
        result: Result<T, E>,
        method: &str,
    ) -> MethodResult {
        match result {
            Ok(value) => encode_value(&value, method),
            Err(error) => Err(error.to_failure()),
        }
    }

    /// Decodes a call's result for a typed client.
    pub fn decode_result<T: DeserializeOwned>(value: Value, method: &str) -> Result<T, crate::error::Error> {
        serde_json::from_value(value).map_err(|source| crate::error::Error::Decode {
            what: format!("the result of {method}()"),
            source,
        })
    }

    /// Encodes a typed client's argument.
    pub fn encode_arg<T: Serialize + ?Sized>(
        args: &mut Map<String, Value>,
        name: &str,
        value: &T,
    ) -> Result<(), crate::error::Error> {
        let value = serde_json::to_value(value)
            .map_err(|source| crate::error::Error::Encode { what: format!("argument '{name}'"), source })?;
        args.insert(name.to_owned(), value);
        Ok(())
    }

    /// Wraps the endpoint for invocation.
    pub fn sync_invocation(f: impl FnOnce() -> MethodResult + Send + 'static) -> Invocation {
        Invocation::Sync(Box::new(f))
    }

    /// Wraps an async call for invocation; the bound shows up on the user's method when the
    /// future is not `Send`.
    pub fn async_invocation<F>(future: F) -> Invocation
    where
        F: std::future::Future<Output = MethodResult> + Send + 'static,
    {
        Invocation::Async(Box::pin(future))
    }

    /// Boxes an async method's future, requiring `Send` at the call (which the macro spans at
    /// the method's name, so rustc says "future returned by `name` is not `Send`" there).
    pub fn send_future<'a, F>(future: F) -> BoxFuture<'a, F::Output>
    where
        F: std::future::Future + Send + 'a,
    {
        Box::pin(future)
    }

    /// An invocation that fails at once (e.g. an unknown table row).
    pub fn failed_invocation(failure: Failure) -> Invocation {
        Invocation::Async(Box::pin(std::future::ready(Err(failure))))
    }

    /// The invocation of a row `index` the endpoint's table does not have (a caller bug: the
    /// runtime takes rows from the table).
    pub fn unknown_row(endpoint: &str, index: usize) -> Invocation {
        failed_invocation(Failure::runtime_error(format!("{endpoint} has no method at table row {index}")))
    }
}

#[cfg(test)]
mod tests {
    use super::support::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn argument_errors_name_the_argument() {
        let mut args = json!({"a": "x"}).as_object().unwrap().clone();
        let err = required_arg::<u32>(&mut args, "add", "a").unwrap_err();
        assert_eq!(err.class, "TypeError");
        assert!(err.message.contains("'a'"), "{}", err.message);
        let err = required_arg::<u32>(&mut args, "add", "b").unwrap_err();
        assert!(err.message.contains("missing") && err.message.contains("'b'"));
        assert_eq!(optional_arg::<u32>(&mut args, "add", "c").unwrap(), None);
        let extra = json!({"zzz": 1}).as_object().unwrap().clone();
        assert!(no_extra_args(&extra, "add").unwrap_err().message.contains("'zzz'"));
    }

    mod nested {
        #[derive(Debug)]
        pub struct Boom;
        impl std::fmt::Display for Boom {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("boom")
            }
        }
        impl super::RemoteException for Boom {}
    }

    #[test]
    fn default_exception_names_come_from_the_type() {
        let failure = nested::Boom.to_failure();
        assert_eq!(failure.class, "Boom");
        assert_eq!(failure.module, "courier_runtime.endpoint.tests.nested");
        assert_eq!(failure.message, "boom");
        assert_eq!(failure.args, vec![json!("boom")]);
        assert_eq!(String::from("x").to_failure().class, "RuntimeError");
    }
}
