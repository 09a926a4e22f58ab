//! Content negotiation: which encoding a client prefers (`Accept-Encoding`, RFC
//! 9110 §12.5.3) and whether it takes HTML (`Accept`, §12.5.1).

use axum::http::{HeaderMap, header};

/// The encodings a build ships: the file itself, and its `.br` and `.gz` siblings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

impl Encoding {
    /// The server's own preference when the client likes several equally.
    const PREFERENCE: [Encoding; 3] = [Encoding::Brotli, Encoding::Gzip, Encoding::Identity];

    /// The sibling file's suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Encoding::Brotli => ".br",
            Encoding::Gzip => ".gz",
            Encoding::Identity => "",
        }
    }

    /// The `Content-Encoding` value; none for the file itself.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Encoding::Brotli => Some("br"),
            Encoding::Gzip => Some("gzip"),
            Encoding::Identity => None,
        }
    }

    /// Set on the ETag so each encoding has its own (a strong ETag names bytes).
    pub fn etag_suffix(self) -> &'static str {
        match self {
            Encoding::Brotli => "-br",
            Encoding::Gzip => "-gz",
            Encoding::Identity => "",
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            Encoding::Brotli => &["br"],
            Encoding::Gzip => &["gzip", "x-gzip"],
            Encoding::Identity => &["identity"],
        }
    }
}

/// `(name, q)` pairs of a header like `Accept-Encoding` or `Accept`, names lower-cased.
/// A malformed q-value counts as 0 (the entry is ignored); q is clamped to 0..=1.
fn parse_weighted(value: &str) -> Vec<(String, f32)> {
    value
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let name = parts.next()?.trim().to_ascii_lowercase();
            if name.is_empty() {
                return None;
            }
            let mut q = 1.0_f32;
            for parameter in parts {
                let Some((key, value)) = parameter.split_once('=') else { continue };
                if key.trim().eq_ignore_ascii_case("q") {
                    q = value.trim().parse::<f32>().ok().filter(|q| q.is_finite()).map_or(0.0, |q| q.clamp(0.0, 1.0));
                }
            }
            Some((name, q))
        })
        .collect()
}

/// The encodings to try, best first, for an `Accept-Encoding` value (`None` when
/// the header is absent). Only acceptable encodings are listed, and `Identity`
/// always ends the list: when nothing else is available the file is sent as it
/// is, even to a client that refused it (`identity;q=0`), rather than a 406 that
/// would leave a page without its scripts.
///
/// - No header: the file itself (a client that says nothing may not decode).
/// - `br` and `gzip` (also `x-gzip`) are acceptable when listed with q > 0, or
///   when `*` is with q > 0 and they are not listed.
/// - `identity` is acceptable unless `identity;q=0`, or `*;q=0` without an
///   `identity` entry; when not listed it ranks below every listed encoding.
/// - Ties go to the smaller file: br, then gzip, then identity.
pub fn ranked(accept_encoding: Option<&str>) -> Vec<Encoding> {
    let Some(value) = accept_encoding else { return vec![Encoding::Identity] };
    let entries = parse_weighted(value);
    let explicit = |encoding: Encoding| {
        entries.iter().filter(|(name, _)| encoding.names().contains(&name.as_str())).map(|(_, q)| *q).reduce(f32::max)
    };
    let star = entries.iter().filter(|(name, _)| name == "*").map(|(_, q)| *q).reduce(f32::max);
    let mut acceptable: Vec<(Encoding, f32)> = Encoding::PREFERENCE
        .into_iter()
        .filter_map(|encoding| {
            let q = match (explicit(encoding), star, encoding) {
                (Some(q), _, _) => q,
                (None, Some(q), _) => q,
                // Identity is acceptable by default, below anything the client listed.
                (None, None, Encoding::Identity) => 0.0001,
                (None, None, _) => 0.0,
            };
            (q > 0.0).then_some((encoding, q))
        })
        .collect();
    // Stable: equal q keeps the preference order.
    acceptable.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut ranked: Vec<Encoding> = acceptable.into_iter().map(|(encoding, _)| encoding).collect();
    if !ranked.contains(&Encoding::Identity) {
        ranked.push(Encoding::Identity);
    }
    ranked
}

/// The best encoding among `available` (the file itself is always available).
pub fn choose_encoding(accept_encoding: Option<&str>, available: &[Encoding]) -> Encoding {
    ranked(accept_encoding)
        .into_iter()
        .find(|encoding| *encoding == Encoding::Identity || available.contains(encoding))
        .unwrap_or(Encoding::Identity)
}

/// Whether the client takes an HTML page: no `Accept` header, or one that lists
/// `text/html`, `text/*` or `*/*` with q > 0. A script asking for JSON gets the
/// API's "no such route" problem instead of the app's page.
pub fn accepts_html(headers: &HeaderMap) -> bool {
    let values: Vec<&str> = headers.get_all(header::ACCEPT).iter().filter_map(|value| value.to_str().ok()).collect();
    if values.is_empty() {
        return true;
    }
    let entries = parse_weighted(&values.join(","));
    let quality = |range: &str| entries.iter().filter(|(name, _)| name == range).map(|(_, q)| *q).reduce(f32::max);
    // The most specific range decides (RFC 9110: "text/html;q=0, */*" refuses HTML).
    quality("text/html").or_else(|| quality("text/*")).or_else(|| quality("*/*")).is_some_and(|q| q > 0.0)
}

/// Whether the client asks for HTML by name (`text/html` or `text/*` with q > 0), as
/// browsers do when they navigate. `*/*` alone (curl, API clients) does not count.
pub fn names_html(headers: &HeaderMap) -> bool {
    let values: Vec<&str> = headers.get_all(header::ACCEPT).iter().filter_map(|value| value.to_str().ok()).collect();
    let entries = parse_weighted(&values.join(","));
    let quality = |range: &str| entries.iter().filter(|(name, _)| name == range).map(|(_, q)| *q).reduce(f32::max);
    quality("text/html").or_else(|| quality("text/*")).is_some_and(|q| q > 0.0)
}
