//! Built-in task templates, user-added templates and template errors.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use mixtune::mixture::template::{builtin_dir, load_dir, load_file, TaskTemplates};
use mixtune::mixture::MixtureError;

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn builtin(name: &str) -> TaskTemplates {
    load_file(&builtin_dir().join(format!("{name}.toml"))).unwrap()
}

#[test]
fn builtin_templates_all_load() {
    let templates = load_dir(&builtin_dir()).unwrap();
    let names: Vec<&str> = templates.iter().map(|task| task.name.as_str()).collect();
    for name in [
        "dialogue_from_summary",
        "dialogue_summary",
        "dialogue_topic",
        "support_request_action",
    ] {
        assert!(
            names.contains(&name),
            "missing built-in template {name}: {names:?}"
        );
    }
    for task in &templates {
        assert!(
            task.phrasings.len() >= 4,
            "{} has {} phrasings",
            task.name,
            task.phrasings.len()
        );
        assert!(
            !task.fields.is_empty() && !task.description.is_empty(),
            "{}",
            task.name
        );
    }
}

#[test]
fn canonical_summary_phrasing_is_exact() {
    let summary = builtin("dialogue_summary");
    assert!(summary.phrasings.len() >= 8);
    let canonical = &summary.phrasings[summary.default_phrasing()];
    assert_eq!(
        canonical.input,
        "Summarize the following conversation.\n\n{{ dialogue }}\n\nSummary: "
    );
    assert_eq!(canonical.target, "{{ summary }}");
    let example = fields(&[
        ("dialogue", "#Person1#: Hi.\n#Person2#: Hello & welcome <3"),
        ("summary", "They greet."),
    ]);
    let (source, target) = summary
        .render(&example, summary.default_phrasing(), "x")
        .unwrap();
    assert_eq!(source, "Summarize the following conversation.\n\n#Person1#: Hi.\n#Person2#: Hello & welcome <3\n\nSummary: ");
    assert_eq!(target, "They greet.");
    // Phrasings put the dialogue both before and after the instruction.
    let starts_with_dialogue = (0..summary.phrasings.len())
        .filter(|&index| {
            summary
                .render(&example, index, "x")
                .unwrap()
                .0
                .starts_with("#Person1#")
        })
        .count();
    assert!(starts_with_dialogue >= 2 && starts_with_dialogue < summary.phrasings.len());
}

#[test]
fn every_builtin_phrasing_renders() {
    let dialogue = "#Person1#: My card is blocked.\n#Person2#: I will unblock it.";
    let cases = [
        (
            "dialogue_summary",
            fields(&[("dialogue", dialogue), ("summary", "S")]),
            "S",
        ),
        (
            "dialogue_topic",
            fields(&[("dialogue", dialogue), ("topic", "bank card")]),
            "bank card",
        ),
        (
            "dialogue_from_summary",
            fields(&[("dialogue", dialogue), ("summary", "S")]),
            dialogue,
        ),
        (
            "support_request_action",
            fields(&[
                ("dialogue", dialogue),
                ("request", "unblock card"),
                ("action", "unblock it"),
            ]),
            "Request: unblock card\nAction: unblock it",
        ),
        (
            "support_request_action",
            fields(&[("dialogue", dialogue), ("target", "T")]),
            "T",
        ),
    ];
    for (name, example, want) in cases {
        let task = builtin(name);
        for index in 0..task.phrasings.len() {
            let (source, target) = task.render(&example, index, "x").unwrap();
            assert_eq!(target, want, "{name} phrasing {index}");
            let needle = if name == "dialogue_from_summary" {
                "S"
            } else {
                dialogue
            };
            assert!(source.contains(needle), "{name} phrasing {index}: {source}");
        }
    }
}

#[test]
fn support_template_without_request_names_the_field() {
    let task = builtin("support_request_action");
    let error = task
        .render(&fields(&[("dialogue", "A: hi")]), 0, "T-7")
        .unwrap_err()
        .to_string();
    // Named as Mixtune's template (not by a path of the machine that built it), with the
    // fields the example lacks and what the task needs.
    assert!(
        error.starts_with("template `support_request_action`") && error.contains("`T-7`"),
        "{error}"
    );
    assert!(
        !error.contains(".toml") && !error.contains("undefined"),
        "{error}"
    );
    assert!(
        error.contains("no `action` or `request` or `target` (it has dialogue)")
            && error.contains("this task needs"),
        "{error}"
    );
}

