//! API conformance: schemathesis (PyPI) generates requests from `/openapi.json` for
//! every operation and checks the answers: no 5xx, every status and Content-Type
//! documented, every body valid against its schema. Skipped with a message when the
//! tool is not installed, except under CI=true, where that is a failure
//! (`.ci/run` installs it).

use std::process::Command;

use crate::common::in_ci;
use crate::serve::{Server, create_admin_key};

/// Cases per operation: enough to reach every documented error, few enough for CI.
const EXAMPLES_PER_OPERATION: &str = "20";

fn schemathesis() -> Option<&'static str> {
    ["st", "schemathesis"].into_iter().find(|program| {
        Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success())
    })
}

#[test]
fn every_operation_answers_as_the_api_document_says() {
    let Some(program) = schemathesis() else {
        assert!(
            !in_ci(),
            "CI=true but schemathesis is not installed (pip install schemathesis)"
        );
        eprintln!(
            "SKIPPED: schemathesis not installed; pip install schemathesis to run the API conformance test"
        );
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let key = create_admin_key(data_dir.path());
    // The run sends thousands of requests in seconds from one key.
    let (mut server, _) = Server::start_with(
        data_dir.path(),
        &[("YZT_RATE_LIMIT_PER_KEY", "0")],
        std::process::Stdio::null(),
    );
    let output = Command::new(program)
        .args(["run", &format!("http://127.0.0.1:{}/openapi.json", server.port)])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
        ])
        .args(["--max-examples", EXAMPLES_PER_OPERATION])
        .args(["--generation-deterministic", "--suppress-health-check", "all"])
        // One worker: with two, hypothesis (under schemathesis) parses lambda sources
        // from both threads at once, and CPython 3.11's parser is not safe for that
        // ("AST constructor recursion depth mismatch", seen as a runtime error).
        .args(["--request-timeout", "60", "--workers", "1", "--no-color"])
        .arg("--report-dir")
        .arg(data_dir.path().join("schemathesis-report"))
        .current_dir(data_dir.path())
        .output()
        .expect("schemathesis runs");
    assert!(server.stop().success());
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = report
        .lines()
        .skip_while(|line| !line.starts_with("Test cases"))
        .nth(1)
        .unwrap_or("");
    eprintln!("schemathesis: {}", summary.trim());
    assert!(summary.contains("passed"), "{report}");
}
