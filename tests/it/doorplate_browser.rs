//! The scan page in a real browser: headless Chromium (Debian package `chromium`)
//! opens the URL decoded from a plate's QR code at phone width, over real HTTP.
//! The screenshot is kept as a test artifact in `target/test-artifacts/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use headless_chrome::protocol::cdp::Emulation::SetDeviceMetricsOverride;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions};
use yizhitong::store::Role;

use super::doorplates::{PHONE_USER_AGENT, decode_qr_png, issue, registered_address};
use crate::common::{TestApp, in_ci, sqlite};

const PHONE_WIDTH: u32 = 390;
const PHONE_HEIGHT: u32 = 844;

/// Debian's Chromium, or `None` (with a note that `test` is skipped) on a machine
/// without it. CI installs it, so there its absence fails the test instead.
pub fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists());
    if found.is_none() {
        assert!(
            !in_ci(),
            "CI=true requires Chromium (apt-get install chromium) for the browser test"
        );
        eprintln!("SKIPPED: {test}, no Chromium at /usr/bin/chromium");
    }
    found
}

/// Headless Chromium with one tab open, its window `size` pixels. Keep the browser
/// alive as long as the tab is used.
pub fn headless(
    chromium: &Path,
    size: (u32, u32),
) -> (Browser, std::sync::Arc<headless_chrome::Tab>) {
    let options = LaunchOptions::default_builder()
        .path(Some(chromium.to_owned()))
        .window_size(Some(size))
        // Containers run as root, where Chromium refuses its sandbox.
        .sandbox(false)
        .idle_browser_timeout(Duration::from_secs(60))
        .build()
        .expect("launch options");
    let browser = Browser::new(options).expect("Chromium starts");
    let tab = browser.new_tab().expect("a tab");
    tab.set_default_timeout(Duration::from_secs(30));
    (browser, tab)
}

struct Rendered {
    visible_text: String,
    page_width: f64,
    screenshot: Vec<u8>,
}

/// Opens `url` in headless Chromium at phone size and reads what a person sees.
fn render_on_phone(chromium: &Path, url: &str) -> Rendered {
    let (_browser, tab) = headless(chromium, (PHONE_WIDTH, PHONE_HEIGHT));
    tab.set_user_agent(PHONE_USER_AGENT, Some("zh-CN"), Some("iPhone"))
        .expect("user agent");
    // A window cannot be narrower than desktop Chromium allows; a phone's viewport can.
    tab.call_method(SetDeviceMetricsOverride {
        width: PHONE_WIDTH,
        height: PHONE_HEIGHT,
        device_scale_factor: 2.0,
        mobile: true,
        scale: None,
        screen_width: None,
        screen_height: None,
        position_x: None,
        position_y: None,
        dont_set_visible_size: None,
        screen_orientation: None,
        viewport: None,
        display_feature: None,
        device_posture: None,
    })
    .expect("phone metrics");
    tab.navigate_to(url).expect("navigates");
    tab.wait_until_navigated().expect("page loads");
    let visible_text = tab
        .wait_for_element("body")
        .expect("body")
        .get_inner_text()
        .expect("inner text");
    let page_width = tab
        .evaluate("document.documentElement.scrollWidth", false)
        .expect("evaluates")
        .value
        .and_then(|value| value.as_f64())
        .expect("a number");
    let screenshot = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("screenshot");
    Rendered {
        visible_text,
        page_width,
        screenshot,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_page_reads_well_on_a_phone_in_chromium() {
    let Some(chromium) = chromium_or_skip("scan page browser test") else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let app = TestApp::start_with(sqlite(), |config| {
        config.public_base_url = base_url.clone();
    })
    .await;
    app.serve_on(listener);
    let editor = app.key(Role::Editor).await;
    let (code, text) = registered_address(&app, &editor, "588号").await;
    let plate = issue(&app, &editor, &code, "small").await;
    let (status, _, png) = app
        .send_raw(
            Request::get(format!("/v1/doorplates/{}/qr.png", plate["id"]))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let url = decode_qr_png(&png);
    assert!(url.starts_with(&base_url), "{url}");

    let rendered = tokio::task::spawn_blocking({
        let url = url.clone();
        move || render_on_phone(&chromium, &url)
    })
    .await
    .expect("browser thread");

    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot_path = artifacts.join("doorplate-scan-phone.png");
    std::fs::write(&screenshot_path, &rendered.screenshot).unwrap();
    eprintln!("screenshot: {}", screenshot_path.display());

    for expected in [
        text.as_str(),
        code.as_str(),
        "有效",
        "门牌状态",
        "鄞州区",
        "在手机地图中打开",
    ] {
        assert!(
            rendered.visible_text.contains(expected),
            "visible text lacks {expected:?}:\n{}",
            rendered.visible_text
        );
    }
    assert!(
        rendered.page_width <= f64::from(PHONE_WIDTH),
        "the page scrolls sideways on a phone: {} px",
        rendered.page_width
    );
    assert!(rendered.screenshot.starts_with(b"\x89PNG"));
}
