//! Request targets: normalize and classify never panic, accept only paths dockerd routes as
//! classified, and are not fooled by percent-encoding, double encoding or dot segments.

use super::*;

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get", "TRACE"];

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(METHODS).prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap())
}

/// Pieces that make request targets interesting: separators, escapes (good, bad, double, of
/// unsafe bytes), dot segments, version prefixes and route words.
const TOKENS: &[&str] = &[
    "/",
    "/",
    "/",
    "/",
    "//",
    ".",
    "..",
    "%",
    "%2F",
    "%2f",
    "%2e",
    "%2E",
    "%25",
    "%252F",
    "%00",
    "%zz",
    "%7",
    "%3F",
    "%C3%A9",
    "%76",
    "v",
    "v1",
    "v1.41",
    "1",
    "1..2",
    "containers",
    "json",
    "create",
    "images",
    "exec",
    "start",
    "networks",
    "_ping",
    "checkpoints",
    "volumes",
    "a",
    "x:y",
    "@",
    "~",
    "+",
    "*",
    "!",
    "$",
    "&",
    "'",
    "(",
    ";",
    "=",
    ",",
    "?",
    "?a=1",
    "&b=%2F",
    "#",
    "é",
    " ",
    "\\",
    "\t",
];

fn target_soup() -> impl Strategy<Value = String> {
    (prop::bool::weighted(0.9), prop::collection::vec(prop::sample::select(TOKENS), 0..14)).prop_map(
        |(slash, parts)| {
            let mut s = if slash { "/".to_string() } else { String::new() };
            parts.iter().for_each(|p| s.push_str(p));
            s
        },
    )
}

/// Parses and normalizes a request target; `None` when `http` does not parse it at all.
fn normalize_str(target: &str) -> Option<Result<Target, TargetError>> {
    target.parse::<Uri>().ok().map(|uri| normalize::target(&uri))
}

/// gorilla/mux `cleanPath`: dockerd answers a path this changes with a redirect, not a handler.
fn mux_clean_path(path: &str) -> String {
    let rooted = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
    let mut clean = go_path_clean(&rooted);
    if rooted.ends_with('/') && clean != "/" {
        clean.push('/');
    }
    clean
}

/// The path part of the origin form sockgate forwards: what dockerd decodes (to itself) and routes.
fn forwarded_path(target: &Target) -> String {
    let origin = target.to_origin_form();
    origin.split('?').next().unwrap_or("").to_string()
}

/// Routes with one variable, and the operation they name.
const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/v1.41/containers/{}/json", "containers.inspect"),
    ("POST", "/containers/{}/exec", "exec.create"),
    ("GET", "/v1.24/images/{}/json", "images.inspect"),
    ("DELETE", "/v1.41/volumes/{}", "volumes.delete"),
    ("POST", "/exec/{}/start", "exec.start"),
    ("GET", "/networks/{}", "networks.inspect"),
    ("POST", "/v1.44/containers/{}/update", "containers.update"),
    ("GET", "/v1/distribution/{}/json", "distribution.inspect"),
];

/// A name as Docker spells them: container and volume names, image references with registry,
/// tag and digest, and names with slashes for the `{name:.*}` routes.
fn safe_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9][A-Za-z0-9_.-]{0,12}",
        "[a-z0-9]{1,8}(\\.[a-z]{2,4})?(:[0-9]{2,5})?/[a-z0-9]{1,8}(:[A-Za-z0-9_.-]{1,8})?",
        "[a-z]{1,8}@sha256:[0-9a-f]{8}",
        "[A-Za-z0-9][A-Za-z0-9_.-]{0,6}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,6}){1,2}",
    ]
}

/// A valid route with a safe name filled in: `(method, path, operation, name)`.
fn valid_request() -> impl Strategy<Value = (Method, String, &'static str, String)> {
    (prop::sample::select(ROUTES), safe_name()).prop_map(|((method, template, op), name)| {
        (Method::from_bytes(method.as_bytes()).unwrap(), template.replace("{}", &name), op, name)
    })
}

/// Percent-encodes the bytes of `path` that `mask` picks (cycled), in upper or lower case hex.
/// The leading `/` stays: without it the target is not in origin form at all.
fn encode_some(path: &str, mask: &[u8]) -> String {
    let mut out = String::new();
    for (i, b) in path.bytes().enumerate() {
        match mask.get(i % mask.len().max(1)).copied().filter(|_| i > 0).unwrap_or(0) {
            1 => out.push_str(&format!("%{b:02X}")),
            2 => out.push_str(&format!("%{b:02x}")),
            _ => out.push(char::from(b)),
        }
    }
    out
}

/// What sockgate makes of a request: `None` if `http` does not parse the target, else the
/// normalized target (or why not) and its classification.
type Outcome = Option<Result<(Target, Result<Classified, ClassifyError>), TargetError>>;

fn outcome(method: &Method, target: &str) -> Outcome {
    normalize_str(target).map(|r| r.map(|t| (t.clone(), classify(method, &t.path))))
}

