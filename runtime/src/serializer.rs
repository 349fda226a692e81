//! oslo's `Serializer` hook: converts entities (arguments, results, payloads) and the context
//! on their way to and from the wire. The default, [`NoOpSerializer`], changes nothing.

use serde_json::Value;

use crate::context::Context;
use crate::error::BoxError;

/// Converts entities and contexts between a service's own types and JSON.
///
/// Servers call `deserialize_context` and `deserialize_entity` (per argument) on the way in
/// and `serialize_entity` on results; clients and notifiers do the reverse.
///
/// ```
/// use courier_runtime::{context::Context, error::BoxError, serializer::Serializer};
/// use serde_json::Value;
///
/// /// Upper-cases every string argument a server receives.
/// struct Shout;
///
/// impl Serializer for Shout {
///     fn deserialize_entity(&self, _ctx: &Context, entity: Value) -> Result<Value, BoxError> {
///         Ok(match entity {
///             Value::String(s) => Value::String(s.to_uppercase()),
///             other => other,
///         })
///     }
/// }
///
/// let v = Shout.deserialize_entity(&Context::new(), Value::from("hi")).unwrap();
/// assert_eq!(v, "HI");
/// ```
pub trait Serializer: Send + Sync + 'static {
    /// Prepares an entity for the wire.
    ///
    /// # Errors
    /// Any error, kept as the source of the caller's error, when the entity cannot be
    /// serialized (a `String` converts with `.into()`).
    fn serialize_entity(&self, context: &Context, entity: Value) -> Result<Value, BoxError> {
        let _ = context;
        Ok(entity)
    }

    /// Rebuilds an entity that came off the wire.
    ///
    /// # Errors
    /// Any error when the entity cannot be deserialized.
    fn deserialize_entity(&self, context: &Context, entity: Value) -> Result<Value, BoxError> {
        let _ = context;
        Ok(entity)
    }

    /// Prepares a context for the wire.
    fn serialize_context(&self, context: &Context) -> Context {
        context.clone()
    }

    /// Rebuilds a context that came off the wire.
    fn deserialize_context(&self, context: Context) -> Context {
        context
    }
}

/// The serializer that changes nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoOpSerializer;

impl Serializer for NoOpSerializer {}
