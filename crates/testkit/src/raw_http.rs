//! Raw HTTP/1.1 over a `TcpStream`, for tests that must see exactly what a node's HTTP port
//! sends: status, headers and JSON body, byte by byte where timing matters, without an HTTP
//! client that would retry, pool or fix up requests. The node's HTTP tests and the CLI's flood
//! tests read answers with it.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

/// One request on a new connection (`Connection: close`, `Host: x`, the body's
/// `Content-Length`), read to the end: the status and the JSON body (`Null` when it is none).
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let json = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| serde_json::from_str(b).unwrap_or_default())
        .unwrap_or_default();
    (status, json)
}

/// Asserts an API refusal: the status, the stable code, and a message that is not empty.
pub fn assert_error(got: (u16, serde_json::Value), status: u16, code: &str) {
    assert_eq!((got.0, got.1["error"].as_str()), (status, Some(code)), "{}", got.1);
    assert!(got.1["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", got.1);
}

/// An event-stream client: reads `data:` lines of the stream. A read gives up after 90 s (a
/// devnet under load may take that long to commit), so a stream that stalls fails the test.
#[derive(Debug)]
pub struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    pub fn open(addr: SocketAddr, query: &str, last_id: Option<&str>) -> Self {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
        let resume = last_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
        write!(s, "GET /v1/events{query} HTTP/1.1\r\nHost: x\r\n{resume}\r\n").unwrap();
        let mut reader = BufReader::new(s);
        // the headers: once they are here, the stream's starting point is fixed
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.contains(" 200 "), "{line}");
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
        }
        Self { reader }
    }

    /// The next event's id and data.
    pub fn next_event(&mut self) -> (String, serde_json::Value) {
        let mut id = String::new();
        loop {
            let mut line = String::new();
            assert!(self.reader.read_line(&mut line).unwrap() > 0, "stream ended");
            if let Some(v) = line.trim_end().strip_prefix("id:") {
                id = v.trim().to_owned();
            }
            if let Some(data) = line.trim_end().strip_prefix("data:") {
                return (id, serde_json::from_str(data.trim()).unwrap());
            }
        }
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters: the text travels exactly as typed.
pub fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The status of a GET and, unless it is 200 (an event stream, left open until dropped), its
/// JSON body.
pub fn stream_answer(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    if status == 200 {
        return (status, serde_json::Value::Null);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

/// One answer read off a socket: status, headers (names in lower case), JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub json: serde_json::Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.json["error"].as_str()), (status, Some(code)), "{self:?}");
        assert!(self.json["message"].as_str().is_some_and(|m| !m.is_empty()), "{self:?}");
        assert_eq!(self.header("content-type"), Some("application/json"), "{self:?}");
    }
}

/// A connection the test drives byte by byte. Connecting gives up after 10 s and reads after
/// 30 s, so a server that never answers fails the test instead of hanging it.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Reads one answer (its head, then `Content-Length` bytes of body).
pub fn read_reply(s: &mut TcpStream) -> Reply {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).expect("an answer"), 1, "closed before an answer; got {head:?}");
        head.push(byte[0]);
    }
    let text = String::from_utf8(head).unwrap();
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize =
        headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    Reply { status, headers, json: serde_json::from_slice(&body).unwrap_or_default() }
}

/// Sends `request` on a new connection and reads the answer.
pub fn raw(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    read_reply(&mut s)
}

/// Whether the server closed the connection: the next read ends the stream (and does not
/// time out).
pub fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => true,
        Err(e) => panic!("still open after 30 s ({e}); read {rest:?}"),
    }
}

/// Whether the server closed the connection without sending anything more.
pub fn closed_silently(s: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => true,
        Err(e) => panic!("still open after 30 s ({e}); read {rest:?}"),
    }
}
