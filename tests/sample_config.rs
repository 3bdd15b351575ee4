//! docs/rootward.toml, the sample configuration, stays true.
//!
//! The sample lists every key of the config file, commented out: a line
//! `# key = value` shows the key's default, a line `#key = value` (no space)
//! an example for a key without one. These tests check that the sample
//! parses as shipped, that uncommenting every default line changes nothing
//! (so each shown default is the real one and is valid syntax), that every
//! example is a valid value, and that no key of the config file is missing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rootward::config::Config;

fn sample_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rootward.toml")
}

fn sample() -> String {
    std::fs::read_to_string(sample_path()).expect("docs/rootward.toml is readable")
}

/// `# key = value` lines: (key, the line uncommented).
fn default_lines(text: &str) -> Vec<(String, String)> {
    commented_settings(text, "# ")
}

/// `#key = value` lines: (key, the line uncommented).
fn example_lines(text: &str) -> Vec<(String, String)> {
    commented_settings(text, "#")
}

fn commented_settings(text: &str, prefix: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(prefix)?;
            let (key, _) = rest.split_once(" = ")?;
            let is_key = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            is_key.then(|| (key.to_string(), rest.to_string()))
        })
        .collect()
}

/// Every key the config file accepts, as the parser itself lists them when
/// refusing an unknown key ("unknown field `x`, expected one of `a`, ...").
fn accepted_keys() -> BTreeSet<String> {
    let err = Config::from_toml("no-such-key-in-rootward = 1", Path::new("probe.toml"))
        .expect_err("an unknown key is refused")
        .to_string();
    let (_, list) = err
        .split_once("expected one of")
        .unwrap_or_else(|| panic!("the parser no longer lists the keys: {err}"));
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_sample_parses_as_shipped() {
    let config = Config::from_toml(&sample(), &sample_path()).expect("sample parses");
    assert_eq!(config, Config::default());
}

#[test]
fn every_default_shown_in_the_sample_is_the_real_default() {
    let text = sample();
    let defaults = default_lines(&text);
    assert!(!defaults.is_empty(), "no `# key = value` lines found");
    // Each on its own, so that a wrong one is named.
    for (key, line) in &defaults {
        let config = Config::from_toml(line, &sample_path())
            .unwrap_or_else(|e| panic!("`{line}` does not parse: {e}"));
        assert_eq!(
            config,
            Config::default(),
            "`{line}`: {key} is not shown with its default"
        );
    }
    // And all at once, as an operator uncommenting the file would.
    let all: Vec<&str> = defaults.iter().map(|(_, l)| l.as_str()).collect();
    let config = Config::from_toml(&all.join("\n"), &sample_path()).expect("defaults together");
    assert_eq!(config, Config::default());
}

#[test]
fn every_example_in_the_sample_is_valid() {
    let text = sample();
    for (key, line) in example_lines(&text) {
        let config = Config::from_toml(&line, &sample_path())
            .unwrap_or_else(|e| panic!("example `{line}` does not parse: {e}"));
        assert_ne!(
            config,
            Config::default(),
            "example for {key} changes nothing"
        );
    }
}

#[test]
fn the_sample_shows_every_key_of_the_config_file() {
    let text = sample();
    let shown: BTreeSet<String> = default_lines(&text)
        .into_iter()
        .chain(example_lines(&text))
        .map(|(key, _)| key)
        .collect();
    let accepted = accepted_keys();
    assert!(
        accepted.len() >= 30,
        "too few keys parsed from the error: {accepted:?}"
    );
    let missing: Vec<_> = accepted.difference(&shown).collect();
    assert!(
        missing.is_empty(),
        "keys missing from the sample: {missing:?}"
    );
    let unknown: Vec<_> = shown.difference(&accepted).collect();
    assert!(
        unknown.is_empty(),
        "keys the parser does not know: {unknown:?}"
    );
}