#[test]
fn a_user_adds_a_task_by_adding_a_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("sentiment.toml"),
        "description = \"Rate the mood.\"\nfields = [\"dialogue\", \"mood\"]\n\n[[phrasing]]\nname = \"mood\"\ninput = \"How do they feel?\\n{{ dialogue }}\"\ntarget = \"{{ mood }}\"\n",
    )
    .unwrap();
    fs::write(dir.path().join("notes.txt"), "not a template").unwrap();
    let templates = load_dir(dir.path()).unwrap();
    assert_eq!(templates.len(), 1);
    let (source, target) = templates[0]
        .render(
            &fields(&[("dialogue", "A: yay"), ("mood", "happy")]),
            0,
            "x",
        )
        .unwrap();
    assert_eq!(
        (source.as_str(), target.as_str()),
        ("How do they feel?\nA: yay", "happy")
    );
}

fn parse_error(text: &str) -> (MixtureError, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    fs::write(&path, text).unwrap();
    let error = load_file(&path).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&path.display().to_string()),
        "must name the file: {message}"
    );
    (error, message)
}

#[test]
fn toml_syntax_error_names_file_and_line() {
    let (error, message) = parse_error(
        "fields = [\"dialogue\"]\n\n[[phrasing]]\ninput = \"{{ dialogue }}\ntarget = \"x\"\n",
    );
    assert!(
        matches!(error, MixtureError::TomlSyntax { line: 4, .. }),
        "{message}"
    );
    assert!(message.contains("broken.toml:4:"), "{message}");
}

#[test]
fn jinja_syntax_error_names_file_line_and_phrasing() {
    let text = "fields = [\"dialogue\", \"summary\"]\n\n[[phrasing]]\nname = \"ok\"\ninput = \"{{ dialogue }}\"\ntarget = \"{{ summary }}\"\n\n[[phrasing]]\nname = \"broken\"\ninput = \"{{ dialogue }\"\ntarget = \"{{ summary }}\"\n";
    let (error, message) = parse_error(text);
    assert!(
        matches!(
            error,
            MixtureError::TemplateSyntax {
                line: 10,
                part: "input",
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains("broken.toml:10: phrasing `broken` (input): template syntax error"),
        "{message}"
    );
}

#[test]
fn undeclared_field_in_template_is_rejected() {
    let text = "fields = [\"dialogue\"]\n\n[[phrasing]]\ninput = \"{{ dialogue }}\"\ntarget = \"{{ summary }}\"\n";
    let (_, message) = parse_error(text);
    assert!(
        message.contains("broken.toml:5: phrasing `phrasing-1` (target) uses field `summary`"),
        "{message}"
    );
}

#[test]
fn file_without_phrasings_or_with_two_defaults_is_rejected() {
    let (_, message) = parse_error("fields = [\"dialogue\"]\n");
    assert!(message.contains("no [[phrasing]] entries"), "{message}");
    let phrasing = "[[phrasing]]\ndefault = true\ninput = \"{{ dialogue }}\"\ntarget = \"x\"\n";
    let (_, message) = parse_error(&format!("fields = [\"dialogue\"]\n{phrasing}{phrasing}"));
    assert!(
        message.contains("2 phrasings are marked `default = true`"),
        "{message}"
    );
}

#[test]
fn builtin_dir_points_at_the_source_tree() {
    assert!(builtin_dir().ends_with("templates"));
    assert!(Path::new(&builtin_dir())
        .join("dialogue_summary.toml")
        .is_file());
}

#[test]
fn builtin_templates_load_without_the_source_tree() {
    // With MIXTUNE_TEMPLATES pointing at an empty folder, the compiled-in copy is used.
    let empty = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .env("MIXTUNE_TEMPLATES", empty.path())
        .args([
            "summarize",
            "--device",
            "cpu",
            "--json",
            "--max-new-tokens",
            "3",
            "--chat",
            "-",
            "--model",
        ])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/tiny-flan"
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"Agent: Hello!\nCustomer: My order is late.\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["token_ids"].as_array().unwrap().len(), 4);
}
