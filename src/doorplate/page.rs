//! The public scan pages: server-rendered, Chinese, readable on a phone with no
//! JavaScript, and never showing personal data (the record holds none, and the page
//! shows only the fields named here).

use std::fmt::Write;

use super::render::escape_xml as escape;
use super::{CurrentPlate, ScanView};
use crate::domain::address::AddressStatus;
use crate::geo::Crs;

const STYLE: &str = "body{margin:0;font-family:system-ui,'PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif;\
background:#f2f4f7;color:#1a1a1a;line-height:1.55}\
header{background:#0b4ea2;color:#fff;padding:14px 18px;font-size:17px;font-weight:600}\
main{padding:14px}section{background:#fff;border-radius:10px;padding:16px;margin-bottom:12px}\
h1{font-size:21px;margin:6px 0 10px;word-break:break-all}dl{margin:0}dt{color:#667085;font-size:13px;margin-top:10px}\
dd{margin:2px 0 0;font-size:16px;word-break:break-all}.status{display:inline-block;padding:2px 10px;border-radius:12px;font-size:14px}\
.ok{background:#e3f4e8;color:#146c2e}.bad{background:#fdecea;color:#a4161a}\
.notice{border-left:4px solid #d97706;background:#fff7e6}a{color:#0b4ea2}footer{color:#667085;font-size:12px;padding:0 18px 24px}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title><style>{STYLE}</style></head>\
         <body><header>数字门牌 · 标准地址查询</header><main>{body}</main>\
         <footer>信息来源：民政部门标准地址库。本页只显示标准地址信息，不含任何个人信息。</footer></body></html>",
        title = escape(title),
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(byte as char);
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// Links that open the point on a map: a `geo:` URI (RFC 5870, WGS84) for the
/// phone's own map app, and Amap's web marker, which expects GCJ-02.
fn map_links(lon: f64, lat: f64, name: &str) -> String {
    let (amap_lon, amap_lat) = Crs::Gcj02.from_wgs84(lon, lat);
    format!(
        "<a href=\"geo:{lat:.6},{lon:.6}\">在手机地图中打开</a> · \
         <a href=\"https://uri.amap.com/marker?position={amap_lon:.6},{amap_lat:.6}&amp;name={name}&amp;coordinate=gaode\">高德地图</a>",
        name = percent_encode(name),
    )
}

fn record_section(view: &ScanView) -> String {
    let address = &view.address;
    let mut html = String::new();
    let _ = write!(
        html,
        "<section><h1>{text}</h1><dl><dt>地址编码</dt><dd>{code}</dd><dt>行政区划</dt><dd>{chain}</dd>",
        text = escape(&address.address),
        code = escape(&address.code),
        chain = escape(&address.division.names.join(" › ")),
    );
    match (address.lon, address.lat) {
        (Some(lon), Some(lat)) => {
            let _ = write!(
                html,
                "<dt>位置（WGS84）</dt><dd>{lon:.6}, {lat:.6}</dd><dd>{}</dd>",
                map_links(lon, lat, &address.address)
            );
        }
        _ => html.push_str("<dt>位置</dt><dd>未登记坐标</dd>"),
    }
    let (class, label) = if view.plate.status == crate::domain::doorplate::PlateStatus::Issued {
        ("ok", view.plate.status.label_zh())
    } else {
        ("bad", view.plate.status.label_zh())
    };
    let _ = write!(
        html,
        "<dt>门牌状态</dt><dd><span class=\"status {class}\">{label}</span></dd>\
         <dt>门牌编号</dt><dd>{serial}</dd></dl></section>",
        serial = escape(&view.plate.serial),
    );
    html
}

fn successor_notice(view: &ScanView) -> String {
    match &view.address.successor {
        Some(successor) => format!(
            "<section class=\"notice\">此地址已停用，现行标准地址为：<br><strong>{}</strong><br>地址编码 {}</section>",
            escape(&successor.address),
            escape(&successor.code),
        ),
        None if view.address.status == AddressStatus::Retired => {
            "<section class=\"notice\">此地址已停用，没有后继地址。</section>".to_owned()
        }
        None => String::new(),
    }
}

/// The page of a current plate.
pub fn current_plate_page(view: &ScanView) -> String {
    let body = format!("{}{}", successor_notice(view), record_section(view));
    page(&view.address.address, &body)
}

/// The page of a replaced or revoked plate (served with 410).
pub fn ended_plate_page(view: &ScanView, current: Option<&CurrentPlate>) -> String {
    let headline = match view.plate.status {
        crate::domain::doorplate::PlateStatus::Replaced => "此门牌已更换，二维码已失效。",
        _ => "此门牌已注销，二维码已失效。",
    };
    let pointer = match current {
        Some(plate) => format!(
            "现行门牌编号 <strong>{serial}</strong>：<a href=\"{url}\">查看现行门牌</a>",
            serial = escape(&plate.serial),
            url = escape(&plate.url),
        ),
        None => "该地址目前没有有效门牌，以下为其标准地址。".to_owned(),
    };
    let body = format!(
        "<section class=\"notice\"><strong>{headline}</strong><br>{pointer}</section>{}{}",
        successor_notice(view),
        record_section(view)
    );
    page("门牌已失效", &body)
}

/// The page for a code this service did not issue (served with 404).
pub fn invalid_plate_page() -> String {
    page(
        "无效的门牌二维码",
        "<section class=\"notice\"><h1>无效的门牌二维码</h1>此二维码不是有效的数字门牌，可能已损坏或被仿冒。\
         请以民政部门公布的标准地址为准，如有疑问请联系当地民政部门。</section>",
    )
}

/// The page shown when one client scans too often (served with 429).
pub fn rate_limited_page(retry_after_seconds: u64) -> String {
    page(
        "请稍后再试",
        &format!(
            "<section class=\"notice\"><h1>请稍后再试</h1>查询过于频繁，请在 {retry_after_seconds} 秒后重试。</section>"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: AddressStatus) -> ScanView {
        use super::super::{PublicAddress, PublicPlate};
        use crate::domain::division::DivisionLevel;
        use crate::domain::doorplate::{PlateSize, PlateStatus};
        ScanView {
            plate: PublicPlate {
                serial: "330212-00000001".into(),
                status: PlateStatus::Issued,
                size: PlateSize::Small,
            },
            address: PublicAddress {
                code: "33021200100000000019".into(),
                address: "浙江省宁波市鄞州区下应街道天童南路<588>号".into(),
                status,
                division: crate::matching::DivisionSummary {
                    code: "330212001000".into(),
                    level: DivisionLevel::Town,
                    names: vec!["浙江省".into(), "宁波市".into()],
                },
                lon: None,
                lat: None,
                successor: None,
            },
        }
    }

    #[test]
    fn a_retired_address_without_successor_says_so_and_text_is_escaped() {
        let page = current_plate_page(&view(AddressStatus::Retired));
        assert!(page.contains("此地址已停用，没有后继地址"));
        assert!(page.contains("天童南路&lt;588&gt;号") && !page.contains("<588>"));
        assert!(page.contains("未登记坐标"));
        let page = current_plate_page(&view(AddressStatus::Active));
        assert!(!page.contains("此地址已停用"));
    }

    #[test]
    fn names_in_map_links_are_percent_encoded() {
        assert_eq!(
            percent_encode("中山路 1号&x"),
            "%E4%B8%AD%E5%B1%B1%E8%B7%AF%201%E5%8F%B7%26x"
        );
        let links = map_links(121.55, 29.87, "a&b");
        assert!(links.contains("geo:29.870000,121.550000"));
        assert!(links.contains("name=a%26b"));
    }
}
