//! Any body on a listener's queue, read as a notification: no panic, and a notification that
//! reads writes back to the same notification, enveloped or bare.
#![no_main]

use courier_runtime::wire::{self, Notification};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let Ok(message) = wire::decode_body(body) else { return };
    let Ok(notification) = Notification::from_message(message) else { return };
    let message = notification.to_message();
    for written in [wire::encode_envelope(&message), wire::encode_bare(&message)] {
        let again = Notification::from_message(wire::decode_body(&written).expect("it decodes"));
        assert_eq!(again.expect("it reads"), notification, "the notification round-trips");
    }
});
