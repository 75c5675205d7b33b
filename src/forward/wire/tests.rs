use super::*;
use crate::http1::{Decoded, Decoder};
use proptest::prelude::*;

/// dockerd's answer to `GET /_ping`, byte for byte, then the next answer's first bytes.
const PING: &[u8] = b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nCache-Control: no-cache, no-store, must-revalidate\r\n\
Docker-Experimental: false\r\nOstype: linux\r\nPragma: no-cache\r\nServer: Docker/20.10.24+dfsg1 (linux)\r\n\
Date: Mon, 07 Dec 2026 07:16:27 GMT\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOKHTTP/1.1";

fn head(bytes: &[u8], method: &Method) -> io::Result<Option<Head>> {
    parse_head(&mut BytesMut::from(bytes), method)
}

fn framing_of(bytes: &str) -> io::Result<(Framing, bool)> {
    let head = head(bytes.as_bytes(), &Method::GET)?.ok_or_else(|| invalid("incomplete"))?;
    Ok((head.framing, head.keep_alive))
}

fn encoded(method: Method, headers: &[(&'static str, &'static str)], size: BodySize) -> (String, Framing) {
    let mut head = Vec::new();
    let mut spans = Vec::new();
    for (name, value) in headers {
        let at = head.len();
        head.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        spans.push((at, at + name.len(), at + name.len() + 2, at + name.len() + 2 + value.len()));
    }
    let fields = Fields::new(bytes::Bytes::from(head), spans);
    let mut out = BytesMut::new();
    let framing = encode_head(&method, "/v1.41/containers/json?all=1", &fields, b"docker", size, &mut out);
    (String::from_utf8_lossy(&out).into_owned(), framing)
}

#[test]
fn a_request_without_a_body_is_its_head_alone_with_its_fields_as_they_came() {
    let (head, framing) =
        encoded(Method::GET, &[("Host", "docker"), ("User-Agent", "Docker-Client/20.10")], BodySize::Empty);
    assert_eq!(
        head,
        "GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: docker\r\nUser-Agent: Docker-Client/20.10\r\n\r\n"
    );
    assert_eq!(framing, Framing::Empty);
}

#[test]
fn a_request_without_a_host_gets_the_engines() {
    let (head, _) = encoded(Method::GET, &[("Accept", "*/*")], BodySize::Empty);
    assert_eq!(head, "GET /v1.41/containers/json?all=1 HTTP/1.1\r\nAccept: */*\r\nHost: docker\r\n\r\n");
    let (head, _) = encoded(Method::GET, &[("HOST", "api")], BodySize::Empty);
    assert!(head.contains("\r\nHOST: api\r\n") && !head.contains("docker"), "{head}");
}

#[test]
fn a_body_is_framed_by_its_own_size_whatever_the_fields_say() {
    let (head, framing) = encoded(Method::POST, &[("Content-Length", "5")], BodySize::Exact(5));
    assert_eq!((head.matches("Content-Length: 5\r\n").count(), framing), (1, Framing::Length(5)));
    let (head, framing) = encoded(Method::POST, &[], BodySize::Exact(7));
    assert!(head.contains("Content-Length: 7\r\n"), "{head}");
    assert_eq!(framing, Framing::Length(7));
    // A body rewritten to another size (an amended create) is announced by its new size.
    let (head, framing) = encoded(Method::POST, &[("content-length", "5"), ("Host", "docker")], BodySize::Exact(60));
    assert!(head.contains("Content-Length: 60\r\n") && !head.contains(": 5\r\n"), "{head}");
    assert_eq!(framing, Framing::Length(60));
    // The client sent its body chunked: it goes on chunked, whatever coding the client named.
    let (head, framing) = encoded(Method::POST, &[("Transfer-Encoding", "gzip, chunked")], BodySize::Unknown);
    assert!(head.contains("Transfer-Encoding: chunked\r\n") && !head.contains("gzip"), "{head}");
    assert_eq!(framing, Framing::Chunked);
    // A chunked body read whole goes by its length, and no longer chunked.
    let (head, framing) = encoded(Method::POST, &[("transfer-encoding", "chunked")], BodySize::Exact(3));
    assert!(head.contains("Content-Length: 3\r\n") && !head.contains("chunked"), "{head}");
    assert_eq!(framing, Framing::Length(3));
    // As hyper's client: GET, HEAD and CONNECT of unknown length go without a body.
    let (head, framing) = encoded(Method::GET, &[], BodySize::Unknown);
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert_eq!(framing, Framing::Empty);
    // An empty body the client announced as such is announced so, and not otherwise.
    let (head, framing) = encoded(Method::POST, &[("Content-Length", "0")], BodySize::Empty);
    assert!(head.ends_with("Content-Length: 0\r\n\r\n"), "{head}");
    assert_eq!(framing, Framing::Empty);
    let (head, _) = encoded(Method::POST, &[], BodySize::Empty);
    assert!(!head.contains("Content-Length"), "{head}");
}

