//! Header rewriting: hop-by-hop headers out (RFC 9110 §7.6.1), forwarding
//! headers in.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// Removes the hop-by-hop headers: `Connection` and every header it names,
/// `Proxy-Connection`, `Keep-Alive`, `TE`, `Transfer-Encoding` and `Upgrade`.
/// Answers the `Upgrade` value when `Connection` asked for an upgrade, so the
/// caller can pass that one on deliberately.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) -> Option<HeaderValue> {
    // One pass over the names first: most messages carry none of these, or
    // only `Connection: keep-alive`, and a walk over a few names is cheaper
    // than a hashed lookup per hop-by-hop name. The length rules out nearly
    // every other name before any comparison.
    let mut has_connection = false;
    let mut has_other = false;
    for name in headers.keys() {
        if !HOP_BY_HOP_LENGTHS.contains(&name.as_str().len()) {
            continue;
        }
        if name == header::CONNECTION {
            has_connection = true;
        } else if is_fixed_hop_by_hop(name) {
            has_other = true;
        }
    }
    if !has_connection && !has_other {
        return None;
    }
    let mut wants_upgrade = false;
    if has_connection {
        let mut named: Vec<HeaderName> = Vec::new();
        // Taken out with all its values in one hashed lookup: nearly every
        // response has `Connection: keep-alive`, and this runs per response.
        if let header::Entry::Occupied(entry) = headers.entry(header::CONNECTION) {
            let (_, values) = entry.remove_entry_mult();
            for value in values {
                // The usual values, whole: nothing to split.
                let bytes = value.as_bytes();
                if bytes.eq_ignore_ascii_case(b"keep-alive") || bytes.eq_ignore_ascii_case(b"close") {
                    continue;
                }
                let Ok(text) = value.to_str() else { continue };
                for token in text.split(',') {
                    let token = token.trim();
                    if token.eq_ignore_ascii_case("upgrade") {
                        wants_upgrade = true;
                        continue;
                    }
                    // The usual tokens name no header to remove here
                    // (`Keep-Alive` goes below): skip making a header name
                    // for them, which allocates for names outside the
                    // standard set.
                    if token.is_empty()
                        || token.eq_ignore_ascii_case("close")
                        || token.eq_ignore_ascii_case("keep-alive")
                    {
                        continue;
                    }
                    if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                        named.push(name);
                    }
                }
            }
        }
        for name in named {
            // The named header may be an end-to-end one a client abuses
            // (`Connection: host`); hyper and the router need Host, so it stays.
            if name != header::HOST {
                headers.remove(&name);
            }
        }
    }
    let upgrade = if has_other { headers.remove(header::UPGRADE) } else { None };
    if has_other {
        for name in [&PROXY_CONNECTION, &KEEP_ALIVE, &header::TE, &header::TRANSFER_ENCODING] {
            headers.remove(name);
        }
    }
    if wants_upgrade { upgrade } else { None }
}

/// The lengths of the hop-by-hop names: `te`, `upgrade`, `connection` and
/// `keep-alive`, `proxy-connection`, `transfer-encoding`.
const HOP_BY_HOP_LENGTHS: [usize; 5] = [2, 7, 10, 16, 17];

/// The hop-by-hop headers removed whether or not `Connection` names them.
fn is_fixed_hop_by_hop(name: &HeaderName) -> bool {
    name == header::UPGRADE
        || name == header::TE
        || name == header::TRANSFER_ENCODING
        || name == KEEP_ALIVE
        || name == PROXY_CONNECTION
}

/// The client's address as an `X-Forwarded-For` value (IPv4-mapped IPv6
/// addresses as IPv4). Made once per connection.
pub(crate) fn forwarded_for_value(client: std::net::SocketAddr) -> Option<HeaderValue> {
    HeaderValue::try_from(client.ip().to_canonical().to_string()).ok()
}

