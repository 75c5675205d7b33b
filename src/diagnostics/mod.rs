//! Where a problem in a file is and how it reads: `file:line:col` positions, "did you mean"
//! suggestions, and [`Problems`], the list of every problem found that policy, configuration and
//! case loading all return. It knows no file format's meaning: the loaders decide what is wrong,
//! this module only says where and how.

pub mod keys;
mod suggest;
mod toml;

use std::fmt;

pub use self::toml::report_toml_error;
pub use suggest::{closest, unknown_key};

/// `(line, column)`, both counted from 1, of a byte offset.
pub fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Every problem found in a file or set of files, each with where it is.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<Problem>);

/// One problem in a file.
#[derive(Debug)]
pub struct Problem {
    pub file: String,
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl Problems {
    /// A list of one problem.
    pub fn single(file: &str, position: Option<(usize, usize)>, message: impl Into<String>) -> Problems {
        Problems(vec![Problem { file: file.to_string(), position, message: message.into() }])
    }

    /// Notes a problem.
    pub fn push(&mut self, file: String, position: Option<(usize, usize)>, message: impl Into<String>) {
        self.0.push(Problem { file, position, message: message.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        assert_eq!(position("ab\ncd", 0), (1, 1));
        assert_eq!(position("ab\ncd", 4), (2, 2));
        assert_eq!(position("é\nx", 3), (2, 1));
        assert_eq!(position("ab", 99), (1, 3));
    }

    #[test]
    fn problems_print_one_per_line() {
        let mut problems = Problems::single("a.toml", Some((1, 2)), "first");
        problems.push("b.toml".to_string(), None, "second");
        assert_eq!(problems.to_string(), "a.toml:1:2: first\nb.toml: second");
    }
}
