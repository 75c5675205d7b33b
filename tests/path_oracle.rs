//! sockgate's reading of request targets, checked against Go's own: `tests/go/pathoracle` reads
//! each target with `net/http` (`http.ReadRequest`, so `url.ParseRequestURI` and its
//! `url.PathUnescape` decoding) and says what dockerd's router does with the path (route it, or
//! redirect it as gorilla/mux `cleanPath` would). The inputs are every byte 0x00-0xFF, raw and
//! escaped, at the places a name goes and the version goes, UTF-8 sequences good and bad, the
//! kept corpus (`corpus/paths.txt`) and a seeded soup of the pieces that make targets tricky.
//!
//! For every target sockgate accepts, Go decodes the target sockgate forwards to exactly the path
//! sockgate classified (version prefix included), routes it without a redirect, and reads the
//! original target the same way, with one exception: a raw `#`, which the HTTP parser in front of
//! sockgate takes for the start of a fragment and drops while Go keeps it in the path; sockgate
//! forwards only what it read, so the engine still acts on the path that was judged.
//!
//! Every target sockgate refuses is one that Go refuses, answers with a redirect, or reads two
//! ways; by sockgate's reason (when several hold, any one of them that holds for Go will do):
//!
//! - `http`: the HTTP parser refuses the request line before sockgate sees it; Go refuses it too,
//!   or it holds a raw byte that RFC 3986 says must be escaped and clients escape (space, `"`,
//!   `<`, `>`, `\`, `^`, `` ` ``, `{`, `|`, `}`, controls, non-ASCII that is not UTF-8, and some
//!   of these only in the query);
//! - `form`: not origin form; Go refuses it, or routes the path of an absolute URL whose host is
//!   not the Host header (a proxy's form, no Docker client sends it);
//! - `escape`: a bad percent-escape, which Go refuses;
//! - `unclean`: dot segments or empty ones, which gorilla/mux answers with a redirect;
//! - `control`: a control character, which Go refuses raw; escaped, Go decodes it, and dockerd's
//!   router then reads `\n` two ways (`.` in `{name:.*}` does not match it, `[^/]+` does), and NUL
//!   is kept in memory but refused by every system call; the class is refused as a whole;
//! - `utf8`: decodes to bytes that are not UTF-8, which gorilla/mux matches as U+FFFD while the
//!   handler gets the bytes;
//! - `version`: a `/vX.Y` prefix with an empty part, which dockerd's `versions.compare` reads as 0;
//! - `fragment`: what is left once the HTTP parser dropped a raw `#` and what follows is refused for
//!   one of the reasons above, while Go, which keeps the `#` in the path, might have routed it.
//!
//! Without `go` the test is skipped, unless `CI=true`, where it fails.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use http::Uri;
use sockgate::normalize::{self, Target, TargetError};

#[path = "go/build.rs"]
mod build;

/// What Go makes of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Go {
    Reject(String),
    Redirect(Vec<u8>),
    /// The decoded path; whether `.*` reads it as `[^/]+` does; whether it is UTF-8.
    Route {
        path: Vec<u8>,
        dot: bool,
        utf8: bool,
    },
}

