//! A reader of server-sent events (the WHATWG "event stream" format the node's
//! `GET /v1/events` speaks) over any blocking byte reader, within bounds: a line longer than
//! [`SseReader::max_line`] or an event whose data grows past it ends the stream with an error
//! instead of growing memory. Comments (`:` lines, the node's keep-alives) are skipped; `retry`
//! is ignored (the caller has its own backoff).

use std::io::{BufRead, Read};

/// One event: its `id`, its `event` type (`message` when none is given) and its data lines
/// joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// Why an event stream could not be read further.
#[derive(Debug, thiserror::Error)]
pub enum SseError {
    #[error("reading the event stream: {0}")]
    Io(#[from] std::io::Error),
    #[error("the event stream sent a line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    #[error("the event stream sent an event larger than {limit} bytes")]
    EventTooLarge { limit: usize },
    #[error("the event stream sent a line that is not UTF-8")]
    NotUtf8,
}

/// Reads events one at a time from `reader`.
#[derive(Debug)]
pub struct SseReader<R> {
    reader: R,
    max: usize,
    line: Vec<u8>,
}

impl<R: BufRead> SseReader<R> {
    /// A reader whose lines and events are at most `max` bytes each.
    pub fn new(reader: R, max: usize) -> Self {
        Self { reader, max, line: Vec::new() }
    }

    /// The bound on a line and on an event's data.
    pub fn max_line(&self) -> usize {
        self.max
    }

    /// One line without its end (`\n`, `\r\n`); `None` at the end of the stream.
    fn read_line(&mut self) -> Result<Option<&str>, SseError> {
        self.line.clear();
        let limit = self.max as u64 + 2;
        let n = (&mut self.reader).take(limit).read_until(b'\n', &mut self.line)?;
        if n == 0 {
            return Ok(None);
        }
        if self.line.last() != Some(&b'\n') && n as u64 == limit {
            return Err(SseError::LineTooLong { limit: self.max });
        }
        while matches!(self.line.last(), Some(b'\n' | b'\r')) {
            self.line.pop();
        }
        std::str::from_utf8(&self.line).map(Some).map_err(|_| SseError::NotUtf8)
    }

    /// The next event; `None` when the stream ends (an event not finished by a blank line is
    /// dropped, as the format says).
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, SseError> {
        let max = self.max;
        let (mut id, mut event, mut data): (Option<String>, Option<String>, Option<String>) =
            (None, None, None);
        loop {
            let Some(line) = self.read_line()? else { return Ok(None) };
            if line.is_empty() {
                match data.take() {
                    Some(data) => {
                        let event = event.take().unwrap_or_else(|| "message".into());
                        return Ok(Some(SseEvent { id: id.take(), event, data }));
                    }
                    None => {
                        (id, event) = (None, None);
                        continue;
                    }
                }
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => id = Some(value.to_owned()),
                "event" => event = Some(value.to_owned()),
                "data" => {
                    let d = data.get_or_insert_with(String::new);
                    if d.len() + value.len() + 1 > max {
                        return Err(SseError::EventTooLarge { limit: max });
                    }
                    if !d.is_empty() {
                        d.push('\n');
                    }
                    d.push_str(value);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str, max: usize) -> Vec<Result<SseEvent, String>> {
        let mut r = SseReader::new(text.as_bytes(), max);
        let mut out = Vec::new();
        loop {
            match r.next_event() {
                Ok(Some(e)) => out.push(Ok(e)),
                Ok(None) => return out,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }

    #[test]
    fn reads_ids_types_and_data_and_skips_comments() {
        let text = ": keep-alive\n\nid: 3:0\nevent: port\ndata: {\"a\":1}\n\nid:4:1\r\ndata: x\r\ndata: y\r\n\r\ndata: unfinished";
        let got = events(text, 1024);
        assert_eq!(
            got,
            vec![
                Ok(SseEvent { id: Some("3:0".into()), event: "port".into(), data: "{\"a\":1}".into() }),
                Ok(SseEvent { id: Some("4:1".into()), event: "message".into(), data: "x\ny".into() }),
            ]
        );
    }

    #[test]
    fn a_line_or_an_event_past_the_bound_ends_the_stream() {
        let long = format!("data: {}\n\n", "z".repeat(100));
        assert_eq!(events(&long, 50), vec![Err("the event stream sent a line longer than 50 bytes".into())]);
        let many = "data: 0123456789\n".repeat(10) + "\n";
        assert_eq!(
            events(&many, 50),
            vec![Err("the event stream sent an event larger than 50 bytes".into())]
        );
        // at the bound exactly, it is read
        let exact = format!("data: {}\n\n", "z".repeat(44));
        assert_eq!(events(&exact, 50).len(), 1);
    }
}