#[test]
fn dockerds_ping_answer_is_read_whole_in_one_piece_or_byte_by_byte() -> io::Result<()> {
    for split in 0..PING.len() {
        let mut buf = BytesMut::from(&PING[..split]);
        let parsed = match parse_head(&mut buf, &Method::GET)? {
            Some(parsed) => {
                buf.extend_from_slice(&PING[split..]);
                parsed
            }
            None => {
                buf.extend_from_slice(&PING[split..]);
                parse_head(&mut buf, &Method::GET)?.ok_or_else(|| invalid("incomplete"))?
            }
        };
        assert_eq!(parsed.parts.status, StatusCode::OK);
        let names: Vec<&[u8]> = parsed.fields.iter().map(|(name, _)| name).collect();
        assert_eq!(names.len(), 9, "{names:?}");
        // As they came, in their case.
        assert_eq!(names[0], b"Api-Version");
        assert_eq!(parsed.fields.get("api-version"), Some(&b"1.41"[..]));
        assert_eq!(parsed.fields.get("ostype"), Some(&b"linux"[..]));
        assert_eq!(parsed.fields.get("server"), Some(&b"Docker/20.10.24+dfsg1 (linux)"[..]));
        assert!(parsed.parts.headers.is_empty());
        assert_eq!((parsed.framing, parsed.keep_alive), (Framing::Length(2), true));
        // The body and what follows it stay in the buffer.
        assert_eq!(&buf[..], b"OKHTTP/1.1");
    }
    Ok(())
}

