//! The printable 联检报告: one self-contained HTML page (no scripts, no external files)
//! with the line's particulars, a map figure as inline SVG, the marker register with
//! what each marker showed, the line and topology checks, the findings, and a place for
//! each team to sign. Print styles lay it out on A4.

use std::fmt::Write;

use serde_json::Value;

use super::report::{InspectionReport, MarkerVerdict};
use super::topology::TopologyReport;
use crate::doorplate::render::escape_xml as escape;

const MAP_WIDTH_PX: f64 = 760.0;
const MAP_MAX_HEIGHT_PX: f64 = 560.0;
const MAP_PADDING_PX: f64 = 28.0;
/// The most misplaced addresses listed one by one; the rest are counted.
const MISPLACED_ROWS_SHOWN: usize = 50;

/// Projects WGS84 onto the page: an equirectangular plane around the figure's middle
/// latitude, true to scale over the few tens of kilometres a county line spans.
struct MapFrame {
    min_lon: f64,
    max_lat: f64,
    metres_per_degree_lon: f64,
    metres_per_degree_lat: f64,
    pixels_per_metre: f64,
    height_px: f64,
}

impl MapFrame {
    fn around(points: &[[f64; 2]]) -> Option<Self> {
        let (mut min_lon, mut min_lat, mut max_lon, mut max_lat) = (
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        );
        for [lon, lat] in points {
            min_lon = min_lon.min(*lon);
            max_lon = max_lon.max(*lon);
            min_lat = min_lat.min(*lat);
            max_lat = max_lat.max(*lat);
        }
        if !min_lon.is_finite() {
            return None;
        }
        let middle_latitude = ((min_lat + max_lat) / 2.0).to_radians();
        let metres_per_degree_lat = 110_574.0;
        let metres_per_degree_lon = 111_320.0 * middle_latitude.cos();
        let width_m = ((max_lon - min_lon) * metres_per_degree_lon).max(1.0);
        let height_m = ((max_lat - min_lat) * metres_per_degree_lat).max(1.0);
        let pixels_per_metre = ((MAP_WIDTH_PX - 2.0 * MAP_PADDING_PX) / width_m)
            .min((MAP_MAX_HEIGHT_PX - 2.0 * MAP_PADDING_PX) / height_m);
        Some(MapFrame {
            min_lon,
            max_lat,
            metres_per_degree_lon,
            metres_per_degree_lat,
            pixels_per_metre,
            height_px: height_m * pixels_per_metre + 2.0 * MAP_PADDING_PX,
        })
    }

    fn project(&self, [lon, lat]: [f64; 2]) -> (f64, f64) {
        (
            MAP_PADDING_PX
                + (lon - self.min_lon) * self.metres_per_degree_lon * self.pixels_per_metre,
            MAP_PADDING_PX
                + (self.max_lat - lat) * self.metres_per_degree_lat * self.pixels_per_metre,
        )
    }

    /// SVG path data for a ring or line, leaving out points under half a pixel from the
    /// last one kept: a county line has far more vertices than the figure can show.
    fn path(&self, coordinates: &[[f64; 2]], closed: bool) -> String {
        let mut data = String::new();
        let mut last: Option<(f64, f64)> = None;
        for (index, coordinate) in coordinates.iter().enumerate() {
            let (x, y) = self.project(*coordinate);
            let is_last = index + 1 == coordinates.len();
            if let Some((lx, ly)) = last
                && (x - lx).hypot(y - ly) < 0.5
                && !is_last
            {
                continue;
            }
            let command = if last.is_none() { 'M' } else { 'L' };
            let _ = write!(data, "{command}{x:.1},{y:.1}");
            last = Some((x, y));
        }
        if closed {
            data.push('Z');
        }
        data
    }
}

/// The line strings of a GeoJSON LineString or MultiLineString.
fn line_parts(geometry: &Value) -> Vec<Vec<[f64; 2]>> {
    let positions = |value: &Value| -> Vec<[f64; 2]> {
        value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|position| Some([position[0].as_f64()?, position[1].as_f64()?]))
            .collect()
    };
    match geometry["type"].as_str() {
        Some("LineString") => vec![positions(&geometry["coordinates"])],
        Some("MultiLineString") | Some("Polygon") => geometry["coordinates"]
            .as_array()
            .into_iter()
            .flatten()
            .map(positions)
            .collect(),
        _ => Vec::new(),
    }
}

/// A length of round figure (1, 2 or 5 × 10ⁿ metres) near a fifth of the figure's width.
fn scale_bar_metres(pixels_per_metre: f64) -> f64 {
    let target = MAP_WIDTH_PX / 5.0 / pixels_per_metre;
    let magnitude = 10f64.powf(target.log10().floor());
    [5.0, 2.0, 1.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|length| *length <= target)
        .unwrap_or(magnitude)
}

