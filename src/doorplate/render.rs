//! QR symbols and printable plate faces.
//!
//! Everything is drawn from the module matrix by hand: an SVG path, an 8-bit grey PNG,
//! and the plate face as SVG in millimetres so a manufacturer prints it at its true
//! size.

use std::fmt::Write;

use qrcode::{Color, EcLevel, QrCode};

use crate::domain::doorplate::PlateSize;

/// Quiet zone around the symbol, in modules, as ISO/IEC 18004 requires.
pub const QUIET_ZONE_MODULES: usize = 4;
/// Plates hang outdoors and get dirty; Q recovers from about a quarter of the symbol
/// being unreadable, one level above the M the plates need at the least.
pub const PLATE_EC_LEVEL: EcLevel = EcLevel::Q;
pub const MAX_PNG_SCALE: u32 = 32;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the plate URL does not fit in a QR code: {0:?}")]
    TooLong(qrcode::types::QrError),
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// The dark/light modules of one QR symbol, without the quiet zone.
pub struct QrMatrix {
    width: usize,
    dark: Vec<bool>,
    version: i16,
}

impl QrMatrix {
    pub fn encode(text: &str) -> Result<Self, RenderError> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), PLATE_EC_LEVEL)
            .map_err(RenderError::TooLong)?;
        let version = match code.version() {
            qrcode::Version::Normal(version) | qrcode::Version::Micro(version) => version,
        };
        Ok(QrMatrix {
            width: code.width(),
            dark: code
                .to_colors()
                .into_iter()
                .map(|color| color == Color::Dark)
                .collect(),
            version,
        })
    }

    /// Modules per side, without the quiet zone.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The QR version (1–40): 21 + 4·(version − 1) modules per side.
    pub fn version(&self) -> i16 {
        self.version
    }

    fn is_dark(&self, x: usize, y: usize) -> bool {
        self.dark[y * self.width + x]
    }

    /// Modules per side with the quiet zone on both sides.
    pub fn outer_width(&self) -> usize {
        self.width + 2 * QUIET_ZONE_MODULES
    }

    /// One SVG path in module units, quiet zone included: runs of dark modules in a
    /// row become one rectangle each, which keeps the file small.
    pub fn svg_path(&self) -> String {
        let mut path = String::new();
        for y in 0..self.width {
            let mut x = 0;
            while x < self.width {
                if !self.is_dark(x, y) {
                    x += 1;
                    continue;
                }
                let start = x;
                while x < self.width && self.is_dark(x, y) {
                    x += 1;
                }
                let _ = write!(
                    path,
                    "M{} {}h{}v1h-{}z",
                    start + QUIET_ZONE_MODULES,
                    y + QUIET_ZONE_MODULES,
                    x - start,
                    x - start
                );
            }
        }
        path
    }

    /// A standalone SVG of the symbol on white, `side_mm` across when given (else unitless).
    pub fn svg(&self, side_mm: Option<u32>) -> String {
        let outer = self.outer_width();
        let size = match side_mm {
            Some(mm) => format!(r#" width="{mm}mm" height="{mm}mm""#),
            None => String::new(),
        };
        format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {outer} {outer}"{size} shape-rendering="crispEdges"><rect width="{outer}" height="{outer}" fill="#fff"/><path fill="#000" d="{}"/></svg>"##,
            self.svg_path()
        )
    }

    /// An 8-bit greyscale PNG, `scale` pixels per module, quiet zone included.
    pub fn png(&self, scale: u32) -> Result<Vec<u8>, RenderError> {
        let scale = scale.clamp(1, MAX_PNG_SCALE) as usize;
        let side = self.outer_width() * scale;
        let mut pixels = vec![255u8; side * side];
        for y in 0..self.width {
            for x in 0..self.width {
                if self.is_dark(x, y) {
                    let top = (y + QUIET_ZONE_MODULES) * scale;
                    let left = (x + QUIET_ZONE_MODULES) * scale;
                    for row in top..top + scale {
                        pixels[row * side + left..row * side + left + scale].fill(0);
                    }
                }
            }
        }
        let mut bytes = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut bytes, side as u32, side as u32);
            encoder.set_color(png::ColorType::Grayscale);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder
                .write_header()
                .map_err(|error| RenderError::Png(error.to_string()))?;
            writer
                .write_image_data(&pixels)
                .map_err(|error| RenderError::Png(error.to_string()))?;
        }
        Ok(bytes)
    }
}

/// What a plate face shows.
pub struct PlateFace<'a> {
    pub size: PlateSize,
    /// The large line: the road or place name.
    pub name: &'a str,
    /// The number beside it (`12号`, `3幢`), if any.
    pub number: Option<&'a str>,
    /// The division the plate belongs to, e.g. `鄞州区 首南街道`.
    pub division: &'a str,
    pub serial: &'a str,
    pub qr: &'a QrMatrix,
}

/// The standard doorplate blue.
const PLATE_BLUE: &str = "#0b4ea2";
const FONT: &str = "'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','SimHei',sans-serif";