/// Appends the client to `X-Forwarded-For` and sets `X-Forwarded-Proto` and
/// `X-Forwarded-Host` to what this hop saw. `client_value` is
/// [`forwarded_for_value`] of `client`, when the caller made it already.
pub(crate) fn add_forwarded(
    headers: &mut HeaderMap,
    client: IpAddr,
    client_value: Option<HeaderValue>,
    proto: &'static str,
    host: &HeaderValue,
) {
    // A walk over the names, cheaper than hashing this custom name for a lookup.
    let previous: Vec<&str> = if headers.keys().any(|name| name == X_FORWARDED_FOR) {
        headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .collect()
    } else {
        Vec::new()
    };
    let value = match (previous.is_empty(), client_value) {
        // The common case: no proxy before this one, and the value made once per connection.
        (true, Some(value)) => Some(value),
        (true, None) => HeaderValue::try_from(client.to_canonical().to_string()).ok(),
        (false, _) => HeaderValue::try_from(format!("{}, {}", previous.join(", "), client.to_canonical())).ok(),
    };
    if let Some(value) = value {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    }
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    headers.insert(X_FORWARDED_HOST.clone(), host.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hop_by_hop_and_the_headers_connection_names() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, X-Secret, host"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.insert(header::HOST, HeaderValue::from_static("a"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        assert_eq!(strip_hop_by_hop(&mut headers), None);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, vec!["host", "x-kept"]);
    }

    #[test]
    fn the_length_filter_lets_every_hop_by_hop_name_through() {
        let names = [&header::CONNECTION, &header::UPGRADE, &header::TE, &header::TRANSFER_ENCODING];
        for name in names.into_iter().chain([&KEEP_ALIVE, &PROXY_CONNECTION]) {
            assert!(HOP_BY_HOP_LENGTHS.contains(&name.as_str().len()), "{name}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("Close"));
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("2"));
        assert_eq!(strip_hop_by_hop(&mut headers), None);
        assert_eq!(headers.keys().collect::<Vec<_>>(), vec![header::CONTENT_LENGTH]);
    }

    #[test]
    fn end_to_end_headers_are_left_alone_and_keep_alive_alone_goes() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("a"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        assert_eq!(strip_hop_by_hop(&mut headers), None);
        assert_eq!(headers.len(), 3);
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        assert_eq!(strip_hop_by_hop(&mut headers), None);
        assert_eq!(headers.len(), 3);
        assert!(!headers.contains_key(header::CONNECTION));
        headers.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        assert_eq!(strip_hop_by_hop(&mut headers), None, "an Upgrade that Connection does not ask for");
        assert_eq!(headers.len(), 3);
    }

    #[test]
    fn an_upgrade_is_reported_only_when_connection_asks_for_it() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(strip_hop_by_hop(&mut headers), Some(HeaderValue::from_static("websocket")));
        assert!(headers.is_empty());
    }

    #[test]
    fn forwarded_for_appends() {
        let mut headers = HeaderMap::new();
        headers.insert(&X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.9"));
        let host = HeaderValue::from_static("web.localhost:8000");
        add_forwarded(&mut headers, "::ffff:127.0.0.1".parse().expect("ip"), None, "http", &host);
        assert_eq!(headers[&X_FORWARDED_FOR], "203.0.113.9, 127.0.0.1");
        assert_eq!(headers[&X_FORWARDED_PROTO], "http");
        assert_eq!(headers[&X_FORWARDED_HOST], "web.localhost:8000");
    }

    #[test]
    fn forwarded_for_uses_the_connection_value_only_when_it_is_the_first_hop() {
        let client: std::net::SocketAddr = "[::ffff:10.0.0.7]:4000".parse().expect("addr");
        let value = forwarded_for_value(client);
        assert_eq!(value.as_ref().map(|value| value.to_str().expect("ascii")), Some("10.0.0.7"));
        let host = HeaderValue::from_static("web.localhost");
        let mut headers = HeaderMap::new();
        add_forwarded(&mut headers, client.ip(), value.clone(), "http", &host);
        assert_eq!(headers[&X_FORWARDED_FOR], "10.0.0.7");
        let mut headers = HeaderMap::new();
        headers.append(&X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.9"));
        headers.append(&X_FORWARDED_FOR, HeaderValue::from_static("198.51.100.2"));
        add_forwarded(&mut headers, client.ip(), value, "http", &host);
        assert_eq!(headers[&X_FORWARDED_FOR], "203.0.113.9, 198.51.100.2, 10.0.0.7");
    }
}
