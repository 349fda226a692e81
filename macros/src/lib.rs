//! Procedural macros of courier. Use them through the `courier` crate, which re-exports them.
//!
//! Both macros have one front end: `internals` holds what they share (the error collector,
//! the attribute grammar, the type-shape helpers, the common rules, the emission helpers and
//! the pipeline), and each macro is four stages, one file each, run by that pipeline: `parse`
//! (the attribute grammar), `model` (the endpoint as plain data), `check` (the rules, one
//! function each) and `expand` (the generated items): `rpc` and `notification`.
#![deny(missing_docs)]

mod internals;
mod notification;
mod rpc;

use proc_macro::TokenStream;

/// Turns an inherent `impl` block into an RPC endpoint: a `const` dispatch table, an
/// implementation of `courier::rpc::Endpoint`, and a typed client.
///
/// ```
/// use courier::rpc::RemoteException;
/// use courier::{Context, rpc_endpoint};
/// use serde::{Deserialize, Serialize};
///
/// pub struct Compute;
///
/// #[derive(Debug, Serialize, Deserialize, PartialEq)]
/// pub struct Flavor { pub name: String, pub vcpus: u32 }
///
/// #[derive(Debug)]
/// pub struct NotFound(String);
/// impl std::fmt::Display for NotFound {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "instance {} not found", self.0)
///     }
/// }
/// impl RemoteException for NotFound {}
///
/// #[rpc_endpoint(namespace = "compute", version = "1.3")]
/// impl Compute {
///     /// Resizes an instance (runs on the blocking pool).
///     fn resize(&self, ctx: &Context, instance: String, flavor: u32) -> Result<Flavor, NotFound> {
///         let _ = ctx.user();
///         if instance.is_empty() { return Err(NotFound(instance)) }
///         Ok(Flavor { name: format!("m1.{flavor}"), vcpus: flavor })
///     }
///
///     /// Echoes its payload (runs as a task).
///     async fn ping(&self, payload: serde_json::Value, repeat: Option<u32>) -> serde_json::Value {
///         serde_json::json!({"payload": payload, "repeat": repeat.unwrap_or(1)})
///     }
///
///     /// Exposed on the wire as `get_console`.
///     #[rpc(name = "get_console")]
///     fn console(&self) -> String { "tty0".into() }
///
///     /// Not exposed: a plain Rust helper.
///     #[rpc(skip)]
///     pub fn new() -> Self { Compute }
///
///     /// Not exposed either: names starting with `_` are private (oslo's access policy).
///     fn _cleanup(&self) {}
/// }
///
/// use courier::rpc::{Endpoint, MethodKind};
/// let info = Compute.info();
/// assert_eq!((info.namespace, info.version), (Some("compute"), Some(courier::Version::new(1, 3))));
/// let names: Vec<_> = Compute::RPC_METHODS.iter().map(|m| (m.name, m.kind, m.args)).collect();
/// assert_eq!(names, [
///     ("resize", MethodKind::Sync, &["instance", "flavor"][..]),
///     ("ping", MethodKind::Async, &["payload", "repeat"][..]),
///     ("get_console", MethodKind::Sync, &[][..]),
/// ]);
///
/// // The typed client: `ComputeClient::new(rpc_client)`, then
/// // `client.resize(&ctx, "vm1".into(), 2).await?` or `client.cast_resize(...)`.
/// fn _client(client: courier::RpcClient) -> ComputeClient { ComputeClient::new(client) }
/// ```
///
/// # Attribute arguments
///
/// All optional: `#[rpc_endpoint(namespace = "compute", version = "1.3", crate = "::courier",
/// client = true, client_vis = "pub")]`.
///
/// - `namespace`: oslo's target namespace of the endpoint (default: the null namespace).
/// - `version`: the version it implements, `X.Y` or `X.Y.Z` (default: oslo's `1.0`). A caller
///   asking for a compatible version (same major, minor not higher) reaches it.
/// - `crate`: how generated code names courier, when it is renamed or re-exported
///   (`extern crate courier as rpc;` then `crate = "rpc"`). Generated code names only
///   `<crate>::__private::...`.
/// - `client = false`: no typed client.
/// - `client_vis`: the typed client's visibility, e.g. `"pub(crate)"` (default `pub`).
///
/// # Methods
///
/// Every method of the block is exposed, `pub` or not: the block is the declaration. Leave one
/// out with `#[rpc(skip)]`, or give it a name starting with `_`, which oslo's dispatcher never
/// calls. Name it differently on the wire with `#[rpc(name = "wire_name")]`. Mark it
/// `#[rpc(expose)]` (oslo's `@expose`, recorded as `MethodInfo::exposed`) to keep it callable
/// on a server built with `with_access_policy(AccessPolicy::Explicit)`, which serves only such
/// methods; attributes combine: `#[rpc(expose, name = "get_console")]`. Mark it
/// `#[rpc(idempotent)]` (`MethodInfo::idempotent`) when running it twice is harmless: a call the
/// broker redelivers then runs again, where otherwise the server answers it from its reply
/// cache (`RpcServerBuilder::with_reply_cache`). Mark an `async fn` `#[rpc(drop_at_deadline)]`
/// to have its future dropped, unanswered, when its caller's deadline passes; every method can
/// also take a `Cancellation` parameter (not a wire argument) and stop early itself.
///
/// - **Kind.** `fn` runs on the blocking pool (`spawn_blocking`), `async fn` as a tokio task:
///   the `MethodKind` of its table row. Port a service to async one method at a time.
/// - **Receiver.** `&self` only: calls run concurrently on a shared endpoint. Keep mutable
///   state behind a lock.
/// - **Context.** A parameter of type `&Context` or `Context` (any position; matched by the
///   name `Context`, also when the type comes from a `macro_rules!` fragment) receives the
///   request context; it is not a keyword argument.
/// - **Arguments.** Every other parameter is a keyword argument named as written (`r#type` is
///   `type`; nothing is stripped from `_unused`), decoded with serde (`DeserializeOwned`).
///   `Option<T>` (written `Option<..>`) may be absent or null. A missing, extra or ill-typed
///   argument fails the call with a Python `TypeError` naming the argument; it never panics.
///   Arguments are decoded on the worker (the blocking pool or the task), not in the dispatch
///   loop; a sync method's arguments and result never cross threads, so they need not be `Send`.
/// - **Returns.** Nothing (the caller gets `null`), any `T: Serialize`, or a type whose last
///   path segment is `Result` (`std::result::Result<T, E>`, or an alias named `Result` such as
///   `std::io::Result<T>`; an alias under another name counts as a plain `T`) with
///   `E: courier::rpc::RemoteException`: an `Err` becomes the exception the caller sees (class,
///   module, message).
/// - **Async methods** must return a `Send` future: they run on a multi-threaded runtime.
///
/// # What is generated
///
/// For `impl Compute`:
///
/// - `Compute::RPC_METHODS: &'static [MethodInfo]`, the dispatch table: wire name, kind,
///   argument names and the `expose` marker per row, in declaration order.
/// - `impl courier::rpc::Endpoint for Compute`: `info()` (type name, namespace, version, table) and
///   `invoke(self: Arc<Self>, row, context, args)`, which binds a row into an `Invocation`.
///   Serve it with the runtime's server; the runtime finds the row by name.
/// - `ComputeClient` (`#[derive(Clone, Debug)]`): `ComputeClient::new(rpc_client)` applies the
///   endpoint's namespace and version to an `RpcClient` aimed at the server's topic;
///   `inner()` returns it. Per method `resize`: `async fn resize(&self, ctx: &Context,
///   <arguments as declared>) -> Result<T, courier::Error>` (`T` the `Ok` type, the return type,
///   or `()`, made owned: `&str` becomes `String`, `&[T]` `Vec<T>`), calling by wire name, and
///   `async fn cast_resize(..) -> Result<(), Error>`.
///   Doc comments of the method are copied onto both.
///
/// # Why is my method rejected?
///
/// Each misuse is a compile error at the offending tokens, naming the fix; the impl block is
/// still emitted so the rest of the crate keeps compiling in an editor.
///
/// - `&mut self`, `self` by value, `self: Box<Self>`, or no receiver: take `&self`, or add
///   `#[rpc(skip)]` (constructors like `fn new() -> Self` need it).
/// - Generic methods (type, const or lifetime parameters) and `impl Trait` arguments or returns:
///   the dispatcher must know concrete, owned types.
/// - Patterns such as `(a, b): (u32, u32)`: the identifier is the keyword name; bind a name.
/// - Borrowed arguments (`&str`, `&[u8]`): arguments are decoded into owned values; take
///   `String`, `Vec<u8>`.
/// - `unsafe fn`; `&mut Context` or a second `Context` parameter; `#[rpc(skip, expose)]`.
/// - `#[rpc(name = "_x")]` (private, never callable), an empty name, or two methods with one
///   wire name.
/// - A method named `new` or `inner`, or `foo` next to `cast_foo`, which would collide in the
///   typed client: rename the Rust method (keep its wire name with `#[rpc(name = ..)]`), or set
///   `client = false`.
/// - Generic impl blocks, trait impls, unknown or duplicate attribute arguments, an empty
///   `namespace`, a `version` not `X.Y` / `X.Y.Z`.
/// - Trait bounds, reported at the user's type: "argument `flavor` of `resize` does not
///   implement `Deserialize`", "the return type of `x` does not implement `Serialize`", "the
///   `Ok` type of `x` ...", "the error type of `resize` does not implement `RemoteException`",
///   and for the typed client "argument `flavor` of `resize` does not implement `Serialize`,
///   which `ComputeClient` needs" (or turn the client off). An async method whose future is not
///   `Send` gets rustc's "future returned by `ping` is not `Send`" at its name, with the value
///   held across the `.await`.
#[proc_macro_attribute]
pub fn rpc_endpoint(attr: TokenStream, item: TokenStream) -> TokenStream {
    internals::entry::run::<rpc::Endpoint>(attr.into(), item.into()).into()
}

