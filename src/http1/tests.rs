use super::*;
use proptest::prelude::*;

/// Everything `decoder` makes of `pieces` fed one after the other, then of the connection's end
/// when `closed`.
fn decode_all(mut decoder: Decoder, pieces: &[&[u8]], closed: bool) -> io::Result<(Vec<u8>, bool, BytesMut)> {
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf)? {
                Decoded::Data(data) => {
                    assert!(!data.is_empty(), "an empty data frame");
                    body.extend_from_slice(&data);
                }
                Decoded::End => return Ok((body, true, buf)),
                Decoded::More => break,
            }
        }
    }
    let ended = closed && decoder.eof()? == Decoded::End;
    Ok((body, ended, buf))
}
#[test]
fn a_length_delimited_body_ends_at_its_length() -> io::Result<()> {
    let (body, ended, rest) = decode_all(Decoder::Length(5), &[b"he", b"lloHTTP"], false)?;
    assert_eq!((&body[..], ended, &rest[..]), (&b"hello"[..], true, &b"HTTP"[..]));
    // Cut short by the engine.
    assert!(decode_all(Decoder::Length(5), &[b"hel"], true).is_err());
    Ok(())
}

#[test]
fn a_body_read_until_close_ends_when_the_engine_closes() -> io::Result<()> {
    let (body, ended, _) = decode_all(Decoder::Close, &[b"raw ", b"stream"], true)?;
    assert_eq!((&body[..], ended), (&b"raw stream"[..], true));
    Ok(())
}

#[test]
fn a_chunked_body_as_go_writes_it() -> io::Result<()> {
    let wire: &[u8] = b"5\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\nHTTP";
    let expected = b"helloabcdefghijklmnopqrstuvwxyz";
    let (body, ended, rest) = decode_all(Decoder::Chunked(Chunk::Size), &[wire], false)?;
    assert_eq!((&body[..], ended, &rest[..]), (&expected[..], true, &b"HTTP"[..]));
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    let (body, ended, rest) = decode_all(Decoder::Chunked(Chunk::Size), &bytes, false)?;
    // Fed a byte at a time, it stops before what follows the body.
    assert_eq!((&body[..], ended, &rest[..]), (&expected[..], true, &b""[..]));
    // Extensions and trailers are read and dropped.
    let wire: &[u8] = b"5 ;name=value\r\nhello\r\n0;last\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n";
    let (body, ended, rest) = decode_all(Decoder::Chunked(Chunk::Size), &[wire], false)?;
    assert_eq!((&body[..], ended, rest.is_empty()), (&b"hello"[..], true, true));
    Ok(())
}

#[test]
fn malformed_chunked_bodies_are_errors() {
    for wire in [
        &b"5\r\nhelloX\r\n0\r\n\r\n"[..],
        b"5\r\nhello\r\r\n0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"x\r\n",
        b"\r\n",
        b"-5\r\n",
        b"5x\r\n",
        b"5\r5\r\n",
        b"0x5\r\n",
        b"11111111111111111\r\nhello",
        b"0\r\nX-Trailer: a\rb\r\n\r\n",
    ] {
        assert!(
            decode_all(Decoder::Chunked(Chunk::Size), &[wire], false).is_err(),
            "{:?} was read",
            String::from_utf8_lossy(wire)
        );
    }
    // Cut short by the engine.
    assert!(decode_all(Decoder::Chunked(Chunk::Size), &[b"5\r\nhel"], true).is_err());
    // A size line or trailers that never end.
    assert!(decode_all(Decoder::Chunked(Chunk::Size), &[&vec![b'1'; MAX_CHUNK_LINE + 10]], false).is_err());
    let mut trailers = b"0\r\n".to_vec();
    for _ in 0..MAX_TRAILER_BYTES / 8 + 1 {
        trailers.extend_from_slice(b"X-A: 1\r\n");
    }
    assert!(decode_all(Decoder::Chunked(Chunk::Size), &[&trailers], false).is_err());
}

#[test]
fn the_largest_chunk_size_is_read_and_one_digit_more_refused() -> io::Result<()> {
    let mut buf = BytesMut::from(&b"ffffffffffffffff\r\nab"[..]);
    let mut decoder = Decoder::Chunked(Chunk::Size);
    assert_eq!(decoder.decode(&mut buf)?, Decoded::Data(Bytes::from_static(b"ab")));
    assert_eq!(decoder, Decoder::Chunked(Chunk::Data(u64::MAX - 2)));
    Ok(())
}

