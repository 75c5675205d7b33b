//! A model of JSON documents as dockerd decodes them, and a writer that spells them in every way
//! Go's `encoding/json` reads alike: re-cased keys, `\u` escapes, `ſ` and the Kelvin sign,
//! escaped `/`, any whitespace.

/// A JSON document as dockerd decodes it: struct objects (keys matched case-insensitively, so
/// they may be re-spelt) and map objects (keys compared exactly). `walked` says whether sockgate
/// views the struct (and so must refuse duplicates in it); `read` whether it reads the map.
#[derive(Clone, Debug)]
pub(super) enum V {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<V>),
    Struct { members: Vec<(String, V)>, walked: bool },
    Map { members: Vec<(String, V)>, read: bool },
}

pub(super) fn s(text: &str) -> V {
    V::Str(text.to_string())
}

pub(super) fn st(walked: bool, members: &[(&str, V)]) -> V {
    V::Struct { members: members.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(), walked }
}

pub(super) fn map(read: bool, members: &[(&str, V)]) -> V {
    V::Map { members: members.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(), read }
}

/// Random choices for the writer, taken in turn and cycled; an empty tape is all zeros, which
/// writes plain JSON. Shrinking the tape shrinks towards plain JSON.
pub(super) struct Tape<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
}

impl Tape<'_> {
    fn next(&mut self) -> u8 {
        if self.bytes.is_empty() {
            return 0;
        }
        let b = self.bytes[self.pos % self.bytes.len()];
        self.pos += 1;
        b
    }
}

pub(super) fn ws(tape: &mut Tape<'_>, out: &mut String) {
    out.push_str(match tape.next() % 8 {
        1 => " ",
        2 => "\n",
        3 => "\t",
        4 => "\r\n  ",
        _ => "",
    });
}

pub(super) fn escape(c: char, upper: bool, out: &mut String) {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        if upper {
            out.push_str(&format!("\\u{unit:04X}"));
        } else {
            out.push_str(&format!("\\u{unit:04x}"));
        }
    }
}

pub(super) fn flip(c: char) -> char {
    if c.is_ascii_uppercase() {
        c.to_ascii_lowercase()
    } else {
        c.to_ascii_uppercase()
    }
}

/// Writes a struct key as Go would still match it to the same field: each letter maybe re-cased,
/// maybe `\u`-escaped, `s` maybe `ſ` and `k` maybe the Kelvin sign (raw or escaped).
pub(super) fn write_struct_key(key: &str, tape: &mut Tape<'_>, out: &mut String) {
    out.push('"');
    for c in key.chars() {
        let choice = tape.next();
        let upper = choice & 0x80 != 0;
        let fold = match c {
            's' | 'S' => Some('\u{017F}'),
            'k' | 'K' => Some('\u{212A}'),
            _ => None,
        };
        match (choice % 8, fold) {
            (1, _) => out.push(flip(c)),
            (2, _) => escape(c, upper, out),
            (3, _) => escape(flip(c), upper, out),
            (4, Some(f)) => out.push(f),
            (5, Some(f)) => escape(f, upper, out),
            _ => write_string_char(c, 0, out),
        }
    }
    out.push('"');
}

pub(super) fn write_string_char(c: char, choice: u8, out: &mut String) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        c if u32::from(c) < 0x20 => escape(c, false, out),
        '/' if choice % 4 == 2 => out.push_str("\\/"),
        c if choice % 4 == 1 => escape(c, choice & 0x80 != 0, out),
        c => out.push(c),
    }
}

/// Writes a string (value or map key) exactly, with some characters `\u`-escaped.
pub(super) fn write_string(text: &str, tape: &mut Tape<'_>, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        write_string_char(c, tape.next(), out);
    }
    out.push('"');
}

pub(super) fn write(value: &V, tape: &mut Tape<'_>, out: &mut String) {
    ws(tape, out);
    match value {
        V::Null => out.push_str("null"),
        V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        V::Int(n) => out.push_str(&n.to_string()),
        V::Str(text) => write_string(text, tape, out),
        V::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, tape, out);
            }
            ws(tape, out);
            out.push(']');
        }
        V::Struct { members, .. } | V::Map { members, .. } => {
            let is_struct = matches!(value, V::Struct { .. });
            out.push('{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                ws(tape, out);
                if is_struct {
                    write_struct_key(key, tape, out);
                } else {
                    write_string(key, tape, out);
                }
                ws(tape, out);
                out.push(':');
                write(item, tape, out);
            }
            ws(tape, out);
            out.push('}');
        }
    }
    ws(tape, out);
}

pub(super) fn to_json(value: &V, tape: &[u8]) -> String {
    let mut out = String::new();
    write(value, &mut Tape { bytes: tape, pos: 0 }, &mut out);
    out
}

/// Shuffles the members of every object, with choices from `tape`.
pub(super) fn shuffle(value: &mut V, tape: &mut Tape<'_>) {
    match value {
        V::Struct { members, .. } | V::Map { members, .. } => {
            for i in (1..members.len()).rev() {
                members.swap(i, usize::from(tape.next()) % (i + 1));
            }
            members.iter_mut().for_each(|(_, v)| shuffle(v, tape));
        }
        V::Arr(items) => items.iter_mut().for_each(|v| shuffle(v, tape)),
        _ => {}
    }
}
