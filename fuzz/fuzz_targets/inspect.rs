//! The body inspector on arbitrary bytes sent as a container create: it never panics, and it
//! either refuses the body or finds what it holds.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockgate::classify::Operation;
use sockgate::inspect;

fuzz_target!(|data: &[u8]| {
    let Some(operation) = Operation::from_name("containers.create") else { return };
    let _ = inspect::inspect_all(&inspect::Request {
        operation,
        query: None,
        content_type: Some(b"application/json"),
        body: Some(data),
        resource: None,
        resolved: None,
    });
});
