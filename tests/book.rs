//! The book (`docs/book`) and the README stay true to the code: every
//! configuration key is in the reference, every chapter is in the summary
//! and compiled, and every link lands on a file and a heading that exist.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn book() -> PathBuf {
    root().join("docs/book/src")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every chapter, as a path relative to `docs/book/src`.
fn chapters() -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![book()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                let rel = path
                    .strip_prefix(book())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if rel != "SUMMARY.md" {
                    out.push(rel);
                }
            }
        }
    }
    out.sort();
    out
}

/// The keys `ebbflow.toml` names in each section, commented-out ones too:
/// `[workers.orders.scaling]` is `workers.NAME.scaling`, and the keys of an
/// inline `handler = { … }` are `workers.NAME.handler`'s.
fn keys_in_reference_file(text: &str) -> BTreeSet<(String, String)> {
    let named = |path: &str| -> String {
        let parts: Vec<&str> = path.split('.').collect();
        let mut out = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let is_name = i == 1 && matches!(parts[0], "queues" | "workers")
                || i == 2 && parts[0] == "server" && parts[1] == "keys";
            out.push(if is_name { "NAME" } else { part });
        }
        out.join(".")
    };
    let mut keys = BTreeSet::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim_start_matches('#').trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            if !header.contains('"') && !header.contains(' ') && !header.is_empty() {
                section = named(header);
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        keys.insert((section.clone(), key.to_owned()));
        if let Some(inline) = value.trim().strip_prefix('{') {
            for field in inline.split(',') {
                let Some((k, _)) = field.split_once('=') else {
                    continue;
                };
                let k = k.trim();
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    keys.insert((format!("{section}.{key}"), k.to_owned()));
                }
            }
        }
    }
    keys
}

#[test]
fn every_config_key_is_in_the_reference() {
    let file = read(&root().join("config/ebbflow.toml"));
    let page = read(&book().join("reference/config.md"));
    assert!(
        page.contains("{{#include ../../../../config/ebbflow.toml}}"),
        "the configuration reference includes config/ebbflow.toml"
    );
    let named = keys_in_reference_file(&file);
    let sections = ebbflow::config::sections();
    let mut expected = BTreeSet::new();
    for section in &sections {
        if section.path.is_empty() {
            continue; // the top level's keys are the sections themselves
        }
        for key in section.keys {
            expected.insert((section.path.to_owned(), key.to_string()));
        }
    }
    // A key that is a table of its own (`scaling`, `keys`) is named by its section.
    let missing: Vec<_> = expected
        .iter()
        .filter(|(section, key)| {
            let table = if section.is_empty() {
                key.clone()
            } else {
                format!("{section}.{key}")
            };
            !named.contains(&(section.clone(), key.clone()))
                && !named
                    .iter()
                    .any(|(s, _)| s == &table || s.starts_with(&format!("{table}.")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "config/ebbflow.toml does not name {missing:?}"
    );
    // A key the file names that no type takes, or one in a section no type
    // is, would be a typo a reader copies.
    let unknown: Vec<_> = named.iter().filter(|k| !expected.contains(*k)).collect();
    assert!(
        unknown.is_empty(),
        "config/ebbflow.toml names keys no type takes: {unknown:?}"
    );
    // Every section is in the file.
    for section in &sections {
        if !section.path.is_empty() {
            assert!(
                named.iter().any(|(s, _)| s == section.path),
                "config/ebbflow.toml has no [{}]",
                section.path
            );
        }
    }
}

#[test]
fn every_chapter_is_in_the_summary_and_its_code_is_compiled() {
    let summary = read(&book().join("SUMMARY.md"));
    let lib = read(&root().join("src/lib.rs"));
    for chapter in chapters() {
        assert!(
            summary.contains(&format!("]({chapter})")),
            "SUMMARY.md does not list {chapter}"
        );
        assert!(
            lib.contains(&format!("\"../docs/book/src/{chapter}\"")),
            "src/lib.rs does not compile {chapter}'s code as doctests"
        );
    }
}

/// The anchor mdBook and GitHub give a heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The lines of a markdown text outside its code blocks (fences indented
/// in a list item too).
fn prose(text: &str) -> impl Iterator<Item = &str> {
    let mut fence = false;
    text.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            return false;
        }
        !fence
    })
}

fn anchors(text: &str) -> BTreeSet<String> {
    prose(text)
        .filter(|line| line.starts_with('#'))
        .map(|line| anchor(line.trim_start_matches('#')))
        .collect()
}

/// Every `](target)` of a markdown text outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose(text) {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let tail = &rest[at + 2..];
            let Some(end) = tail.find(')') else { break };
            out.push(tail[..end].to_owned());
            rest = &tail[end..];
        }
    }
    out
}

#[test]
fn every_link_of_the_book_and_the_readme_lands() {
    let mut pages: Vec<PathBuf> = chapters().iter().map(|c| book().join(c)).collect();
    pages.push(book().join("SUMMARY.md"));
    pages.push(root().join("README.md"));
    let mut broken = Vec::new();
    for page in &pages {
        let text = read(page);
        for include in text.split("{{#include ").skip(1) {
            let file = include.split("}}").next().unwrap_or_default();
            if !page.parent().unwrap().join(file).exists() {
                broken.push(format!(
                    "{}: {{{{#include {file}}}}} (no such file)",
                    page.display()
                ));
            }
        }
        for link in links(&text) {
            if link.starts_with("http://") || link.starts_with("https://") {
                continue;
            }
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", page.display()));
                continue;
            }
            if !fragment.is_empty() && !anchors(&read(&target)).contains(fragment) {
                broken.push(format!("{}: {link} (no such heading)", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_is_a_front_page() {
    let readme = read(&root().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines < 200,
        "the README has {lines} lines; the details go in the book"
    );
    for needed in [
        "cargo run --release --example orders",
        "cargo nextest run --workspace",
        "```rust",
        "```toml",
        "docs/book/src/",
    ] {
        assert!(readme.contains(needed), "the README does not show {needed}");
    }
}
