//! Header fields as a peer sent them: the bytes of its head and where each field's name and value
//! are in them, names in the case they came in. A client's request carries its fields this way
//! (see [`super::Request`]), and the engine's client writes them out to the engine as they came;
//! an answer relayed from the engine carries its fields this way too, with the answer's body (see
//! `crate::body::Body::with_fields`), and the listeners' server writes them out. Neither is parsed into a header map and written back
//! out.
//!
//! What is in it was checked by the head's tokenizer: names are tokens, values hold no control
//! characters but tab, the same bytes a header map accepts.

use bytes::{Bytes, BytesMut};

use super::Named;

/// Where each field a tokenizer found is in the head it read (see [`Fields::located`]).
pub struct Located(Vec<Span>);

impl Located {
    /// Where `fields`, read by httparse from the buffer that starts at `base`, are in it.
    pub fn new(base: *const u8, fields: &[httparse::Header<'_>]) -> Located {
        let base = base as usize;
        let mut at = Vec::with_capacity(fields.len());
        for field in fields {
            // Offsets into a head under `MAX_HEAD_BYTES`: they fit in a u32.
            let name = (field.name.as_ptr() as usize).wrapping_sub(base) as u32;
            let value = (field.value.as_ptr() as usize).wrapping_sub(base) as u32;
            at.push(Span {
                name: (name, name + field.name.len() as u32),
                value: (value, value + field.value.len() as u32),
                named: Named::of(field.name.as_bytes()),
            });
        }
        Located(at)
    }
}

/// Where one field is in the head.
#[derive(Debug, Clone, Copy)]
struct Span {
    name: (u32, u32),
    value: (u32, u32),
    /// What the name is to a head's framing and connection, told once.
    named: Named,
}

/// Header fields as received.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    head: Bytes,
    at: Vec<Span>,
}

impl Fields {
    /// The fields at `spans` in `head`: (name start, name end, value start, value end) each.
    /// Spans outside the head are left out.
    pub fn new(head: Bytes, spans: impl IntoIterator<Item = (usize, usize, usize, usize)>) -> Fields {
        let fits = |start: usize, end: usize| start <= end && end <= head.len();
        let at = spans
            .into_iter()
            .filter(|&(a, b, c, d)| fits(a, b) && fits(c, d))
            .filter_map(|(a, b, c, d)| {
                let u = |n: usize| u32::try_from(n).ok();
                Some(Span { name: (u(a)?, u(b)?), value: (u(c)?, u(d)?), named: Named::of(&head[a..b]) })
            })
            .collect();
        Fields { head, at }
    }

    /// Each field's name and value, in the order they came.
    /// The fields `located` in `head`, which must be the buffer they were located in, cut to the
    /// head's length (a field outside it is left out).
    pub fn located(head: Bytes, located: Located) -> Fields {
        let mut at = located.0;
        let fits = |(start, end): (u32, u32)| start <= end && end as usize <= head.len();
        if !at.iter().all(|span| fits(span.name) && fits(span.value)) {
            at.retain(|span| fits(span.name) && fits(span.value));
        }
        Fields { head, at }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Clone + '_ {
        self.at.iter().map(|span| {
            let slice = |(start, end): (u32, u32)| &self.head[start as usize..end as usize];
            (slice(span.name), slice(span.value))
        })
    }

