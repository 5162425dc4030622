//! `yizhitong serve` as the README runs it: the real binary on the built-in national
//! data, a fresh data directory, over TCP.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 GET; the service answers with Content-Length bodies.
fn http_get(port: u16, path: &str) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8(response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        status,
        serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())),
    ))
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(data_dir: &std::path::Path) -> (Self, Duration) {
        let port = free_port();
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_yizhitong"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .env_remove("YZT_DATABASE_URL")
            .env_remove("YZT_REFERENCE_DATA_DIR")
            .env_remove("YZT_LOAD_DEMO_SEED")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        let mut server = Server { child, port };
        while started.elapsed() < Duration::from_secs(300) {
            if let Some((200, _)) = http_get(port, "/healthz") {
                return (server, started.elapsed());
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("serve exited early with {status}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        server.stop();
        panic!("serve did not become healthy within 300 s");
    }

    /// SIGTERM, then wait: the service must shut down gracefully and exit 0.
    fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("serve exits")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_on_a_fresh_directory_answers_the_readme_tour_and_restarts_without_reloading() {
    let data_dir = tempfile::tempdir().unwrap();
    let (mut server, cold) = Server::start(data_dir.path());

    let (status, county) = http_get(server.port, "/v1/divisions/330212000000").unwrap();
    assert_eq!(status, 200);
    assert_eq!(county["name"], "鄞州区");
    let (status, village) = http_get(server.port, "/v1/divisions/330212001005").unwrap();
    assert_eq!(status, 200);
    assert_eq!(village["short_name"], "东兴社区");
    let (_, beijing) = http_get(server.port, "/v1/divisions/110101").unwrap();
    assert_eq!(beijing["name"], "东城区", "the whole country is there");
    let (_, demo) = http_get(server.port, "/v1/addresses?division=330212&limit=5").unwrap();
    let demo = demo["addresses"].as_array().unwrap();
    assert_eq!(demo.len(), 5, "the demo registry is loaded on first start");
    assert!(
        demo.iter()
            .all(|address| address["source_id"].as_str().unwrap().starts_with("DEMO-"))
    );
    assert!(server.stop().success(), "SIGTERM is a clean exit");

    let (mut server, warm) = Server::start(data_dir.path());
    let mut total = 0;
    let mut path = "/v1/addresses?limit=1000".to_owned();
    loop {
        let (_, page) = http_get(server.port, &path).unwrap();
        total += page["addresses"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/addresses?limit=1000&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        total, 3610,
        "a restart neither drops nor re-adds the demo registry"
    );
    assert!(server.stop().success());
    eprintln!("serve start on the built-in data: cold {cold:?}, warm {warm:?}");
}
