//! Public scan resolution over HTTP: `GET /d/{token}` answered by the real router on
//! two tokio workers, driven by a keep-alive load generator in the same process on
//! the same two cores (as the design's "Performance facts" measured axum).
//!
//! The registry holds YZT_BENCH_PLATES synthetic addresses (default 100,000), each
//! with a plate; every request scans a different plate, goes through the per-client
//! limit (set high enough never to refuse) and is written to the scan log, which
//! flushes to SQLite once a second during the run. Baseline in the same run: `GET
//! /healthz`, the smallest reply the service makes.
//!
//! Run: `cargo bench --bench doorplates`.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use yizhitong::api::{AppState, router};
use yizhitong::app::open_registry;
use yizhitong::config::Config;
use yizhitong::domain::doorplate::PlateSize;
use yizhitong::doorplate::{BatchPlateOutcome, PlateRequest};
use yizhitong::registry::import::import_address_csv;
use yizhitong::store::Actor;

use support::{median, registry_csv};

const CONNECTIONS: usize = 64;
const ROUNDS: usize = 3;
const MEASURE: Duration = Duration::from_secs(4);
const WARM_UP: Duration = Duration::from_secs(1);

fn main() {
    let plates: usize = std::env::var("YZT_BENCH_PLATES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(100_000);
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let started = Instant::now();
    let (address, tokens) = server.block_on(start_service(data_dir.path(), plates));
    eprintln!(
        "set-up: {} plates issued in {:.1} s",
        tokens.len(),
        started.elapsed().as_secs_f64()
    );
    let tokens = Arc::new(tokens);

    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let scenarios: [(&str, Scenario); 4] = [
        ("GET /healthz (baseline)", Scenario::Health),
        ("scan, HTML page", Scenario::Scan { json: false }),
        ("scan, JSON", Scenario::Scan { json: true }),
        ("forged token, 404 page", Scenario::Forged),
    ];
    let mut results = vec![Vec::new(); scenarios.len()];
    for _ in 0..ROUNDS {
        for (index, (_, scenario)) in scenarios.iter().enumerate() {
            let rate = client.block_on(measure(address, *scenario, tokens.clone()));
            results[index].push(rate);
        }
    }
    println!(
        "doorplate scans over HTTP: {} plates, {CONNECTIONS} keep-alive connections, {ROUNDS} rounds of {} s",
        tokens.len(),
        MEASURE.as_secs()
    );
    println!(
        "{:<26} {:>14} {:>14} {:>10}",
        "request", "median req/s", "range", "of baseline"
    );
    let baseline = median(results[0].clone());
    for ((name, _), rates) in scenarios.iter().zip(&results) {
        let low = rates.iter().copied().fold(f64::INFINITY, f64::min);
        let high = rates.iter().copied().fold(0.0, f64::max);
        let middle = median(rates.clone());
        println!(
            "{name:<26} {middle:>14.0} {:>14} {:>9.2}x",
            format!("{low:.0}-{high:.0}"),
            middle / baseline
        );
    }
}

#[derive(Clone, Copy)]
enum Scenario {
    Health,
    Scan { json: bool },
    Forged,
}

/// Opens a registry in `data_dir`, registers `plates` synthetic addresses with a plate
/// each, and serves it on a free port. Returns the address and every plate token.
async fn start_service(data_dir: &std::path::Path, plates: usize) -> (SocketAddr, Vec<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let mut config = Config::for_store(
        &format!("sqlite://{}", data_dir.join("bench.db").display()),
        data_dir,
    );
    config.load_demo_seed = false;
    config.public_base_url = format!("http://{address}");
    // Every request comes from 127.0.0.1: the limiter runs on each scan but never refuses.
    config.scan_rate_per_minute = u32::MAX;
    let opened = open_registry(&config).await.expect("registry opens");
    let csv = std::fs::read(registry_csv(plates)).expect("registry csv");
    let actor = Actor::system();
    import_address_csv(&opened.registry, &csv[..], &actor, |_| {}, |_| {})
        .await
        .expect("import");
    let codes: Vec<String> = opened
        .registry
        .address_index()
        .read()
        .expect("index")
        .iter()
        .filter(|address| !address.retired)
        .map(|address| address.code().to_owned())
        .take(plates)
        .collect();
    let mut tokens = Vec::with_capacity(codes.len());
    for chunk in codes.chunks(yizhitong::doorplate::MAX_BATCH_PLATES) {
        let requests: Vec<PlateRequest> = chunk
            .iter()
            .map(|code| PlateRequest {
                address_code: code.clone(),
                size: PlateSize::Medium,
            })
            .collect();
        for outcome in opened
            .doorplates
            .issue_batch(&requests, &actor)
            .await
            .expect("plates issued")
        {
            match outcome {
                BatchPlateOutcome::Issued { plate, .. } => tokens.push(plate.token),
                BatchPlateOutcome::Rejected { message, .. } => panic!("plate refused: {message}"),
            }
        }
    }
    let app = router(AppState::new(&opened, config));
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("server");
    });
    (address, tokens)
}

/// Requests per second over `MEASURE`, after a warm-up, across `CONNECTIONS`
/// keep-alive connections each sending one request at a time.
async fn measure(address: SocketAddr, scenario: Scenario, tokens: Arc<Vec<String>>) -> f64 {
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let completed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for connection in 0..CONNECTIONS {
        let (counting, stop, completed, tokens) = (
            counting.clone(),
            stop.clone(),
            completed.clone(),
            tokens.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(address).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let mut buffer = Vec::with_capacity(16 * 1024);
            let mut sequence = connection * 7919;
            while !stop.load(Ordering::Relaxed) {
                sequence += 1;
                let (path, accept, expected) = match scenario {
                    Scenario::Health => ("/healthz".to_owned(), "application/json", 200),
                    Scenario::Scan { json } => (
                        format!("/d/{}", tokens[sequence % tokens.len()]),
                        if json {
                            "application/json"
                        } else {
                            "text/html"
                        },
                        200,
                    ),
                    Scenario::Forged => {
                        let mut token = tokens[sequence % tokens.len()].clone();
                        let last = if token.ends_with('A') { "B" } else { "A" };
                        token.replace_range(token.len() - 1.., last);
                        (format!("/d/{token}"), "text/html", 404)
                    }
                };
                let request = format!(
                    "GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: {accept}\r\n\
                     User-Agent: Mozilla/5.0 (Linux; Android 14) Mobile\r\n\r\n"
                );
                stream
                    .write_all(request.as_bytes())
                    .await
                    .expect("write request");
                let status = read_response(&mut stream, &mut buffer).await;
                assert_eq!(status, expected, "{path}");
                if counting.load(Ordering::Relaxed) {
                    completed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(WARM_UP).await;
    counting.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(MEASURE).await;
    let counted = completed.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("connection task");
    }
    counted as f64 / elapsed
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns its status.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> u16 {
    buffer.clear();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        let read = stream.read(&mut chunk).await.expect("read");
        assert!(read > 0, "connection closed mid-response");
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = std::str::from_utf8(&buffer[..header_end]).expect("ASCII head");
    let status: u16 = head[9..12].parse().expect("status code");
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .expect("Content-Length");
    while buffer.len() < header_end + length {
        let read = stream.read(&mut chunk).await.expect("read body");
        assert!(read > 0, "connection closed mid-body");
        buffer.extend_from_slice(&chunk[..read]);
    }
    status
}
