//! Where a problem is written. A problem names its place by key path; the path is
//! looked up in the document as the TOML parser read it, with the parser's spans, so
//! `[radius]` + `workers = 0`, a dotted `radius.workers = 0` and an inline table are
//! all found alike.

use std::ops::Range;

use toml_edit::{Document, Item, Table, TableLike, Value};

use super::{ConfigError, ConfigErrors, Problem, Seg};

/// Turns problems found by path into errors with file, line and column, in file order.
pub fn locate_errors(file: &str, text: &str, problems: Vec<Problem>) -> ConfigErrors {
    // The text was parsed before any problem could be found; should it no longer parse,
    // the problems are still reported, at 1:1.
    let doc = Document::parse(text).ok();
    let mut errors: Vec<ConfigError> = problems
        .into_iter()
        .map(|(path, message)| {
            let offset = doc.as_ref().and_then(|d| locate(d.as_item(), &path));
            let (line, column) = offset.map_or((1, 1), |o| line_col(text, o));
            ConfigError {
                file: file.into(),
                line,
                column,
                message,
            }
        })
        .collect();
    errors.sort_by_key(|e| (e.line, e.column));
    ConfigErrors(errors)
}

/// 1-based line and column of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A place in the document: an item, a table of an array of tables, or a value in an
/// array (the last two are not items in toml_edit).
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Table(&'a Table),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    /// The item under key `k`, and where it is written: a `[table]` by its header,
    /// anything else by its key.
    fn key(self, k: &str) -> Option<(Node<'a>, Option<Range<usize>>)> {
        let table: &'a dyn TableLike = match self {
            Node::Item(i) => i.as_table_like()?,
            Node::Table(t) => t,
            Node::Value(v) => v.as_inline_table()?,
        };
        let (key, item) = table.get_key_value(k)?;
        let span = match item {
            Item::Table(t) => t.span().or_else(|| key.span()),
            _ => key.span(),
        };
        Some((Node::Item(item), span))
    }

    fn index(self, i: usize) -> Option<(Node<'a>, Option<Range<usize>>)> {
        match self {
            Node::Item(Item::ArrayOfTables(a)) => a.get(i).map(|t| (Node::Table(t), t.span())),
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
                a.get(i).map(|v| (Node::Value(v), v.span()))
            }
            _ => None,
        }
    }
}

/// Offset of the deepest part of `path` that is written: the key itself, else the
/// nearest table header or key above it (a default value has no place of its own).
fn locate(root: &Item, path: &[Seg]) -> Option<usize> {
    let mut best = None;
    let mut node = Node::Item(root);
    for seg in path {
        let found = match seg {
            Seg::Key(k) => node.key(k),
            Seg::Name(k) => node.key(k),
            Seg::Index(i) => node.index(*i),
        };
        let Some((next, span)) = found else {
            break;
        };
        best = span.map(|s| s.start).or(best);
        node = next;
    }
    best
}