    /// Each field's name and value with what its name is to the head's framing and connection.
    pub fn named(&self) -> impl Iterator<Item = (Named, &[u8], &[u8])> + Clone + '_ {
        self.at.iter().map(|span| {
            let slice = |(start, end): (u32, u32)| &self.head[start as usize..end as usize];
            (span.named, slice(span.name), slice(span.value))
        })
    }

    /// The first value of the field named `name` (in any case).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|(_, value)| value)
    }

    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Leaves out the fields that describe one connection rather than the message (RFC 9110
    /// section 7.6.1): `Connection`, every field it names, and the well-known hop-by-hop fields.
    pub fn strip_hop_by_hop(&mut self) {
        // Most heads carry none; one that names options in `Connection` carries that field.
        if !self.at.iter().any(|span| span.named.is_hop_by_hop()) {
            return;
        }
        let head = &self.head;
        let slice = |(start, end): (u32, u32)| &head[start as usize..end as usize];
        // Where the options the `Connection` fields list are in the head, each trimmed.
        let mut listed: Vec<(u32, u32)> = Vec::new();
        for span in self.at.iter().filter(|span| span.named == Named::Connection) {
            let mut start = span.value.0;
            for part in slice(span.value).split(|&b| b == b',') {
                let trimmed = part.trim_ascii();
                let from = start + (trimmed.as_ptr() as usize - part.as_ptr() as usize) as u32;
                listed.push((from, from + trimmed.len() as u32));
                start += part.len() as u32 + 1;
            }
        }
        self.at.retain(|span| {
            let name = slice(span.name);
            !span.named.is_hop_by_hop() && !listed.iter().any(|&option| slice(option).eq_ignore_ascii_case(name))
        });
    }

    /// Writes the fields `keep` says yes to, each as `name: value` and CRLF, in the order they
    /// came. Runs of lines that came written so are copied whole.
    pub fn write(&self, out: &mut BytesMut, mut keep: impl FnMut(Named) -> bool) {
        let head = &self.head[..];
        // The run of lines as they came not yet copied, as (start, end) in the head.
        let mut run: Option<(usize, usize)> = None;
        for span in &self.at {
            if !keep(span.named) {
                continue;
            }
            let (name, value) =
                ((span.name.0 as usize, span.name.1 as usize), (span.value.0 as usize, span.value.1 as usize));
            let as_written =
                head.get(name.1..value.0) == Some(&b": "[..]) && head.get(value.1..value.1 + 2) == Some(&b"\r\n"[..]);
            match run {
                Some((_, end)) if as_written && end == name.0 => run = run.map(|(start, _)| (start, value.1 + 2)),
                _ => {
                    if let Some((start, end)) = run.take() {
                        out.extend_from_slice(&head[start..end]);
                    }
                    if as_written {
                        run = Some((name.0, value.1 + 2));
                    } else {
                        out.extend_from_slice(&head[name.0..name.1]);
                        out.extend_from_slice(b": ");
                        out.extend_from_slice(&head[value.0..value.1]);
                        out.extend_from_slice(b"\r\n");
                    }
                }
            }
        }
        if let Some((start, end)) = run {
            out.extend_from_slice(&head[start..end]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_in_any_case_and_kept_in_order() {
        let head = Bytes::from_static(b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nX-A: 1\r\nx-a: 2\r\n\r\n");
        let fields = Fields::new(head, [(17, 28, 30, 34), (36, 39, 41, 42), (44, 47, 49, 50), (0, 999, 0, 1)]);
        assert_eq!(fields.len(), 3);
        assert_eq!(fields.get("api-version"), Some(&b"1.41"[..]));
        assert_eq!(fields.get("X-A"), Some(&b"1"[..]));
        let names: Vec<&[u8]> = fields.iter().map(|(name, _)| name).collect();
        assert_eq!(names, [&b"Api-Version"[..], b"X-A", b"x-a"]);
        assert!(!fields.is_empty() && Fields::default().is_empty());
    }

    #[test]
    fn hop_by_hop_fields_and_those_connection_names_are_left_out_in_any_case() {
        let head = Bytes::from_static(
            b"Connection: X-Hop , x-two\r\nX-HOP: 1\r\nKeep-Alive: 5\r\nApi-Version: 1.41\r\nX-Two: 2\r\n",
        );
        let spans = [(0, 10, 12, 25), (27, 32, 34, 35), (37, 47, 49, 50), (52, 63, 65, 69), (71, 76, 78, 79)];
        let mut fields = Fields::new(head, spans);
        fields.strip_hop_by_hop();
        let names: Vec<&[u8]> = fields.iter().map(|(name, _)| name).collect();
        assert_eq!(names, [&b"Api-Version"[..]]);
        // Without hop-by-hop fields, a field that shares a name with nothing listed stays.
        let mut plain = Fields::new(Bytes::from_static(b"X-Hop: 1\r\n"), [(0, 5, 7, 8)]);
        plain.strip_hop_by_hop();
        assert_eq!(plain.len(), 1);
    }

    /// The fields of `head` (lines of `name:value`, with any spaces) as httparse would locate them.
    fn located(head: &'static [u8]) -> Fields {
        let mut spans = Vec::new();
        let mut at = 0;
        for line in head.split_inclusive(|&b| b == b'\n') {
            let colon = line.iter().position(|&b| b == b':').unwrap_or(0);
            let text = &line[colon + 1..];
            let start = text.iter().position(|&b| b != b' ').unwrap_or(0);
            let end = text.iter().rposition(|&b| !b" \r\n".contains(&b)).map_or(start, |e| e + 1);
            spans.push((at, at + colon, at + colon + 1 + start, at + colon + 1 + end));
            at += line.len();
        }
        Fields::new(Bytes::from_static(head), spans)
    }

    #[test]
    fn fields_are_written_as_name_colon_space_value_whether_copied_in_runs_or_one_by_one() {
        let cases: [(&[u8], &[u8]); 4] = [
            // All as written: copied as they came, less what is left out.
            (b"A: 1\r\nContent-Length: 2\r\nB: 2\r\nC: 3\r\n", b"A: 1\r\nB: 2\r\nC: 3\r\n"),
            // Other spacing, bare LF, trailing spaces, an empty value: each written anew.
            (b"A:1\r\nB:  2  \r\nC: 3\nD: 4\r\nE:\r\nF: \r\n", b"A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: \r\nF: \r\n"),
            (b"", b""),
            (b"Content-Length: 2\r\n", b""),
        ];
        for (head, written) in cases {
            let fields = located(head);
            let mut out = BytesMut::new();
            fields.write(&mut out, |named| named != Named::ContentLength);
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(written),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }
}