fn map_svg(
    report: &InspectionReport,
    tracks: &[(String, Value)],
    topology: &TopologyReport,
) -> String {
    let line = line_parts(&report.line.geometry);
    let track_parts: Vec<Vec<[f64; 2]>> = tracks
        .iter()
        .flat_map(|(_, geometry)| line_parts(geometry))
        .collect();
    let marker_points: Vec<([f64; 2], &super::report::ReportMarker)> = report
        .markers
        .iter()
        .filter_map(|marker| Some((marker.registered.or(marker.observed)?, marker)))
        .collect();
    let all_points: Vec<[f64; 2]> = line
        .iter()
        .chain(&track_parts)
        .flatten()
        .copied()
        .chain(marker_points.iter().map(|(point, _)| *point))
        .collect();
    let Some(frame) = MapFrame::around(&all_points) else {
        return "<p>（无图形数据）</p>".to_owned();
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" id="line-map" role="img" aria-label="界线示意图" viewBox="0 0 {MAP_WIDTH_PX} {height:.0}" width="100%"><rect width="100%" height="100%" fill="#fbfbf8" stroke="#999"/>"##,
        height = frame.height_px
    );
    for (collection, class) in [(&topology.overlaps, "overlap"), (&topology.gaps, "gap")] {
        for feature in collection["features"].as_array().into_iter().flatten() {
            for ring in line_parts(&feature["geometry"]) {
                let _ = write!(
                    svg,
                    r#"<path class="{class}" d="{}"/>"#,
                    frame.path(&ring, true)
                );
            }
        }
    }
    for part in &line {
        let _ = write!(
            svg,
            r#"<path class="line" d="{}"/>"#,
            frame.path(part, false)
        );
    }
    for part in &track_parts {
        let _ = write!(
            svg,
            r#"<path class="track" d="{}"/>"#,
            frame.path(part, false)
        );
    }
    let label_markers = marker_points.len() <= 80;
    // Markers of a pair stand metres apart, a point on the figure: their labels are
    // stacked instead of printed over each other.
    let mut labels: Vec<(f64, f64)> = Vec::new();
    for (point, marker) in &marker_points {
        let (x, y) = frame.project(*point);
        let mut label_y = y + 3.0;
        while labels
            .iter()
            .any(|(lx, ly)| (lx - x).abs() < 40.0 && (ly - label_y).abs() < 11.0)
        {
            label_y += 11.0;
        }
        labels.push((x, label_y));
        let _ = write!(
            svg,
            r#"<path class="marker" fill="{}" d="M{x:.1},{:.1}L{:.1},{:.1}L{:.1},{:.1}Z"><title>{}</title></path>"#,
            marker.verdict.colour(),
            y - 6.0,
            x - 5.5,
            y + 4.0,
            x + 5.5,
            y + 4.0,
            escape(&format!("{} {}", marker.number, marker.verdict.label_zh()))
        );
        if label_markers {
            let _ = write!(
                svg,
                r#"<text class="label" x="{:.1}" y="{label_y:.1}">{}</text>"#,
                x + 7.0,
                escape(&marker.number)
            );
        }
    }
    let bar_m = scale_bar_metres(frame.pixels_per_metre);
    let bar_px = bar_m * frame.pixels_per_metre;
    let bar_y = frame.height_px - 12.0;
    let bar_label = if bar_m >= 1000.0 {
        format!("{} km", bar_m / 1000.0)
    } else {
        format!("{bar_m} m")
    };
    let _ = write!(
        svg,
        r##"<path class="scale" d="M12,{bar_y:.1}h{bar_px:.1}"/><text class="label" x="12" y="{:.1}">{bar_label}</text><g class="north"><path d="M{nx:.1},8l6,16h-12z" fill="#333"/><text class="label" x="{nx:.1}" y="36" text-anchor="middle">N</text></g></svg>"##,
        bar_y - 4.0,
        nx = MAP_WIDTH_PX - 24.0,
    );
    svg
}

fn optional_metres(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |metres| format!("{metres:.3}"))
}

fn position_text(position: Option<[f64; 2]>) -> String {
    position.map_or_else(
        || "—".to_owned(),
        |[lon, lat]| format!("{lon:.7}, {lat:.7}"),
    )
}

const STYLE: &str = r#"
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", sans-serif;
       color: #111; margin: 24px auto; max-width: 980px; line-height: 1.5; }