/// Asks the oracle about every target at once.
fn ask(oracle: &Path, targets: &[Vec<u8>]) -> Vec<Go> {
    let mut child = Command::new(oracle)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run the path oracle: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input: String = targets.iter().map(|t| format!("{}\n", hex(t))).collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let answers: Vec<Go> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|line| {
            let line = line.unwrap();
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                ["reject", why] => Go::Reject((*why).to_owned()),
                ["redirect", path, _clean] => Go::Redirect(unhex(path)),
                ["route", path, dot, utf8] => Go::Route { path: unhex(path), dot: *dot == "1", utf8: *utf8 == "1" },
                _ => panic!("the path oracle said `{line}`"),
            }
        })
        .collect();
    writer.join().unwrap().unwrap();
    assert!(child.wait().unwrap().success(), "the path oracle failed");
    assert_eq!(answers.len(), targets.len(), "the path oracle skipped targets");
    answers
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// Every byte, raw and escaped (both cases), where names and versions go, plus UTF-8 sequences.
fn every_byte() -> Vec<Vec<u8>> {
    let mut targets = Vec::new();
    let spellings = |b: u8| [vec![b], format!("%{b:02X}").into_bytes(), format!("%{b:02x}").into_bytes()];
    for b in 0..=255u8 {
        for spelled in spellings(b) {
            for (before, after) in [
                (&b"/v1.41/networks/a"[..], &b"b"[..]),
                (b"/networks/", b""),
                (b"/containers/", b"/json"),
                (b"/images/x", b"y/json"),
                (b"/v1.41", b"/_ping"),
                (b"/v1", b"41/_ping"),
                (b"/", b"/json"),
                (b"/containers/x/", b""),
            ] {
                targets.push([before, &spelled, after].concat());
            }
        }
        // Encoded twice: decodes once, to a literal escape.
        targets.push(format!("/networks/%25{b:02X}").into_bytes());
    }
    for seq in ["C3A9", "C3", "C328", "E282AC", "E282", "F09F9880", "C0AF", "EDA080", "F4908080", "EFBFBD", "E280AE"] {
        let escaped: String = (0..seq.len()).step_by(2).map(|i| format!("%{}", &seq[i..i + 2])).collect();
        targets.push(format!("/networks/a{escaped}b").into_bytes());
        targets.push([&b"/networks/a"[..], &unhex(&seq.to_ascii_lowercase()), b"b"].concat());
    }
    targets
}

/// The targets of the kept corpus.
fn corpus() -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/paths.txt")).unwrap();
    text.lines()
        .map(|line| line.trim().trim_start_matches("! "))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_whitespace().nth(1))
        .map(|target| target.as_bytes().to_vec())
        .collect()
}

/// Pieces that make targets tricky, strung together by a seeded generator.
const PIECES: &[&str] = &[
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
    "%20",
    " ",
    "%00",
    "%0A",
    "%zz",
    "%7",
    "%3F",
    "?",
    "%23",
    "#",
    "%C3%A9",
    "é",
    "%FF",
    "%76",
    "v",
    "v1",
    "v1.41",
    "1",
    "1..2",
    "containers",
    "json",
    "networks",
    "test",
    "exec",
    "images",
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
    "\\",
    "\"",
    "{",
    "}",
    "[",
    "]",
    "^",
    "`",
    "|",
    "<",
    ">",
    "\t",
    "%5C",
    "%7B",
    "%22",
];

fn soup(count: usize) -> Vec<Vec<u8>> {
    // A 64-bit LCG (Knuth's MMIX constants): the same inputs on every run.
    let mut state: u64 = 0x5eed_f00d_0ec0_0a7e;
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    (0..count)
        .map(|_| {
            let mut target = String::from("/");
            for _ in 0..next() % 10 {
                target.push_str(PIECES[next() % PIECES.len()]);
            }
            target.into_bytes()
        })
        .collect()
}

/// sockgate's reading: `None` when the HTTP parser refuses the target.
fn sockgate(target: &[u8]) -> Option<Result<Target, TargetError>> {
    Uri::try_from(target).ok().map(|uri| normalize::target(&uri))
}

/// The path dockerd routes for an accepted target: the version prefix and the path.
fn full_path(target: &Target) -> Vec<u8> {
    let mut path = target.version.as_ref().map(|v| format!("/v{v}")).unwrap_or_default().into_bytes();
    path.extend_from_slice(target.path.as_bytes());
    path
}

/// A `/vX.Y` prefix with an empty part (`/v1..41`, `/v1.`): dockerd's `versions.compare` reads
/// the empty part as 0.
fn bad_version(path: &[u8]) -> bool {
    let Some(rest) = path.strip_prefix(b"/v") else { return false };
    let version = rest.split(|b| *b == b'/').next().unwrap_or_default();
    version.iter().all(|b| b.is_ascii_digit() || *b == b'.') && version.split(|b| *b == b'.').any(<[u8]>::is_empty)
}

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

