//! The replies of calls a server already ran, kept for a while by `_msg_id`, so a call the
//! broker delivers again (its acknowledgement was lost with a connection) is answered with the
//! same reply instead of running twice.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::wire::Reply;

/// How many calls' replies a server keeps by default.
pub const DEFAULT_REPLY_CACHE_ENTRIES: usize = 1024;

/// How long a server keeps a reply by default: oslo's default call timeout, after which the
/// caller has given up anyway.
pub const DEFAULT_REPLY_CACHE_AGE: Duration = Duration::from_secs(60);

/// What the cache knows of a call.
// Unboxed: a box would cost one more allocation for every call a server answers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seen {
    /// Acknowledged and not answered yet: its run will reply.
    Running,
    /// Answered with this reply.
    Replied(Reply),
}

/// A bounded map `_msg_id` → [`Seen`], oldest entries dropped first (by count and by age).
#[derive(Debug)]
pub(crate) struct ReplyCache {
    max_entries: usize,
    max_age: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    // One shared id for both (one allocation per call, not two).
    entries: HashMap<Arc<str>, Seen>,
    /// Insertion order, for eviction.
    order: VecDeque<(Instant, Arc<str>)>,
}

impl ReplyCache {
    /// A cache of up to `max_entries` calls, each kept up to `max_age`; 0 entries: disabled.
    pub(crate) fn new(max_entries: usize, max_age: Duration) -> Self {
        Self { max_entries, max_age, state: Mutex::default() }
    }

    /// Whether it keeps anything.
    pub(crate) fn enabled(&self) -> bool {
        self.max_entries > 0 && !self.max_age.is_zero()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that the call `msg_id` was acknowledged and is about to run.
    pub(crate) fn running(&self, msg_id: &str) {
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        let mut state = self.state();
        // One lookup: a known call (a redelivery) keeps what it has.
        let std::collections::hash_map::Entry::Vacant(entry) = state.entries.entry(msg_id.into()) else {
            return;
        };
        let msg_id = Arc::clone(entry.key());
        entry.insert(Seen::Running);
        state.order.push_back((now, msg_id));
        self.evict(&mut state, now);
    }

    /// Records the reply of a call recorded as running (a call evicted meanwhile stays out).
    pub(crate) fn replied(&self, msg_id: &str, reply: &Reply) {
        if !self.enabled() {
            return;
        }
        if let Some(seen) = self.state().entries.get_mut(msg_id) {
            *seen = Seen::Replied(reply.clone());
        }
    }

    /// What is known of `msg_id`, if it is still kept.
    pub(crate) fn get(&self, msg_id: &str) -> Option<Seen> {
        if !self.enabled() {
            return None;
        }
        let mut state = self.state();
        self.evict(&mut state, Instant::now());
        state.entries.get(msg_id).cloned()
    }

    fn evict(&self, state: &mut State, now: Instant) {
        while let Some((at, _)) = state.order.front() {
            let too_many = state.order.len() > self.max_entries;
            if !too_many && now.saturating_duration_since(*at) <= self.max_age {
                break;
            }
            if let Some((_, msg_id)) = state.order.pop_front() {
                state.entries.remove(&msg_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test(start_paused = true)]
    async fn keeps_replies_by_count_and_age() {
        let cache = ReplyCache::new(2, Duration::from_secs(10));
        assert_eq!(cache.get("a"), None);
        cache.running("a");
        assert_eq!(cache.get("a"), Some(Seen::Running));
        let reply = Reply::success(json!(1)).with_msg_id("a");
        cache.replied("a", &reply);
        assert_eq!(cache.get("a"), Some(Seen::Replied(reply)));
        // A reply of a call never recorded (or already evicted) is not kept.
        cache.replied("z", &Reply::success(json!(0)));
        assert_eq!(cache.get("z"), None);
        // The third call pushes the oldest out.
        cache.running("b");
        cache.running("c");
        assert_eq!((cache.get("a"), cache.get("b")), (None, Some(Seen::Running)));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!((cache.get("b"), cache.get("c")), (None, None));
    }

    #[test]
    fn zero_entries_or_age_disable_it() {
        for cache in [ReplyCache::new(0, Duration::from_secs(1)), ReplyCache::new(8, Duration::ZERO)] {
            cache.running("a");
            assert_eq!(cache.get("a"), None);
        }
    }
}
