//! Any string as a transport URL: parsing never panics, and what a parsed URL shows (`Display`
//! and `Debug`, as logs and errors print it) does not depend on its passwords at all.
#![no_main]

use courier_runtime::url::TransportUrl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match text.parse::<TransportUrl>() {
        Ok(url) => {
            let mut other = url.clone();
            for host in &mut other.hosts {
                if let Some(password) = host.password.as_mut() {
                    *password = format!("{password}-changed");
                }
            }
            assert_eq!(format!("{url} {url:?}"), format!("{other} {other:?}"), "the password shows");
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
