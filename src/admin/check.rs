//! `sockgate healthcheck`: asks an admin listener for one endpoint over a plain blocking socket
//! and says whether it answered `200`. It is a client only, for container health checks; it
//! serves nothing and retries nothing.

use std::time::Duration;

use crate::address::ListenAddr;

/// `sockgate healthcheck`: asks an admin listener for `path` and says whether it answered 200.
pub fn check(addr: &ListenAddr, path: &str, timeout: Duration) -> Result<(), String> {
    use std::io::{Read, Write};
    let request = format!("GET {path} HTTP/1.0\r\nHost: sockgate\r\n\r\n");
    let mut response = Vec::new();
    let result = match addr {
        ListenAddr::Tcp(hostport) => {
            let addrs = std::net::ToSocketAddrs::to_socket_addrs(hostport.as_str()).map_err(|e| e.to_string())?;
            let target = addrs.into_iter().next().ok_or_else(|| format!("`{hostport}` resolves to nothing"))?;
            let mut stream = std::net::TcpStream::connect_timeout(&target, timeout).map_err(|e| e.to_string())?;
            stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
            stream.write_all(request.as_bytes()).and_then(|()| stream.read_to_end(&mut response))
        }
        ListenAddr::Unix(path) => {
            let mut stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| e.to_string())?;
            stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
            stream.write_all(request.as_bytes()).and_then(|()| stream.read_to_end(&mut response))
        }
    };
    result.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let status = text.split(' ').nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        Err(format!("{path} answered: {}", text.lines().next().unwrap_or("nothing")))
    }
}
