//! Just enough HTTP/1.1 over a unix socket to check what the CLI cannot show: status codes,
//! headers, and what happens to the connection itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

const IO_TIMEOUT: Duration = Duration::from_secs(30);

pub struct HttpResponse {
    pub status: u16,
    /// Header lines as sent, names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.body).with_context(|| format!("response body is not JSON: {}", self.body))
    }
}

/// The head of a request the way the docker CLI sends it (the body, if any, follows it).
pub fn request_head(method: &str, path: &str, json_len: Option<usize>, close: bool) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\n");
    if let Some(len) = json_len {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {len}\r\n"));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head
}

/// One request on a fresh connection, with `Connection: close`.
pub fn http_request(socket: &Path, method: &str, path: &str, json_body: Option<&str>) -> Result<HttpResponse> {
    let mut conn = HttpConnection::open(socket)?;
    let mut request = request_head(method, path, json_body.map(str::len), true);
    request.push_str(json_body.unwrap_or_default());
    conn.send(request.as_bytes()).with_context(|| format!("sending {method} {path}"))?;
    conn.read_response().with_context(|| format!("reading the answer to {method} {path}"))
}

/// A client connection kept open across requests, written to and read from step by step.
pub struct HttpConnection {
    reader: BufReader<UnixStream>,
}

impl HttpConnection {
    pub fn open(socket: &Path) -> Result<Self> {
        Self::open_with_timeout(socket, IO_TIMEOUT)
    }

    /// As [`HttpConnection::open`], failing any read or write that takes longer than `timeout`.
    pub fn open_with_timeout(socket: &Path, timeout: Duration) -> Result<Self> {
        let stream = UnixStream::connect(socket).with_context(|| format!("cannot connect to {}", socket.display()))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Self { reader: BufReader::new(stream) })
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(bytes)?;
        stream.flush()?;
        Ok(())
    }

    /// Reads one response: by `Content-Length`, chunked (RFC 9112 section 7.1, no trailers:
    /// dockerd sends none), or until the server closes.
    pub fn read_response(&mut self) -> Result<HttpResponse> {
        let status_line = self.line()?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .with_context(|| format!("bad status line `{status_line}`"))?;
        let mut headers = Vec::new();
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let mut response = HttpResponse { status, headers, body: String::new() };
        let mut body = Vec::new();
        if response.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let size_line = self.line()?;
                let size_hex = size_line.split(';').next().unwrap_or_default().trim();
                let size =
                    usize::from_str_radix(size_hex, 16).with_context(|| format!("bad chunk size `{size_hex}`"))?;
                if size == 0 {
                    self.line()?;
                    break;
                }
                let start = body.len();
                body.resize(start + size, 0);
                self.reader.read_exact(&mut body[start..])?;
                self.line()?;
            }
        } else if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().context("bad content-length")?;
            body.resize(len, 0);
            self.reader.read_exact(&mut body)?;
        } else {
            self.reader.read_to_end(&mut body)?;
        }
        response.body = String::from_utf8_lossy(&body).into_owned();
        Ok(response)
    }

    fn line(&mut self) -> Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            bail!("the connection closed mid-response");
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}