#[test]
fn go_decodes_what_sockgate_forwards_to_what_sockgate_judged() {
    let dir = tempfile::tempdir().unwrap();
    let Some(oracle) = build::oracle("pathoracle", dir.path()) else { return };
    let mut targets = every_byte();
    targets.extend(corpus());
    targets.extend(soup(4000));
    targets.sort();
    targets.dedup();

    let readings: Vec<Option<Result<Target, TargetError>>> = targets.iter().map(|t| sockgate(t)).collect();
    let forwarded: Vec<Vec<u8>> = readings
        .iter()
        .filter_map(|r| r.as_ref().and_then(|r| r.as_ref().ok()))
        .map(|t| t.to_origin_form().into_bytes())
        .collect();
    let mut asked = targets.clone();
    asked.extend(forwarded.iter().cloned());
    let answers = ask(&oracle, &asked);
    let (go_original, go_forwarded) = answers.split_at(targets.len());
    let mut go_forwarded = go_forwarded.iter();

    let mut failures = Vec::new();
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for ((target, reading), go) in targets.iter().zip(&readings).zip(go_original) {
        let shown = show(target);
        let category = match reading {
            None => {
                let must_escape = |b: &u8| b.is_ascii_control() || b" \"<>\\^`{|}".contains(b) || !b.is_ascii();
                let explained = matches!(go, Go::Reject(_))
                    || target.iter().any(must_escape)
                    || std::str::from_utf8(target).is_err();
                if !explained {
                    failures.push(format!("{shown}: the HTTP parser refuses what Go reads as {go:?}"));
                }
                "http"
            }
            Some(Ok(accepted)) => {
                let Some(go_fwd) = go_forwarded.next() else { unreachable!("one forwarded target per accepted one") };
                let sent = accepted.to_origin_form();
                let want = full_path(accepted);
                if sent.parse::<Uri>().is_err() {
                    failures.push(format!("{shown}: forwards `{sent}`, which the HTTP client cannot send"));
                }
                match go_fwd {
                    Go::Route { path, dot: true, utf8: true } if *path == want => {}
                    other => failures.push(format!(
                        "{shown}: sockgate judged {} and forwards `{sent}`, which Go reads as {other:?}",
                        show(&want)
                    )),
                }
                let fragment = target.contains(&b'#') && !target.starts_with(b"#");
                match go {
                    Go::Route { path, .. } if *path == want => "accepted",
                    _ if fragment => "accepted, raw fragment dropped",
                    other => {
                        failures.push(format!("{shown}: sockgate judged {}, Go reads {other:?}", show(&want)));
                        "accepted"
                    }
                }
            }
            Some(Err(refusal)) => {
                let category = match refusal {
                    TargetError::NotOriginForm(_) => "form",
                    TargetError::BadEscape(_) => "escape",
                    TargetError::Unclean(_) => "unclean",
                    TargetError::Control(_) => "control",
                    TargetError::NotUtf8(_) => "utf8",
                    TargetError::BadVersion(_) => "version",
                };
                // A target may be refused for more than one reason, and sockgate and Go check them
                // in different orders: any reason that holds for Go explains the refusal.
                let explained = match go {
                    Go::Reject(_) | Go::Redirect(_) => true,
                    Go::Route { dot: false, .. } | Go::Route { utf8: false, .. } => true,
                    Go::Route { path, .. } => {
                        path.iter().any(u8::is_ascii_control)
                            || (category == "form" && path != target)
                            || (category == "version" && bad_version(path))
                    }
                };
                if explained {
                    category
                } else if target.contains(&b'#') {
                    // The HTTP parser dropped a raw fragment: sockgate judged what is left of it.
                    "fragment"
                } else {
                    failures.push(format!("{shown}: refused as `{category}` ({refusal}), but Go reads it as {go:?}"));
                    category
                }
            }
        };
        *tally.entry(category).or_default() += 1;
    }
    assert!(go_forwarded.next().is_none());
    eprintln!("{} targets: {tally:?}", targets.len());
    assert!(failures.is_empty(), "{} of {} targets:\n{}", failures.len(), targets.len(), failures.join("\n"));
    // The generator reaches every category, or the test proves less than it says.
    for category in ["accepted", "http", "escape", "unclean", "control", "utf8", "version"] {
        assert!(tally.get(category).copied().unwrap_or(0) > 0, "no target was {category}: {tally:?}");
    }
}