/// The plate face as an `<svg>` element sized in millimetres, placed at (`x`, `y`) mm
/// when nested in a sheet.
pub fn plate_svg(face: &PlateFace<'_>, offset_mm: Option<(u32, u32)>) -> String {
    let (width, height) = face.size.plate_mm();
    let qr_side = face.size.qr_mm() as f64;
    let (width, height) = (width as f64, height as f64);
    // Proportions scale with the plate so each class keeps the same layout.
    let margin = height * 0.06;
    let border = height * 0.015;
    let qr_x = width - margin - qr_side;
    let qr_y = (height - qr_side) / 2.0;
    let text_left = margin * 1.5;
    let text_width = (qr_x - margin * 0.5 - text_left).max(1.0);
    let name_line = name_line_of(face);
    let name_ems = text_ems(&name_line);
    // A long name first gets a smaller font (down to 60%), and only then narrower glyphs.
    let name_size = (height * 0.24).min((text_width / name_ems).max(height * 0.24 * 0.6));
    let division_size = height * 0.09;
    let serial_size = height * 0.055;
    let outer = face.qr.outer_width() as f64;
    let module = qr_side / outer;
    let placement = match offset_mm {
        Some((x, y)) => format!(r#" x="{x}" y="{y}""#),
        None => String::new(),
    };
    format!(
        concat!(
            r##"<svg xmlns="http://www.w3.org/2000/svg"{placement} width="{w}mm" height="{h}mm" viewBox="0 0 {w} {h}">"##,
            r##"<rect width="{w}" height="{h}" rx="{radius}" fill="{blue}"/>"##,
            r##"<rect x="{b2}" y="{b2}" width="{inner_w}" height="{inner_h}" rx="{radius}" fill="none" stroke="#fff" stroke-width="{b}"/>"##,
            r##"<g fill="#fff" font-family="{font}">"##,
            r##"<text x="{tx}" y="{name_y}" font-size="{name_size}" font-weight="bold" textLength="{tw}" lengthAdjust="spacingAndGlyphs">{name}</text>"##,
            r##"<text x="{tx}" y="{division_y}" font-size="{division_size}" textLength="{tw}" lengthAdjust="spacingAndGlyphs">{division}</text>"##,
            r##"<text x="{tx}" y="{serial_y}" font-size="{serial_size}">{serial}</text>"##,
            r##"</g>"##,
            r##"<g transform="translate({qr_x} {qr_y}) scale({module})"><rect width="{outer}" height="{outer}" fill="#fff"/><path fill="#000" d="{path}" shape-rendering="crispEdges"/></g>"##,
            r#"</svg>"#
        ),
        placement = placement,
        w = number(width),
        h = number(height),
        radius = number(height * 0.04),
        blue = PLATE_BLUE,
        b = number(border),
        b2 = number(border * 2.0),
        inner_w = number(width - border * 4.0),
        inner_h = number(height - border * 4.0),
        font = FONT,
        tx = number(text_left),
        tw = number(fitted_length(&name_line, name_size, text_width)),
        name_y = number(height * 0.45),
        name_size = number(name_size),
        name = escape_xml(&name_line),
        division_y = number(height * 0.68),
        division_size = number(division_size),
        division = escape_xml(face.division),
        serial_y = number(height * 0.86),
        serial_size = number(serial_size),
        serial = escape_xml(face.serial),
        qr_x = number(qr_x),
        qr_y = number(qr_y),
        // Four decimals: the module times 30-odd modules must still land on the QR's size.
        module = format!("{module:.4}"),
        outer = number(outer),
        path = face.qr.svg_path(),
    )
}

/// Millimetres to two decimals: finer than any printer, and no `15.299999999999999`.
fn number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The text length to force: the natural width of CJK text (about one em per
/// character) unless that overflows the space, in which case the space.
fn fitted_length(text: &str, font_size: f64, available: f64) -> f64 {
    (text_ems(text) * font_size).min(available)
}

/// Approximate width in ems: one per CJK character, about half for ASCII.
fn text_ems(text: &str) -> f64 {
    text.chars()
        .map(|c| if c.is_ascii() { 0.55 } else { 1.0 })
        .sum::<f64>()
        .max(1.0)
}

fn name_line_of(face: &PlateFace<'_>) -> String {
    match face.number {
        Some(number) => format!("{}{}", face.name, number),
        None => face.name.to_owned(),
    }
}

/// Escapes text for XML and HTML element content and attribute values.
pub fn escape_xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// Many plate faces on one SVG sheet, one plate per row with a 10 mm gap.
pub fn sheet_svg(plates: &[PlateFace<'_>]) -> String {
    const GAP_MM: u32 = 10;
    let width = plates
        .iter()
        .map(|face| face.size.plate_mm().0)
        .max()
        .unwrap_or(0)
        + 2 * GAP_MM;
    let mut y = GAP_MM;
    let mut body = String::new();
    for face in plates {
        body.push_str(&plate_svg(face, Some((GAP_MM, y))));
        y += face.size.plate_mm().1 + GAP_MM;
    }
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}mm" height="{y}mm" viewBox="0 0 {width} {y}">{body}</svg>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plate_url_fits_a_small_symbol_at_level_q() {
        let url = "https://dm.mca.gov.cn/d/AQAAAAAqc3Vw3FHlbHGi";
        let matrix = QrMatrix::encode(url).unwrap();
        assert!(matrix.version() <= 4, "version {}", matrix.version());
        assert_eq!(matrix.width(), 17 + 4 * matrix.version() as usize);
    }

    #[test]
    fn png_has_the_quiet_zone_and_scale() {
        let matrix = QrMatrix::encode("http://127.0.0.1:8080/d/x").unwrap();
        let png = matrix.png(4).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(info.width as usize, matrix.outer_width() * 4);
        assert_eq!(info.width, info.height);
    }

    #[test]
    fn text_is_escaped_on_the_plate() {
        let matrix = QrMatrix::encode("x").unwrap();
        let svg = plate_svg(
            &PlateFace {
                size: PlateSize::Medium,
                name: "<script>",
                number: Some("12号"),
                division: "鄞州区 & 首南街道",
                serial: "330212-00000001",
                qr: &matrix,
            },
            None,
        );
        assert!(svg.contains("&lt;script&gt;12号"));
        assert!(svg.contains("鄞州区 &amp; 首南街道"));
        assert!(svg.contains(r#"width="270mm" height="170mm""#));
    }
}
