//! The request-target reader on arbitrary bytes: it never panics, and a target it accepts is
//! forwarded as one it reads back to the same path (what dockerd decodes is what was judged).
//! The route table then classifies the path under every method without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockgate::normalize;

fuzz_target!(|data: &[u8]| {
    // What the HTTP parser in front of sockgate lets through.
    let Ok(uri) = http::Uri::try_from(data) else { return };
    let Ok(target) = normalize::target(&uri) else { return };
    let forwarded = target.to_origin_form();
    let again = forwarded.parse::<http::Uri>().map(|uri| normalize::target(&uri));
    assert!(matches!(&again, Ok(Ok(t)) if *t == target), "{uri} is forwarded as {forwarded}, which reads as {again:?}");
    for method in [http::Method::GET, http::Method::HEAD, http::Method::POST, http::Method::PUT, http::Method::DELETE] {
        let _ = sockgate::classify::classify(&method, &target.path);
    }
});
