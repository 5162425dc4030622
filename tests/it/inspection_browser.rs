//! The printable 联检报告 in a real browser: headless Chromium (Debian `chromium`)
//! opens the stored HTML report over real HTTP at desktop size, and prints it to PDF.
//! The screenshot and the PDF are kept as test artifacts in `target/test-artifacts/`.

use std::path::{Path, PathBuf};

use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;

use super::doorplate_browser::{chromium_or_skip, headless};
use super::inspections::{build_report, inspected_line};
use crate::common::{TestApp, sqlite};

struct Rendered {
    visible_text: String,
    /// Width and height of the map figure as laid out, in CSS pixels.
    map_size: (f64, f64),
    /// Marker symbols drawn on the map.
    map_markers: u64,
    table_rows: u64,
    screenshot: Vec<u8>,
    pdf: Vec<u8>,
}

fn number(tab: &headless_chrome::Tab, expression: &str) -> f64 {
    tab.evaluate(expression, false)
        .expect("evaluates")
        .value
        .and_then(|value| value.as_f64())
        .unwrap_or_else(|| panic!("{expression} is not a number"))
}

fn render(chromium: &Path, url: &str) -> Rendered {
    let (_browser, tab) = headless(chromium, (1200, 1600));
    tab.navigate_to(url).expect("navigates");
    tab.wait_until_navigated().expect("page loads");
    let visible_text = tab
        .wait_for_element("body")
        .expect("body")
        .get_inner_text()
        .expect("inner text");
    let map_size = (
        number(
            &tab,
            "document.querySelector('#line-map').getBoundingClientRect().width",
        ),
        number(
            &tab,
            "document.querySelector('#line-map').getBoundingClientRect().height",
        ),
    );
    let map_markers = number(
        &tab,
        "document.querySelectorAll('#line-map path.marker').length",
    ) as u64;
    let table_rows = number(
        &tab,
        "document.querySelectorAll('#markers tbody tr').length",
    ) as u64;
    let screenshot = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("screenshot");
    let pdf = tab.print_to_pdf(None).expect("prints to PDF");
    Rendered {
        visible_text,
        map_size,
        map_markers,
        table_rows,
        screenshot,
        pdf,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_renders_and_prints_in_chromium() {
    let Some(chromium) = chromium_or_skip("report browser test") else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let app = TestApp::start(sqlite()).await;
    app.serve_on(listener);
    let line = inspected_line(&app).await;
    build_report(&app, &line.surveyor, line.round_id).await;
    let url = format!(
        "{base_url}/v1/inspections/{}/report?format=html",
        line.round_id
    );

    let rendered = tokio::task::spawn_blocking(move || render(&chromium, &url))
        .await
        .expect("browser thread");

    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(
        artifacts.join("inspection-report.png"),
        &rendered.screenshot,
    )
    .unwrap();
    std::fs::write(artifacts.join("inspection-report.pdf"), &rendered.pdf).unwrap();
    eprintln!(
        "artifacts: {}/inspection-report.{{png,pdf}}",
        artifacts.display()
    );

    for expected in [
        "鄞奉线界线联合检查报告",
        "鄞州区联检组",
        "鄞奉01",
        "位移超限",
        "丢失，需补设",
        "未登记",
        "第一组轨迹",
        "负责人（签字）",
    ] {
        assert!(
            rendered.visible_text.contains(expected),
            "visible text lacks {expected:?}:\n{}",
            rendered.visible_text
        );
    }
    assert!(
        rendered.map_size.0 > 600.0 && rendered.map_size.1 > 100.0,
        "the map figure is laid out at {:?}",
        rendered.map_size
    );
    assert_eq!(
        rendered.map_markers, 5,
        "four registered markers and one stray"
    );
    assert_eq!(rendered.table_rows, 5);
    assert!(rendered.screenshot.starts_with(b"\x89PNG"));
    assert!(rendered.pdf.starts_with(b"%PDF"));
}
