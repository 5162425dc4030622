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

/// One HTTP/1.1 exchange with headers and a body; the answer as text.
fn http_exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n")?;
    Some((
        head.split_whitespace().nth(1)?.parse().ok()?,
        body.to_owned(),
    ))
}

/// An admin key made with `yizhitong keys create` in `data_dir` (which it initialises).
pub(crate) fn create_admin_key(data_dir: &std::path::Path) -> String {
    let created = Command::new(env!("CARGO_BIN_EXE_yizhitong"))
        .args(["keys", "create", "--role", "admin", "--data-dir"])
        .arg(data_dir)
        .env_remove("YZT_DATABASE_URL")
        .output()
        .unwrap();
    assert!(created.status.success());
    let stdout = String::from_utf8(created.stdout).unwrap();
    stdout.lines().last().unwrap().trim().to_owned()
}

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

impl Server {
    pub(crate) fn start(data_dir: &std::path::Path) -> (Self, Duration) {
        Self::start_with(data_dir, &[], Stdio::null())
    }

    /// `serve` with extra environment, its log (stdout and stderr) going to `log`.
    pub(crate) fn start_with(
        data_dir: &std::path::Path,
        environment: &[(&str, &str)],
        log: impl Into<Stdio>,
    ) -> (Self, Duration) {
        let port = free_port();
        let started = Instant::now();
        let log: Stdio = log.into();
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
            .envs(environment.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
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
    pub(crate) fn stop(&mut self) -> std::process::ExitStatus {
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

/// The body of a chunked HTTP/1.1 response, and whether its closing chunk came.
fn dechunk(mut body: &[u8]) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|pair| pair == b"\r\n") else {
            return (data, false);
        };
        let size_text = std::str::from_utf8(&body[..line_end]).unwrap_or("");
        let Ok(size) = usize::from_str_radix(size_text.trim(), 16) else {
            return (data, false);
        };
        body = &body[line_end + 2..];
        if size == 0 {
            return (data, true);
        }
        if body.len() < size + 2 {
            data.extend_from_slice(&body[..size.min(body.len())]);
            return (data, false);
        }
        data.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[test]
fn sigterm_stops_new_work_and_finishes_the_running_batch() {
    const ROWS: usize = 40_000;
    let data_dir = tempfile::tempdir().unwrap();
    let (mut server, _) = Server::start(data_dir.path());
    let port = server.port;
    let mut csv = String::from("id,address\n");
    for row in 0..ROWS {
        csv.push_str(&format!(
            "{row},浙江省宁波市鄞州区下应街道天童南路{}号\n",
            row % 900 + 1
        ));
    }
    let batch = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(300)))
            .unwrap();
        write!(
            stream,
            "POST /v1/match/batch HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/csv\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            csv.len()
        )
        .unwrap();
        // Answers stream back while rows still go up, so the two run side by side.
        let mut upload = stream.try_clone().unwrap();
        let uploader = std::thread::spawn(move || upload.write_all(csv.as_bytes()).unwrap());
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        uploader.join().unwrap();
        response
    });
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        !batch.is_finished(),
        "the batch is still running at SIGTERM"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        http_get(port, "/healthz").is_none(),
        "no new request is taken after SIGTERM"
    );
    assert!(
        !batch.is_finished(),
        "the batch outlasts the check, or the test proves nothing"
    );

    let response = batch.join().unwrap();
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&response[..split]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (body, complete) = dechunk(&response[split + 4..]);
    assert!(complete, "the batch response was finished, not cut");
    let body = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), ROWS + 1, "every row answered");
    assert!(lines[ROWS].starts_with(&format!("{},", ROWS - 1)));
    let status = server.child.wait().unwrap();
    assert!(status.success(), "a clean exit after the batch: {status}");
}

#[test]
fn no_key_or_secret_reaches_the_log() {
    const PLATE_SECRET: &str = "plate-secret-0123456789-abcdefghijklmnop";
    let data_dir = tempfile::tempdir().unwrap();
    let key = create_admin_key(data_dir.path());
    let secret_part = key.rsplit('_').next().unwrap().to_owned();
    let log_path = data_dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (mut server, _) = Server::start_with(
        data_dir.path(),
        &[
            ("RUST_LOG", "debug"),
            ("YZT_DOORPLATE_SECRET", PLATE_SECRET),
        ],
        log,
    );
    let port = server.port;
    let bearer = format!("Bearer {key}");
    let authorised = [("Authorization", bearer.as_str())];
    let (status, _) = http_exchange(port, "GET", "/v1/audit", &authorised, "").unwrap();
    assert_eq!(status, 200);
    let forged = format!("Bearer {}", key.replace(&secret_part, "forged0secret"));
    let (status, _) = http_exchange(
        port,
        "GET",
        "/v1/audit",
        &[("Authorization", forged.as_str())],
        "",
    )
    .unwrap();
    assert_eq!(status, 401);
    let (_, page) = http_get(port, "/v1/addresses?limit=1").unwrap();
    let code = page["addresses"][0]["code"].as_str().unwrap().to_owned();
    let (status, plate) = http_exchange(
        port,
        "POST",
        "/v1/doorplates",
        &[
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/json"),
        ],
        &format!(r#"{{"address_code":"{code}","size":"medium"}}"#),
    )
    .unwrap();
    assert_eq!(status, 201, "{plate}");
    let plate: Value = serde_json::from_str(&plate).unwrap();
    let (status, _) = http_get(port, &format!("/d/{}", plate["token"].as_str().unwrap())).unwrap();
    assert_eq!(status, 200);
    assert!(server.stop().success());

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("serving"), "the log was captured: {log}");
    for secret in [
        key.as_str(),
        secret_part.as_str(),
        PLATE_SECRET,
        "forged0secret",
    ] {
        assert!(!log.contains(secret), "{secret:?} appears in the log");
    }
}
