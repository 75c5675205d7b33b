//! Route templates matched as gorilla/mux matches them, without a regular expression engine.
//!
//! dockerd's templates use three variable patterns: `{name}` (`[^/]+`, one segment), `{name:.*}`
//! and `{name:.+}` (any characters but a newline). mux anchors the whole pattern, and in every
//! template a one-segment variable is followed by `/` or the end, and a spanning variable is the
//! last one: so each variable's extent is fixed by what follows it, and matching is one pass over
//! the path with no backtracking. [`Pattern::parse`] refuses any template outside that shape, and
//! the tests compare every route with the regular expression mux would build from it.

use std::ops::Range;

/// What a variable matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// `[^/]+`
    Segment,
    /// `.*`
    Any,
    /// `.+`
    Some,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Literal(&'static str),
    Variable(Class),
}

/// One route template, ready to match.
#[derive(Debug)]
pub(super) struct Pattern {
    parts: Vec<Part>,
}

/// A template outside the shape this module matches.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route template `{template}`: {why}")]
pub(super) struct PatternError {
    template: &'static str,
    why: &'static str,
}

impl Pattern {
    pub(super) fn parse(template: &'static str) -> Result<Pattern, PatternError> {
        let error = |why| PatternError { template, why };
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(&rest[..open]));
            }
            let close = rest[open..].find('}').map(|c| open + c).ok_or_else(|| error("unclosed variable"))?;
            let class = match rest[open + 1..close].split_once(':') {
                None => Class::Segment,
                Some((_, ".*")) => Class::Any,
                Some((_, ".+")) => Class::Some,
                Some(_) => return Err(error("a variable pattern other than `.*` or `.+`")),
            };
            parts.push(Part::Variable(class));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest));
        }
        for (i, part) in parts.iter().enumerate() {
            match (part, parts.get(i + 1)) {
                (Part::Variable(Class::Segment), None) => {}
                (Part::Variable(Class::Segment), Some(Part::Literal(next))) if next.starts_with('/') => {}
                (Part::Variable(Class::Segment), _) => {
                    return Err(error("a one-segment variable not followed by `/` or the end"))
                }
                (Part::Variable(_), _) if parts[i + 1..].iter().any(|p| matches!(p, Part::Variable(_))) => {
                    return Err(error("a spanning variable before another variable"))
                }
                _ => {}
            }
        }
        Ok(Pattern { parts })
    }

    /// Whether `path` matches the whole template; if so, where the first variable's value lies.
    pub(super) fn matches(&self, path: &str) -> Option<Option<Range<usize>>> {
        let mut at = 0;
        let mut first = None;
        for (i, part) in self.parts.iter().enumerate() {
            let rest = &path[at..];
            let end = match *part {
                Part::Literal(literal) => {
                    if !rest.starts_with(literal) {
                        return None;
                    }
                    at += literal.len();
                    continue;
                }
                Part::Variable(Class::Segment) => at + rest.find('/').unwrap_or(rest.len()),
                Part::Variable(class) => {
                    // The last variable: what follows it is one literal, up to the end.
                    let tail = match self.parts.get(i + 1) {
                        Some(Part::Literal(tail)) => *tail,
                        _ => "",
                    };
                    // Not inside a multi-byte character: the tail could not start there.
                    let end =
                        path.len().checked_sub(tail.len()).filter(|end| *end >= at && path.is_char_boundary(*end))?;
                    if !path[end..].eq(tail) || path[at..end].contains('\n') || (class == Class::Some && end == at) {
                        return None;
                    }
                    end
                }
            };
            if matches!(part, Part::Variable(Class::Segment)) && end == at {
                return None;
            }
            first.get_or_insert(at..end);
            at = end;
        }
        (at == path.len()).then_some(first)
    }

    /// The path's first segment, when the template's is fixed: routes are looked up by it.
    pub(super) fn first_segment(&self) -> Option<&'static str> {
        match self.parts.first() {
            Some(Part::Literal(literal)) => {
                let segment = literal.strip_prefix('/')?;
                match segment.find('/') {
                    Some(slash) => Some(&segment[..slash]),
                    // The literal ends inside the first segment: a variable may continue it.
                    None if self.parts.len() == 1 => Some(segment),
                    None => None,
                }
            }
            _ => None,
        }
    }
}

/// A path's first segment, as [`Pattern::first_segment`] names a template's.
pub(super) fn first_segment(path: &str) -> &str {
    let rest = path.strip_prefix('/').unwrap_or(path);
    rest.split('/').next().unwrap_or(rest)
}
