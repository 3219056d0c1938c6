//! The core's boundary, enforced: nothing under `src/domain`, `src/engine` or
//! `src/strategy` imports or mentions the terminal crates (`ratatui`, `crossterm`) or the
//! async runtime (`tokio`), and none of it imports a layer above it (`crate::app`,
//! `crate::ui`, `crate::venue` ...): the core sees only `crate::domain`, `crate::engine`
//! and `crate::strategy`. The source text is scanned with comments left out; a failure
//! names the file and the line.

use std::path::{Path, PathBuf};

/// The folders of the core, relative to the crate root.
const CORE: [&str; 3] = ["src/domain", "src/engine", "src/strategy"];

/// Crates the core must not touch: the terminal and the async runtime.
const FORBIDDEN_CRATES: [&str; 3] = ["tokio", "ratatui", "crossterm"];

/// The only `crate::` modules the core may name.
const CORE_MODULES: [&str; 3] = ["domain", "engine", "strategy"];

/// Every `.rs` file under `dir`, in path order.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    out
}

/// The source with every comment (`//` to the end of the line, `/* */` nested) blanked
/// out, newlines kept, so offsets still give line numbers.
fn strip_comments(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let (mut i, mut block_depth, mut line_comment) = (0, 0usize, false);
    while i < chars.len() {
        let (c, next) = (chars[i], chars.get(i + 1).copied());
        if c == '\n' {
            line_comment = false;
            out.push('\n');
        } else if line_comment {
            out.push(' ');
        } else if c == '/' && next == Some('*') {
            block_depth += 1;
            out.push_str("  ");
            i += 1;
        } else if block_depth > 0 && c == '*' && next == Some('/') {
            block_depth -= 1;
            out.push_str("  ");
            i += 1;
        } else if block_depth > 0 {
            out.push(' ');
        } else if c == '/' && next == Some('/') {
            line_comment = true;
            out.push(' ');
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier starting at byte `at` of `code` (empty if none).
fn ident_at(code: &str, at: usize) -> &str {
    let rest = &code[at..];
    let end = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
    &rest[..end]
}

/// The 1-based line of byte offset `at`.
fn line_of(code: &str, at: usize) -> usize {
    code[..at].matches('\n').count() + 1
}

/// Every place `word` occurs as a whole identifier, as byte offsets.
fn word_offsets<'a>(code: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    code.match_indices(word)
        .map(|(at, _)| at)
        .filter(move |&at| {
            let before = code[..at].chars().next_back();
            let after = code[at + word.len()..].chars().next();
            !before.is_some_and(is_ident_char) && !after.is_some_and(is_ident_char)
        })
}

/// The first segments of a `use` group's top-level entries: `{a::b, c, d::{e}}` gives
/// `a`, `c`, `d`, each with its offset. `at` is the offset of the opening brace.
fn group_heads(code: &str, at: usize) -> Vec<(usize, &str)> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut expect_head = true;
    for (i, c) in code[at..].char_indices() {
        let pos = at + i;
        match c {
            '{' => {
                depth += 1;
                expect_head = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect_head = true,
            c if expect_head && depth == 1 && is_ident_char(c) => {
                heads.push((pos, ident_at(code, pos)));
                expect_head = false;
            }
            _ => {}
        }
    }
    heads
}

/// What is wrong in one file of the core, one line per finding: `file:line: why`.
fn violations(file: &str, src: &str) -> Vec<String> {
    let code = strip_comments(src);
    let mut found = Vec::new();
    for krate in FORBIDDEN_CRATES {
        for at in word_offsets(&code, krate) {
            let line = line_of(&code, at);
            found.push((line, format!("{file}:{line}: mentions `{krate}`")));
        }
    }
    for at in word_offsets(&code, "crate") {
        let after = at + "crate".len();
        if !code[after..].starts_with("::") {
            continue;
        }
        let head = after + 2;
        let heads = if code[head..].starts_with('{') {
            group_heads(&code, head)
        } else {
            vec![(head, ident_at(&code, head))]
        };
        for (pos, module) in heads {
            if !CORE_MODULES.contains(&module) {
                let line = line_of(&code, pos);
                found.push((
                    line,
                    format!(
                        "{file}:{line}: imports `crate::{module}`, a layer above the core \
                         (it may use only crate::domain, crate::engine, crate::strategy)"
                    ),
                ));
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, text)| text).collect()
}

#[test]
fn the_core_imports_no_terminal_no_tokio_and_no_layer_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let mut scanned = 0;
    for dir in CORE {
        for path in rust_files(&root.join(dir)) {
            let src = std::fs::read_to_string(&path).expect("read source");
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            found.extend(violations(&name, &src));
            scanned += 1;
        }
    }
    assert!(scanned > 10, "only {scanned} files scanned: wrong folders?");
    assert!(
        found.is_empty(),
        "the core's boundary is crossed:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_scan_flags_imports_and_ignores_comments() {
    let src = "\
//! Mentions tokio and crate::ui in a doc comment: fine.
use crate::domain::Side; // crate::venue in a comment: fine
use tokio::sync::mpsc;
/* a block comment naming ratatui
   and crate::app /* nested */ is fine */
use crate::{
    engine::Effect,
    config::Config,
};
fn f() { crossterm::terminal::size(); let tokio_like = 1; }
use crate::strategy::{Intent, StrategyCtx};
use crate::runner::Runner;
";
    assert_eq!(
        violations("x.rs", src),
        [
            "x.rs:3: mentions `tokio`",
            "x.rs:8: imports `crate::config`, a layer above the core (it may use only \
             crate::domain, crate::engine, crate::strategy)",
            "x.rs:10: mentions `crossterm`",
            "x.rs:12: imports `crate::runner`, a layer above the core (it may use only \
             crate::domain, crate::engine, crate::strategy)",
        ]
    );
}