/// Turns an inherent `impl` block into a notification endpoint: an implementation of
/// `courier::notify::NotificationEndpoint` whose static table lists the priorities the block
/// implements, each marked `Sync` (`fn`, run on the blocking pool) or `Async` (`async fn`, run
/// as a task). A `NotificationListener` subscribes to `<topic>.<priority>` only for those.
///
/// ```
/// use courier::notify::NotificationResult;
/// use courier::{Context, Metadata, notification_endpoint};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// pub struct InstanceEvent { pub instance_id: u64 }
///
/// pub struct Billing;
///
/// #[notification_endpoint]
/// impl Billing {
///     /// `INFO` notifications; sync. The context parameter is optional.
///     fn info(&self, ctx: &Context, publisher_id: String, event_type: String, payload: InstanceEvent, metadata: Metadata) {
///         let _ = (ctx.user(), publisher_id, event_type, payload.instance_id, metadata.message_id);
///     }
///
///     /// `ERROR` notifications; async, and may ask for a redelivery.
///     async fn error(&self, _publisher_id: String, event_type: String, _payload: serde_json::Value, _metadata: Metadata) -> NotificationResult {
///         if event_type.ends_with(".retry") { NotificationResult::Requeue } else { NotificationResult::Handled }
///     }
///
///     /// Not a priority: a plain helper.
///     #[notification(skip)]
///     pub fn new() -> Self { Billing }
/// }
///
/// use courier::notify::NotificationEndpoint;
/// use courier::rpc::MethodKind;
/// use courier::Priority;
/// let info = Billing.endpoint_info(); // not `info()`: that is the `INFO` method
/// assert_eq!(info.method(Priority::Info).map(|m| m.kind), Some(MethodKind::Sync));
/// assert_eq!(info.method(Priority::Error).map(|m| m.kind), Some(MethodKind::Async));
/// assert!(info.method(Priority::Warn).is_none());
/// ```
///
/// # Attribute arguments
///
/// - `batch`: methods receive the messages of one priority together (for a listener built with
///   `.batch(size, timeout)`): `fn info(&self, messages: Vec<NotificationMessage<T>>)`.
/// - `crate = "path"`: how generated code names courier when it is renamed or re-exported.
///
/// # Methods
///
/// Every method of the block must be named after a priority — `audit`, `debug`, `info`,
/// `warn`, `error`, `critical`, `sample` — unless marked `#[notification(skip)]`.
///
/// - **Receiver**: `&self`.
/// - **Parameters** (plain endpoints), in oslo's order, matched by position: an optional
///   context (`&Context` or `Context`, recognised by the type name `Context`, also when the
///   type comes from a `macro_rules!` fragment) first, then
///   exactly four: `publisher_id: String`, `event_type: String`, `payload: T` (any
///   `T: DeserializeOwned`, e.g. your struct or `serde_json::Value`) and `metadata: Metadata`
///   (`message_id`, `timestamp`). Batch endpoints take one `Vec<NotificationMessage<T>>`.
/// - **Returns**: nothing or `NotificationResult::Handled` (acknowledge once the chain is done),
///   `NotificationResult::Requeue` (stop the chain; requeue if the listener allows requeueing,
///   else acknowledge), or a `Result` of either: an `Err` (any `Display` error) is logged and
///   counts as `Requeue`, as an exception does in oslo. So does a panic, or a payload that does
///   not decode into `T`.
/// - **Async methods** must return a `Send` future.
///
/// # Why is my method rejected?
///
/// Each misuse is a compile error at the offending tokens, naming the fix: a name that is no
/// priority (with a suggestion, e.g. `warning` → `warn`), a receiver other than `&self`, a wrong
/// number of parameters or a misplaced context, `&mut Context`, generic or `unsafe` methods,
/// generic or trait impl blocks, unknown or duplicate attribute arguments, an impl block with
/// no priority method, a batch method not
/// taking `Vec<NotificationMessage<T>>`, and, at the type: a payload that is not
/// `Deserialize`, a return type a listener cannot interpret, a future that is not `Send`.
#[proc_macro_attribute]
pub fn notification_endpoint(attr: TokenStream, item: TokenStream) -> TokenStream {
    internals::entry::run::<notification::Endpoint>(attr.into(), item.into()).into()
}