proptest! {
    /// Any body, chunked in any sizes and delivered in any pieces, decodes to itself and leaves
    /// what follows it in the buffer.
    #[test]
    fn chunked_bodies_decode_to_what_was_chunked(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..300), 0..8),
        cuts in proptest::collection::vec(1usize..64, 1..40),
        upper in any::<bool>(),
    ) {
        let mut wire = Vec::new();
        for chunk in &chunks {
            let size = if upper { format!("{:X}", chunk.len()) } else { format!("{:x}", chunk.len()) };
            wire.extend_from_slice(size.as_bytes());
            wire.extend_from_slice(b"\r\n");
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(LAST_CHUNK);
        wire.extend_from_slice(b"NEXT");
        let mut pieces = Vec::new();
        let mut at = 0;
        for cut in cuts.iter().cycle() {
            if at >= wire.len() {
                break;
            }
            let end = (at + cut).min(wire.len());
            pieces.push(&wire[at..end]);
            at = end;
        }
        let (body, ended, rest) = decode_all(Decoder::Chunked(Chunk::Size), &pieces, false).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(body, chunks.concat());
        prop_assert!(ended);
        // What came in the same pieces as the end stays; what came after was never fed.
        prop_assert!(b"NEXT".starts_with(&rest));
    }
}

/// The docker CLI's `docker ps`, byte for byte.
const PS: &[u8] = b"GET /v1.41/containers/json HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: Docker-Client/20.10.24+dfsg1 (linux)\r\n\r\n";

fn request_head(bytes: &[u8]) -> Result<request::Head, request::Refused> {
    let mut buf = BytesMut::from(bytes);
    request::parse(&mut buf)?
        .ok_or_else(|| request::Refused { status: http::StatusCode::OK, reason: "incomplete".into() })
}

fn refusal(bytes: &str) -> Option<u16> {
    request_head(bytes.as_bytes()).err().map(|r| r.status.as_u16())
}

#[test]
fn the_clis_request_is_read_whole_or_in_pieces_and_what_follows_stays() -> Result<(), request::Refused> {
    let mut wire = PS.to_vec();
    wire.extend_from_slice(b"GET /_ping");
    for split in 0..PS.len() {
        let mut buf = BytesMut::from(&wire[..split]);
        assert!(request::parse(&mut buf)?.is_none(), "complete at {split}");
        buf.extend_from_slice(&wire[split..]);
        let head = request::parse(&mut buf)?
            .ok_or_else(|| request::Refused { status: http::StatusCode::OK, reason: "incomplete".into() })?;
        assert_eq!((head.parts.method.as_str(), head.parts.uri.path()), ("GET", "/v1.41/containers/json"));
        assert_eq!(head.fields.get("user-agent"), Some(&b"Docker-Client/20.10.24+dfsg1 (linux)"[..]));
        assert!(head.parts.headers.is_empty());
        assert_eq!(
            (head.framing, head.keep_alive, head.expects_continue, head.upgrade),
            (Framing::Empty, true, false, false)
        );
        assert_eq!(&buf[..], b"GET /_ping");
    }
    Ok(())
}

