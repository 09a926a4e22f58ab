//! Network addresses: which ones outbound requests made for users may reach (being written).