#[test]
fn interim_answers_are_skipped_but_a_switch_of_protocols_is_not() -> io::Result<()> {
    let mut buf =
        BytesMut::from(&b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"[..]);
    let parsed = parse_head(&mut buf, &Method::POST)?.ok_or_else(|| invalid("incomplete"))?;
    assert_eq!((parsed.parts.status, parsed.framing, parsed.keep_alive), (StatusCode::CREATED, Framing::Empty, true));
    assert!(buf.is_empty());
    let mut buf = BytesMut::from(&b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2"[..]);
    assert!(parse_head(&mut buf, &Method::POST)?.is_none());
    let switched = head(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nraw", &Method::POST)?
        .ok_or_else(|| invalid("incomplete"))?;
    assert_eq!((switched.parts.status.as_u16(), switched.framing, switched.keep_alive), (101, Framing::Empty, false));
    Ok(())
}

#[test]
fn answers_without_a_body_have_none_whatever_their_headers_say() -> io::Result<()> {
    let to_head =
        head(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n", &Method::HEAD)?.ok_or_else(|| invalid("incomplete"))?;
    assert_eq!(to_head.framing, Framing::Empty);
    assert_eq!(framing_of("HTTP/1.1 204 No Content\r\nContent-Length: 20\r\n\r\n")?, (Framing::Empty, true));
    assert_eq!(framing_of("HTTP/1.1 304 Not Modified\r\n\r\n")?, (Framing::Empty, true));
    Ok(())
}

#[test]
fn framing_follows_the_answers_headers() -> io::Result<()> {
    assert_eq!(framing_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")?, (Framing::Chunked, true));
    assert_eq!(framing_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked \r\n\r\n")?, (Framing::Chunked, true));
    assert_eq!(
        framing_of("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n")?,
        (Framing::Length(5), true)
    );
    assert_eq!(
        framing_of("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: Close\r\n\r\n")?,
        (Framing::Length(5), false)
    );
    assert_eq!(
        framing_of("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n")?,
        (Framing::Close, false)
    );
    assert_eq!(framing_of("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n")?, (Framing::Length(5), false));
    Ok(())
}

#[test]
fn ambiguous_or_malformed_answers_are_errors() {
    for answer in [
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nFolded: a\r\n b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: a\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
    ] {
        assert!(framing_of(answer).is_err(), "{answer:?} was read");
    }
}

#[test]
fn a_head_that_never_ends_is_refused_at_the_limit() {
    let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nX-Long: "[..]);
    buf.extend_from_slice(&vec![b'a'; MAX_HEAD_BYTES]);
    assert!(parse_head(&mut buf, &Method::GET).is_err());
}

/// An answer as read: its status, its fields, its body, and whether the body ended.
type Read = (u16, Vec<(String, Vec<u8>)>, Vec<u8>, bool);

/// What reading `answer` to a `GET` comes to, fed in pieces of the sizes `cuts` gives (cycled);
/// `None` when it failed.
fn read_answer(answer: &[u8], cuts: &[usize]) -> Option<Read> {
    let mut buf = BytesMut::new();
    let mut pieces = cuts.iter().cycle().scan(0usize, |at, cut| {
        let start = (*at).min(answer.len());
        *at = start + cut.max(&1);
        Some(&answer[start..(*at).min(answer.len())])
    });
    let head = loop {
        if let Some(head) = parse_head(&mut buf, &Method::GET).ok()? {
            break head;
        }
        let piece = pieces.next()?;
        if piece.is_empty() {
            return None;
        }
        buf.extend_from_slice(piece);
    };
    let fields =
        head.fields.iter().map(|(n, v)| (String::from_utf8_lossy(n).to_ascii_lowercase(), v.to_vec())).collect();
    let mut decoder = Decoder::new(head.framing);
    let mut body = Vec::new();
    loop {
        match decoder.decode(&mut buf).ok()? {
            Decoded::Data(data) => body.extend_from_slice(&data),
            Decoded::End => return Some((head.parts.status.as_u16(), fields, body, true)),
            Decoded::More => match pieces.next() {
                Some(piece) if !piece.is_empty() => buf.extend_from_slice(piece),
                _ => {
                    let ended = decoder.eof().ok()? == Decoded::End;
                    return Some((head.parts.status.as_u16(), fields, body, ended));
                }
            },
        }
    }
}

/// Answers as an engine might send them, and many it should not: a status line, fields that
/// frame the body or do not, and a body made of the bytes framing is made of.
fn answers() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        Just(b"Transfer-Encoding: chunked".to_vec()),
        (0u64..40).prop_map(|n| format!("Content-Length: {n}").into_bytes()),
        Just(b"Connection: close".to_vec()),
        Just(b"Content-Type: application/json".to_vec()),
        proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b':'), Just(b' '), Just(b'\r'), Just(b','), Just(b'1')],
            0..12
        ),
    ];
    let status = prop_oneof![
        Just("HTTP/1.1 200 OK"),
        Just("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"),
        Just("HTTP/1.1 204 No Content"),
        Just("HTTP/1.0 200 OK")
    ];
    // Whole chunks, last chunks, trailer fields and line ends, with stray bytes between them.
    let token = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..12).prop_map(|data| {
            let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
            chunk.extend_from_slice(&data);
            chunk.extend_from_slice(b"\r\n");
            chunk
        }),
        Just(b"0\r\n\r\n".to_vec()),
        Just(b"0;x=1\r\nX-Trailer: 1\r\n\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        proptest::collection::vec(
            prop_oneof![Just(b'5'), Just(b'F'), Just(b'\r'), Just(b'\n'), Just(b';'), any::<u8>()],
            1..4
        ),
    ];
    let body = proptest::collection::vec(token, 0..6).prop_map(|tokens| tokens.concat());
    (status, proptest::collection::vec(field, 0..4), body).prop_map(|(status, fields, body)| {
        let mut answer = status.as_bytes().to_vec();
        for field in fields {
            answer.extend_from_slice(b"\r\n");
            answer.extend_from_slice(&field);
        }
        answer.extend_from_slice(b"\r\n\r\n");
        answer.extend_from_slice(&body);
        answer
    })
}

proptest! {
    /// However the engine's bytes arrive, whole or a few at a time, they read the same: the same
    /// head and body, the same end, or a failure both ways; and a body never holds more bytes than
    /// came after its head.
    #[test]
    fn an_answer_reads_the_same_whole_or_in_pieces(
        answer in answers(),
        cuts in proptest::collection::vec(1usize..9, 1..16),
    ) {
        let whole = read_answer(&answer, &[answer.len()]);
        let pieces = read_answer(&answer, &cuts);
        if let Some((_, _, body, _)) = &whole {
            prop_assert!(body.len() <= answer.len());
        }
        prop_assert_eq!(whole, pieces);
    }
}