proptest! {
    #![proptest_config(config(1000))]

    /// 1. Arbitrary bytes that `http` accepts as a request target never make normalize or
    /// classify panic.
    #[test]
    fn normalize_and_classify_never_panic_on_bytes(
        bytes in prop::collection::vec(prop_oneof![3 => 0x21u8..0x7f, 1 => any::<u8>()], 0..48),
        slash in any::<bool>(),
        method in method(),
    ) {
        let mut raw = if slash { vec![b'/'] } else { Vec::new() };
        raw.extend(bytes);
        if let Ok(uri) = Uri::try_from(raw.as_slice()) {
            if let Ok(target) = normalize::target(&uri) {
                let _ = classify(&method, &target.path);
            }
        }
    }

    #[test]
    fn normalize_and_classify_never_panic_on_token_soup(target in target_soup(), method in method()) {
        let _ = outcome(&method, &target);
    }

    /// 2. An accepted target forwards a path of plain bytes and `%XX` escapes (the query is passed
    /// on untouched), and normalizing what is forwarded gives the same target: dockerd decodes once
    /// and routes exactly the path sockgate classified. The path is also clean as gorilla/mux sees
    /// it. (`path_oracle.rs` checks the same against Go itself.)
    #[test]
    fn accepted_targets_are_forwarded_as_classified(target in target_soup(), method in method()) {
        let Some(Ok(accepted)) = normalize_str(&target) else { return Ok(()) };
        let forwarded = forwarded_path(&accepted);
        // What URL parsers read as syntax, or RFC 3986 says must be escaped, never stands raw.
        let syntax = |b: u8| b"?#\"<>\\^`{|}[]".contains(&b);
        prop_assert!(
            forwarded.bytes().all(|b| b.is_ascii_graphic() && !syntax(b)),
            "{target:?} forwards {forwarded:?}"
        );
        prop_assert!(accepted.path.starts_with('/'), "{target:?} -> {accepted:?}");
        let again = normalize_str(&accepted.to_origin_form());
        prop_assert_eq!(again, Some(Ok(accepted.clone())), "{:?} is not a fixed point", target);
        // `//` alone is the known exception: see `accepted_paths_are_clean_as_gorilla_mux_sees_them`.
        if forwarded != "//" {
            prop_assert_eq!(mux_clean_path(&forwarded), forwarded.clone(), "{:?} is not clean", target);
        }
        let _ = classify(&method, &accepted.path);
    }

    /// 3. Percent-encoding any subset of the bytes of a valid path (slashes, version prefix and
    /// letters included) never changes the outcome: the same target, the same operation and
    /// resource.
    #[test]
    fn percent_encoding_never_changes_the_classification(
        (method, path, op, name) in valid_request(),
        mask in prop::collection::vec(0u8..4, 1..64),
    ) {
        let plain = normalize_str(&path).unwrap().unwrap();
        let classified = classify(&method, &plain.path).unwrap();
        prop_assert_eq!(classified.operation.name(), op, "{}", path);
        prop_assert_eq!(classified.resource.as_deref(), Some(name.as_str()), "{}", path);
        let encoded = encode_some(&path, &mask);
        prop_assert_eq!(normalize_str(&encoded), Some(Ok(plain)), "{} encoded as {}", path, encoded);
        prop_assert_eq!(outcome(&method, &encoded).unwrap().unwrap().1, Ok(classified));
    }

    /// Encoding an escape again (`%2F` as `%252F`) decodes once, as Go does: the path holds a
    /// literal `%`, which is forwarded as `%25`, so dockerd too reads it once.
    #[test]
    fn double_encoding_decodes_once(
        (_method, path, _op, _name) in valid_request(),
        mask in prop::collection::vec(0u8..4, 1..64),
        which in any::<Index>(),
    ) {
        let mut encoded = encode_some(&path, &mask);
        let percents: Vec<usize> = encoded.match_indices('%').map(|(i, _)| i).collect();
        if percents.is_empty() {
            // After the leading `/`, which cannot be encoded.
            let at = 1 + which.index(encoded.len() - 1);
            let byte = encoded.as_bytes()[at];
            encoded.replace_range(at..=at, &format!("%25{byte:02X}"));
        } else {
            let at = percents[which.index(percents.len())];
            encoded.replace_range(at..=at, "%25");
        }
        let Some(Ok(accepted)) = normalize_str(&encoded) else {
            return Err(TestCaseError::fail(format!("{encoded} -> {:?}", normalize_str(&encoded))));
        };
        prop_assert!(accepted.path.contains('%'), "{} -> {:?}", encoded, accepted);
        prop_assert!(accepted.to_origin_form().contains("%25"), "{} -> {:?}", encoded, accepted);
        prop_assert_eq!(normalize_str(&accepted.to_origin_form()), Some(Ok(accepted.clone())), "{}", encoded);
    }

    /// 4. Inserting `//`, `/./` or `/../`, plainly or percent-encoded, anywhere in a valid path is
    /// always refused as unclean.
    #[test]
    fn dot_segments_and_empty_segments_are_always_refused(
        (_method, path, _op, _name) in valid_request(),
        at in any::<Index>(),
        insert in prop::sample::select(&[
            "//", "/./", "/../", "/%2F", "%2F/", "%2f%2F", "/%2e/", "/%2E%2e/", "%2F.%2F", "%2f..%2F", "/.%2e/",
            "/%2E/", "/.%2E%2F",
        ][..]),
    ) {
        // After the leading `/`: a target that does not start with one is not in origin form.
        let at = 1 + at.index(path.len());
        let mut target = path.clone();
        target.insert_str(at, insert);
        prop_assert!(
            matches!(normalize_str(&target), Some(Err(TargetError::Unclean(_)))),
            "{} -> {:?}", target, normalize_str(&target)
        );
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// gorilla/mux redirects every path that `cleanPath` changes instead of routing it, so every
    /// accepted path must be clean.
    #[test]
    fn accepted_paths_are_clean_as_gorilla_mux_sees_them(target in target_soup()) {
        let Some(Ok(accepted)) = normalize_str(&target) else { return Ok(()) };
        let forwarded = forwarded_path(&accepted);
        prop_assert_eq!(mux_clean_path(&forwarded), forwarded.clone(), "{:?} is accepted but not clean", target);
    }
}
