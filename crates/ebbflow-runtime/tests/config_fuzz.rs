//! Fuzzing the configuration reader, inside `cargo test`: `ebbflow.toml`
//! is a file a person edits and a deploy tool writes, so every byte of it
//! is input. Arbitrary text, and the reference file mutated (lines cut,
//! doubled, garbled; values swapped for other types; nesting deep), must
//! load or fail with a message, never panic or overflow the stack.

use proptest::prelude::*;
use std::collections::HashMap;
use std::path::PathBuf;

const REFERENCE: &str = include_str!("../../../config/ebbflow.toml");

fn load(text: &str, n: u64) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("ebbflow-config-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path: PathBuf = dir.join(format!("c{n}.toml"));
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    let result = ebbflow_runtime::load_config_with_env(&path, HashMap::new());
    let _ = std::fs::remove_file(&path);
    match result {
        Ok(_) => Ok(()),
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty(), "an error says what is wrong");
            Err(message)
        }
    }
}

/// The reference file with its comment marks taken off some lines, so that
/// mutations reach real keys.
fn uncommented(text: &str, keep: &[bool]) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| match l.strip_prefix("# ") {
            Some(rest) if keep.get(i % keep.len().max(1)).copied().unwrap_or(false) => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Clone)]
enum Mutation {
    Cut(usize),
    Double(usize),
    Replace(usize, String),
    Insert(usize, String),
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"\"".to_owned()),
        Just("-1".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("1e309".to_owned()),
        Just("nan".to_owned()),
        Just("\"1e-300/s\"".to_owned()),
        Just("\"999999999999d\"".to_owned()),
        Just("\"-5s\"".to_owned()),
        Just("\"é\"".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("true".to_owned()),
        Just("\"0.0.0.0:0\"".to_owned()),
        "\"[a-z0-9. ]{0,12}\"",
        (1usize..2000).prop_map(|d| format!("{}1{}", "[".repeat(d), "]".repeat(d))),
        (1usize..2000).prop_map(|d| format!("{}{}", "{a=".repeat(d), "}".repeat(d))),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Cut),
        any::<usize>().prop_map(Mutation::Double),
        (any::<usize>(), value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        (any::<usize>(), "[^\n]{0,20}").prop_map(|(i, t)| Mutation::Insert(i, t)),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        let at = |i: usize| i % lines.len();
        match m {
            Mutation::Cut(i) => {
                let i = at(*i);
                lines.remove(i);
            }
            Mutation::Double(i) => {
                let i = at(*i);
                let line = lines[i].clone();
                lines.insert(i, line);
            }
            Mutation::Replace(i, v) => {
                let i = at(*i);
                if let Some((key, _)) = lines[i].split_once('=') {
                    lines[i] = format!("{key}= {v}");
                }
            }
            Mutation::Insert(i, t) => {
                let i = at(*i);
                lines.insert(i, t.clone());
            }
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_text_loads_or_says_why(text in "\\PC{0,200}", n in any::<u64>()) {
        let _ = load(&text, n);
    }

    #[test]
    fn the_reference_file_mutated_loads_or_says_why(
        keep in proptest::collection::vec(any::<bool>(), 1..8),
        mutations in proptest::collection::vec(mutation(), 0..6),
        n in any::<u64>(),
    ) {
        let text = apply(&uncommented(REFERENCE, &keep), &mutations);
        let _ = load(&text, n);
    }
}

#[test]
fn deep_nesting_is_refused_not_recursed_into() {
    for depth in [10_000, 100_000] {
        let arrays = format!("x = {}1{}\n", "[".repeat(depth), "]".repeat(depth));
        assert!(load(&arrays, depth as u64).is_err());
        let tables = format!("x = {}{}\n", "{a=".repeat(depth), "}".repeat(depth));
        assert!(load(&tables, depth as u64 + 1).is_err());
    }
}