h1 { text-align: center; font-size: 24px; margin-bottom: 4px; }
p.subtitle { text-align: center; margin-top: 0; color: #444; }
h2 { font-size: 17px; border-bottom: 1px solid #444; padding-bottom: 2px; margin-top: 28px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border: 1px solid #888; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eee; white-space: nowrap; }
td.nowrap { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; font-size: 14px; }
dl.facts dt { color: #444; } dl.facts dd { margin: 0; }
figure { margin: 8px 0; } figcaption { font-size: 12px; color: #444; }
svg .line { fill: none; stroke: #111; stroke-width: 2; }
svg .track { fill: none; stroke: #00838f; stroke-width: 1.5; stroke-dasharray: 5 3; }
svg .overlap { fill: #d32f2f; fill-opacity: 0.5; stroke: #d32f2f; stroke-width: 2; }
svg .gap { fill: #1976d2; fill-opacity: 0.5; stroke: #1976d2; stroke-width: 2; }
svg .marker { stroke: #fff; stroke-width: 0.8; }
svg .label { font-size: 10px; fill: #222; }
svg .scale { stroke: #111; stroke-width: 3; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
tr.verdict-displaced td, tr.verdict-missing td { background: #fdecea; }
tr.verdict-needs_repair td { background: #fff4e5; }
ol.findings li { margin-bottom: 2px; }
.signatures { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 24px; margin-top: 12px; }
.signatures div { border-top: 1px solid #444; padding-top: 6px; min-height: 90px; }
@page { size: A4; margin: 16mm; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } tr { break-inside: avoid; } }
"#;

/// Renders the report as one printable HTML page.
pub fn render_report_html(
    report: &InspectionReport,
    tracks: &[(String, Value)],
    topology: &TopologyReport,
) -> String {
    let line = &report.line;
    let title = format!(
        "{}界线联合检查报告",
        line.name
            .clone()
            .unwrap_or_else(|| format!("{}—{}", line.a.name, line.b.name))
    );
    let mut html = String::with_capacity(32 * 1024);
    let _ = write!(
        html,
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title} {date}</title><style>{STYLE}</style></head><body><h1>{title}</h1><p class="subtitle">联检记录 {round} · {date}</p>"#,
        title = escape(&title),
        date = report.round.date,
        round = report.round.id,
    );
    html.push_str("<h2>一、界线概况</h2><dl class=\"facts\">");
    let mut fact = |term: &str, value: String| {
        let _ = write!(html, "<dt>{term}</dt><dd>{}</dd>", escape(&value));
    };
    fact("界线编号", line.id.clone());
    fact(
        "相邻县级行政区",
        format!(
            "{}（{}）与 {}（{}）",
            line.a.name, line.a.code, line.b.name, line.b.code
        ),
    );
    fact(
        "界线长度",
        format!("{:.1} m（按区域数据共有边计算）", line.length_m),
    );
    if let Some(official) = line.official_length_m {
        fact("法定界线长度", format!("{official:.1} m"));
    }
    if let Some(agreement) = &line.agreement {
        fact("界线协议书", agreement.clone());
    }
    fact(
        "限差",
        format!(
            "界桩位移 {} m；界线偏移 {} m",
            line.marker_tolerance_m, line.line_tolerance_m
        ),
    );
    fact("检查日期", report.round.date.to_string());
    fact("联检组", report.round.teams.join("、"));
    fact(
        "界桩",
        format!(
            "登记 {} 个，本次检查 {} 个：完好 {}，需维修 {}，位移超限 {}，丢失 {}，未检查 {}；未登记编号 {} 个",
            report.summary.registered,
            report.summary.inspected,
            report.summary.sound,
            report.summary.needs_repair,
            report.summary.displaced,
            report.summary.missing,
            report.summary.not_inspected,
            report.summary.unregistered
        ),
    );
    html.push_str("</dl>");

    html.push_str("<h2>二、界线示意图</h2><figure>");
    html.push_str(&map_svg(report, tracks, topology));
    html.push_str("<figcaption class=\"legend\"><span><i style=\"background:#111\"></i>界线</span><span><i style=\"background:#00838f\"></i>实测轨迹</span><span><i style=\"background:#d32f2f\"></i>重叠</span><span><i style=\"background:#1976d2\"></i>缝隙</span>");
    for verdict in [
        MarkerVerdict::Sound,
        MarkerVerdict::NeedsRepair,
        MarkerVerdict::Displaced,
        MarkerVerdict::Missing,
        MarkerVerdict::NotInspected,
        MarkerVerdict::Unregistered,
    ] {
        let _ = write!(
            html,
            "<span><i style=\"background:{}\"></i>界桩{}</span>",
            verdict.colour(),
            verdict.label_zh()
        );
    }
    html.push_str("</figcaption></figure>");

    html.push_str("<h2>三、界桩登记与检查表</h2><table id=\"markers\"><thead><tr><th>界桩编号</th><th>类型</th><th>登记位置（经度, 纬度）</th><th>实测位置（经度, 纬度）</th><th>位移 (m)</th><th>状况</th><th>结论</th><th>方位物</th><th>备注</th><th>照片</th></tr></thead><tbody>");
    for marker in &report.markers {
        let landmarks: Vec<String> = marker
            .landmarks
            .iter()
            .map(|landmark| {
                format!(
                    "{} {:.0}° {:.1} m",
                    landmark.name, landmark.bearing_deg, landmark.distance_m
                )
            })
            .collect();
        let _ = write!(
            html,
            "<tr class=\"verdict-{}\"><td class=\"nowrap\">{}</td><td class=\"nowrap\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"nowrap\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            marker.verdict.as_str(),
            escape(&marker.number),
            marker.marker_type.map_or("—", |kind| kind.label_zh()),
            position_text(marker.registered),
            position_text(marker.observed),
            optional_metres(marker.displacement_m),
            marker
                .condition
                .map_or("—", |condition| condition.label_zh()),
            marker.verdict.label_zh(),
            escape(&landmarks.join("；")),
            escape(marker.note.as_deref().unwrap_or("")),
            escape(&marker.photos.join("、")),
        );
    }
    html.push_str("</tbody></table>");

    html.push_str("<h2>四、界线走向检查</h2>");
    if report.tracks.is_empty() {
        html.push_str("<p>本次未提交实测轨迹。</p>");
    } else {
        html.push_str("<table id=\"tracks\"><thead><tr><th>实测轨迹</th><th>长度 (m)</th><th>最大偏移 (m)</th><th>Hausdorff 距离 (m)</th><th>结论</th></tr></thead><tbody>");
        for track in &report.tracks {
            let _ = write!(
                html,
                "<tr><td>{}</td><td class=\"num\">{:.1}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.3}</td><td>{}</td></tr>",
                escape(&track.track),
                track.length_m,
                track.max_offset_m,
                track.hausdorff_m,
                if track.exceeds_tolerance {
                    "超过限差"
                } else {
                    "符合"
                }
            );
        }
        html.push_str("</tbody></table>");
    }

    let topology_summary = &report.topology;
    let _ = write!(
        html,
        "<h2>五、区域数据拓扑检查</h2><p>数据来源：{}。重叠 {} 处，共 {:.1} m²；缝隙 {} 处，共 {:.1} m²；两县边界最大偏差 {:.2} m。</p>",
        if topology_summary.source == "submitted" {
            "双方本次提交的区域数据"
        } else {
            "本系统登记的区域数据"
        },
        topology_summary.overlap_count,
        topology_summary.overlap_m2,
        topology_summary.gap_count,
        topology_summary.gap_m2,
        topology_summary.max_offset_m
    );

    let _ = write!(
        html,
        "<h2>六、界线两侧地址核查</h2><p>界线两侧 {} m 范围内，登记行政区与所在区域不一致的标准地址 {} 个。</p>",
        report.misplaced_within_m,
        report.misplaced_addresses.len()
    );
    if !report.misplaced_addresses.is_empty() {
        html.push_str("<table id=\"misplaced\"><thead><tr><th>地址编码</th><th>标准地址</th><th>登记区划</th><th>所在县</th><th>距界线 (m)</th></tr></thead><tbody>");
        for address in report.misplaced_addresses.iter().take(MISPLACED_ROWS_SHOWN) {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.1}</td></tr>",
                escape(&address.code),
                escape(&address.address),
                escape(&address.registered_division),
                escape(&address.polygon_county),
                address.distance_to_line_m
            );
        }
        html.push_str("</tbody></table>");
        let hidden = report
            .misplaced_addresses
            .len()
            .saturating_sub(MISPLACED_ROWS_SHOWN);
        if hidden > 0 {
            let _ = write!(html, "<p>另有 {hidden} 个地址见 JSON 报告。</p>");
        }
    }

    html.push_str("<h2>七、发现的问题</h2>");
    if report.findings.is_empty() {
        html.push_str("<p>未发现问题。</p>");
    } else {
        html.push_str("<ol class=\"findings\">");
        for finding in &report.findings {
            let _ = write!(html, "<li>{}</li>", escape(&finding.message));
        }
        html.push_str("</ol>");
    }

    html.push_str("<h2>八、联检组签字</h2><div class=\"signatures\">");
    for team in &report.round.teams {
        let _ = write!(
            html,
            "<div>{}<br>负责人（签字）：<br>日期：</div>",
            escape(team)
        );
    }
    let _ = write!(
        html,
        "</div><p class=\"subtitle\" style=\"margin-top:24px;font-size:12px\">报告生成：{} · {}</p></body></html>",
        report.built_at.format("%Y-%m-%d %H:%M UTC"),
        escape(&report.built_by)
    );
    html
}