#[test]
fn a_request_body_is_framed_by_its_length_or_chunked_and_ambiguity_is_refused() -> Result<(), request::Refused> {
    let framing =
        |fields: &str| request_head(format!("POST /build HTTP/1.1\r\n{fields}\r\n").as_bytes()).map(|h| h.framing);
    assert_eq!(framing("")?, Framing::Empty);
    assert_eq!(framing("Content-Length: 0\r\n")?, Framing::Empty);
    assert_eq!(framing("Content-Length: 12\r\n")?, Framing::Length(12));
    assert_eq!(framing("Content-Length: 12\r\nContent-Length: 12\r\n")?, Framing::Length(12));
    assert_eq!(framing("Transfer-Encoding: Chunked\r\n")?, Framing::Chunked);
    assert_eq!(refusal("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), Some(400));
    assert_eq!(refusal("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), Some(400));
    assert_eq!(refusal("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"), Some(400));
    assert_eq!(
        refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Some(501)
    );
    assert_eq!(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), Some(501));
    assert_eq!(refusal("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), Some(400));
    // Whitespace before a field's colon and folded lines are refused by the tokenizer.
    assert_eq!(refusal("POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\n"), Some(400));
    assert_eq!(refusal("POST / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), Some(400));
    Ok(())
}

#[test]
fn the_head_says_whether_the_connection_goes_on_expects_continue_or_switches() -> Result<(), request::Refused> {
    let head = |text: &str| request_head(text.as_bytes());
    assert!(head("GET / HTTP/1.1\r\n\r\n")?.keep_alive);
    assert!(!head("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")?.keep_alive);
    assert!(!head("GET / HTTP/1.0\r\n\r\n")?.keep_alive);
    assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")?.keep_alive);
    assert!(head("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")?.expects_continue);
    assert_eq!(refusal("POST / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n"), Some(417));
    assert!(head("POST /exec/x/start HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")?.upgrade);
    assert!(!head("POST /exec/x/start HTTP/1.1\r\nUpgrade: tcp\r\n\r\n")?.upgrade);
    Ok(())
}

#[test]
fn heads_too_large_or_not_http_1_are_refused() {
    let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', request::MAX_HEAD_BYTES));
    assert_eq!(request::parse(&mut BytesMut::from(&big[..])).err().map(|r| r.status.as_u16()), Some(431));
    let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(refusal(&format!("GET / HTTP/1.1\r\n{many}\r\n")), Some(431));
    assert_eq!(refusal("GET / HTTP/2.0\r\n\r\n"), Some(505));
    assert_eq!(refusal("GET /a b HTTP/1.1\r\n\r\n"), Some(400));
    assert_eq!(refusal("G\x01T / HTTP/1.1\r\n\r\n"), Some(400));
}

fn encoded(
    status: u16,
    method: http::Method,
    version: http::Version,
    exact: Option<u64>,
    keep_alive: bool,
) -> (String, answer::Written) {
    let mut response = http::Response::new(());
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(header::CONTENT_LENGTH, http::HeaderValue::from_static("7"));
    response.headers_mut().insert(header::DATE, http::HeaderValue::from_static("Mon, 07 Dec 2026 07:16:27 GMT"));
    let (parts, ()) = response.into_parts();
    let mut out = BytesMut::new();
    let written = answer::encode(&parts, None, &method, version, exact, keep_alive, &mut out);
    (String::from_utf8_lossy(&out).into_owned(), written)
}

#[test]
fn an_answers_head_carries_the_framing_its_body_needs() {
    use http::{Method, Version};
    let (head, written) = encoded(200, Method::GET, Version::HTTP_11, Some(2), true);
    assert_eq!(head, "HTTP/1.1 200 OK\r\ndate: Mon, 07 Dec 2026 07:16:27 GMT\r\ncontent-length: 2\r\n\r\n");
    assert_eq!(written, answer::Written { framing: Framing::Length(2), keep_alive: true });
    let (head, written) = encoded(200, Method::GET, Version::HTTP_11, None, true);
    assert!(head.contains("transfer-encoding: chunked\r\n") && !head.contains("content-length"), "{head}");
    assert_eq!(written.framing, Framing::Chunked);
    let (head, written) = encoded(200, Method::GET, Version::HTTP_10, None, true);
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n") && head.contains("connection: close\r\n"), "{head}");
    assert_eq!(written, answer::Written { framing: Framing::Close, keep_alive: false });
    let (head, written) = encoded(200, Method::GET, Version::HTTP_10, Some(0), true);
    assert!(head.contains("connection: keep-alive\r\n") && head.contains("content-length: 0\r\n"), "{head}");
    assert_eq!(written, answer::Written { framing: Framing::Empty, keep_alive: true });
    // A HEAD's answer keeps the length a GET would have had, and has no body.
    let (head, written) = encoded(200, Method::HEAD, Version::HTTP_11, Some(0), true);
    assert!(head.contains("content-length: 7\r\n"), "{head}");
    assert_eq!(written.framing, Framing::Empty);
    let (head, _) = encoded(204, Method::DELETE, Version::HTTP_11, Some(0), false);
    assert!(!head.contains("content-length") && head.contains("connection: close\r\n"), "{head}");
    let (head, written) = encoded(101, Method::POST, Version::HTTP_11, Some(0), true);
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n") && !head.contains("connection"), "{head}");
    assert!(!written.keep_alive);
}

#[test]
fn an_engines_fields_are_written_as_they_came_with_the_framing_and_connection_replaced() {
    let head = bytes::Bytes::from_static(
        b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 7\r\nDate: Mon, 07 Dec 2026 07:16:27 GMT\r\nConnection: close\r\n\r\n",
    );
    let mut spans = Vec::new();
    let mut at = 17;
    for line in head[17..head.len() - 2].split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
        let colon = line.iter().position(|&b| b == b':').unwrap_or(0);
        let end = line.len() - 1;
        spans.push((at, at + colon, at + colon + 2, at + end));
        at += line.len() + 1;
    }
    let fields = Fields::new(head, spans);
    assert_eq!(fields.get("connection"), Some(&b"close"[..]));
    let (parts, ()) = http::Response::new(()).into_parts();
    let mut out = BytesMut::new();
    let written =
        answer::encode(&parts, Some(&fields), &http::Method::GET, http::Version::HTTP_11, Some(2), true, &mut out);
    let head = String::from_utf8_lossy(&out);
    assert_eq!(
        head,
        "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nDate: Mon, 07 Dec 2026 07:16:27 GMT\r\ncontent-length: 2\r\nconnection: close\r\n\r\n"
    );
    assert!(!written.keep_alive);
}

#[test]
fn names_are_told_apart_in_any_case_and_only_the_hop_by_hop_ones_are_so() {
    for name in HOP_BY_HOP {
        for spelled in [name.to_owned(), name.to_uppercase()] {
            assert!(Named::of(spelled.as_bytes()).is_hop_by_hop(), "{spelled}");
        }
    }
    for other in ["host", "tee", "keep-alives", "content-type", "date", "content-length", "upgrades", "trailers"] {
        assert!(!Named::of(other.as_bytes()).is_hop_by_hop(), "{other}");
    }
    assert_eq!(Named::of(b"CONTENT-LENGTH"), Named::ContentLength);
    assert_eq!(Named::of(b"Date"), Named::Date);
    assert_eq!(Named::of(b"HOST"), Named::Host);
    assert_eq!(Named::of(b"Hosts"), Named::Other);
    assert!(!Named::Host.is_hop_by_hop());
}
