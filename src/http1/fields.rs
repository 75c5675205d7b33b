//! Header fields as a peer sent them: the bytes of its head and where each field's name and value
//! are in them, names in the case they came in. A client's request carries its fields this way
//! (see [`super::Request`]), and the engine's client writes them out to the engine as they came;
//! an answer relayed from the engine carries its fields this way too, with the answer's body (see
//! `crate::body::Body::with_fields`), and the listeners' server writes them out. Neither is parsed into a header map and written back
//! out.
//!
//! What is in it was checked by the head's tokenizer: names are tokens, values hold no control
//! characters but tab, the same bytes a header map accepts.

use bytes::Bytes;

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

    /// Keeps only the fields `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(Named, &[u8], &[u8]) -> bool) {
        let head = &self.head;
        self.at.retain(|span| {
            let slice = |(start, end): (u32, u32)| &head[start as usize..end as usize];
            keep(span.named, slice(span.name), slice(span.value))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_in_any_case_kept_in_order_and_filtered() {
        let head = Bytes::from_static(b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nX-A: 1\r\nx-a: 2\r\n\r\n");
        let mut fields = Fields::new(head, [(17, 28, 30, 34), (36, 39, 41, 42), (44, 47, 49, 50), (0, 999, 0, 1)]);
        assert_eq!(fields.len(), 3);
        assert_eq!(fields.get("api-version"), Some(&b"1.41"[..]));
        assert_eq!(fields.get("X-A"), Some(&b"1"[..]));
        let names: Vec<&[u8]> = fields.iter().map(|(name, _)| name).collect();
        assert_eq!(names, [&b"Api-Version"[..], b"X-A", b"x-a"]);
        fields.retain(|_, name, _| !name.eq_ignore_ascii_case(b"x-a"));
        assert_eq!(fields.len(), 1);
        assert!(!fields.is_empty() && Fields::default().is_empty());
    }
}
