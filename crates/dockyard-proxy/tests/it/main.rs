//! The proxy's integration tests: real upstream servers, the real proxy and
//! real clients on 127.0.0.1, no mocks.

mod errors;
mod lifecycle;
mod routing;
mod streaming;
mod support;
