//! Verifying that a request really comes from Vapi: a shared secret, a bearer token, or an HMAC signature in
//! any of the set-ups Vapi's HMAC credential (`HmacAuthenticationPlan`) offers.
//!
//! Pure logic over headers and the raw body, so it is tested without a server. Verification comes in two steps
//! so the edge never buffers a body for a caller it can refuse from the headers alone:
//! [`AuthConfig::verify_headers`] decides the secret and bearer modes completely and, for HMAC, checks that the
//! signature is present and well-formed and the timestamp is fresh; [`AuthConfig::verify`] then checks the
//! signature over the body. Comparisons of secrets are constant-time. Secrets are never formatted:
//! [`AuthConfig`]'s `Debug` redacts them.

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// How requests must authenticate. Off by default (with a loud warning at startup).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AuthConfig {
    /// No authentication.
    #[default]
    None,
    /// The legacy shared secret, sent by Vapi as `X-Vapi-Secret: <secret>`.
    Secret {
        /// The secret.
        secret: String,
    },
    /// A bearer credential: `Authorization: Bearer <token>`, or the token alone in a custom header.
    Bearer {
        /// The token.
        token: String,
        /// The header carrying it (default `authorization`).
        #[serde(default = "default_bearer_header")]
        header: String,
    },
    /// An HMAC credential (Vapi's `HmacAuthenticationPlan`).
    Hmac(HmacConfig),
}

/// Vapi's HMAC credential, field for field in snake_case, plus the receiver's own choices
/// (`tolerance_seconds`, `public_url`). By default: `x-signature = hex(HMAC-SHA256(secret, "{x-timestamp}.{body}"))`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HmacConfig {
    /// The shared key (Vapi's `secretKey`).
    #[serde(alias = "secret_key")]
    pub secret: String,
    /// `sha256` (default), `sha512` or `sha1`.
    pub algorithm: HmacAlgorithm,
    /// The header carrying the signature (default `x-signature`).
    pub signature_header: String,
    /// The header carrying the timestamp (default `x-timestamp`), in seconds or milliseconds.
    pub timestamp_header: String,
    /// A prefix before the signature, such as `sha256=`. Without one, an `<algorithm>=` prefix is tolerated.
    pub signature_prefix: Option<String>,
    /// Whether Vapi sends a timestamp and signs it (default true). Without it there is no replay window.
    pub include_timestamp: bool,
    /// What is signed: `{body}`, `{timestamp}`, `{method}`, `{url}` and `{svix-id}` between literal text.
    /// Default `{timestamp}.{body}`, or `{body}` when `include_timestamp` is false.
    pub payload_format: Option<String>,
    /// The header carrying the message id for `{svix-id}` (default `svix-id`).
    pub message_id_header: Option<String>,
    /// How the signature is encoded: `hex` (default) or `base64`.
    pub signature_encoding: SignatureEncoding,
    /// Whether `secret` is base64 and is decoded before use (default false).
    pub secret_is_base64: bool,
    /// How far the timestamp may be from now, in seconds (default 300).
    pub tolerance_seconds: u64,
    /// The public base URL Vapi posts to (`https://sb.example.com`), for `{url}`. Without it the URL is rebuilt
    /// from `X-Forwarded-Proto`/`X-Forwarded-Host` or `Host`.
    pub public_url: Option<String>,
}

impl Default for HmacConfig {
    fn default() -> Self {
        HmacConfig {
            secret: String::new(),
            algorithm: HmacAlgorithm::Sha256,
            signature_header: "x-signature".into(),
            timestamp_header: "x-timestamp".into(),
            signature_prefix: None,
            include_timestamp: true,
            payload_format: None,
            message_id_header: None,
            signature_encoding: SignatureEncoding::Hex,
            secret_is_base64: false,
            tolerance_seconds: 300,
            public_url: None,
        }
    }
}

impl HmacConfig {
    /// A credential with `secret` and Vapi's defaults.
    pub fn new(secret: impl Into<String>) -> HmacConfig {
        HmacConfig {
            secret: secret.into(),
            ..HmacConfig::default()
        }
    }

    /// The payload format in force.
    pub fn format(&self) -> &str {
        match &self.payload_format {
            Some(format) => format,
            None if self.include_timestamp => "{timestamp}.{body}",
            None => "{body}",
        }
    }

    fn message_id_header(&self) -> &str {
        self.message_id_header.as_deref().unwrap_or("svix-id")
    }

    fn key(&self) -> Result<Vec<u8>, String> {
        if self.secret_is_base64 {
            base64::engine::general_purpose::STANDARD
                .decode(self.secret.trim())
                .map_err(|_| "auth: `secret` is not valid base64 but `secret_is_base64` is set".to_string())
        } else {
            Ok(self.secret.as_bytes().to_vec())
        }
    }
}

fn default_bearer_header() -> String {
    "authorization".into()
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl fmt::Debug for HmacConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacConfig")
            .field("algorithm", &self.algorithm)
            .field("signature_header", &self.signature_header)
            .field("payload_format", &self.format())
            .field("signature_encoding", &self.signature_encoding)
            .finish_non_exhaustive()
    }
}

/// The HMAC hash function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HmacAlgorithm {
    /// HMAC-SHA256, Vapi's default.
    #[default]
    Sha256,
    /// HMAC-SHA512.
    Sha512,
    /// HMAC-SHA1.
    Sha1,
}

impl HmacAlgorithm {
    /// The name Vapi and signature prefixes use.
    pub fn as_str(self) -> &'static str {
        match self {
            HmacAlgorithm::Sha256 => "sha256",
            HmacAlgorithm::Sha512 => "sha512",
            HmacAlgorithm::Sha1 => "sha1",
        }
    }

    fn output_len(self) -> usize {
        match self {
            HmacAlgorithm::Sha256 => 32,
            HmacAlgorithm::Sha512 => 64,
            HmacAlgorithm::Sha1 => 20,
        }
    }
}

/// How a signature is written in its header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    /// Lowercase or uppercase hexadecimal, Vapi's default.
    #[default]
    Hex,
    /// Standard base64 (URL-safe and unpadded forms are accepted too).
    Base64,
}

/// Why a request was refused. The message is sent to the caller, so it never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The credential header is absent.
    #[error("missing `{0}` header")]
    MissingHeader(String),
    /// The credential does not match.
    #[error("invalid credential in `{0}` header")]
    Mismatch(String),
    /// The HMAC timestamp is unreadable or outside the window.
    #[error("timestamp in `{header}` is {problem}")]
    Timestamp {
        /// The timestamp header.
        header: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// One piece of an HMAC payload format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Literal(&'a str),
    Body,
    Timestamp,
    Method,
    Url,
    MessageId,
}

/// Splits a payload format into literal text and placeholders; an unknown `{name}` is an error.
fn parse_format(format: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = format;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            pieces.push(Piece::Literal(&rest[..open]));
        }
        let close = rest[open..]
            .find('}')
            .map(|close| open + close)
            .ok_or_else(|| format!("auth: `payload_format` has an unclosed `{{` in {format:?}"))?;
        pieces.push(match &rest[open + 1..close] {
            "body" => Piece::Body,
            "timestamp" => Piece::Timestamp,
            "method" => Piece::Method,
            "url" => Piece::Url,
            "svix-id" => Piece::MessageId,
            other => {
                return Err(format!(
                    "auth: `payload_format` has an unknown placeholder `{{{other}}}` (expected {{body}}, \
                     {{timestamp}}, {{method}}, {{url}} or {{svix-id}})"
                ));
            }
        });
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest));
    }
    Ok(pieces)
}

impl AuthConfig {
    /// A short description for logs, naming the mode but never the secret.
    pub fn describe(&self) -> &'static str {
        match self {
            AuthConfig::None => "none",
            AuthConfig::Secret { .. } => "x-vapi-secret",
            AuthConfig::Bearer { .. } => "bearer",
            AuthConfig::Hmac(_) => "hmac",
        }
    }

    /// Whether the configuration is usable: secrets are non-empty, header names valid, the payload format
    /// known and covering the body.
    pub fn validate(&self) -> Result<(), String> {
        let non_empty = |name: &str, value: &str| {
            if value.is_empty() {
                Err(format!("auth: `{name}` must not be empty"))
            } else {
                Ok(())
            }
        };
        let header = |name: &str, value: &str| {
            axum::http::HeaderName::try_from(value)
                .map(drop)
                .map_err(|_| format!("auth: `{name}` is not a valid header name: {value:?}"))
        };
        match self {
            AuthConfig::None => Ok(()),
            AuthConfig::Secret { secret } => non_empty("secret", secret),
            AuthConfig::Bearer { token, header: name } => {
                non_empty("token", token)?;
                header("header", name)
            }
            AuthConfig::Hmac(hmac) => {
                non_empty("secret", &hmac.secret)?;
                if hmac.key()?.is_empty() {
                    return Err("auth: `secret` decodes to no bytes".into());
                }
                header("signature_header", &hmac.signature_header)?;
                header("timestamp_header", &hmac.timestamp_header)?;
                header("message_id_header", hmac.message_id_header())?;
                let pieces = parse_format(hmac.format())?;
                if pieces.iter().filter(|piece| **piece == Piece::Body).count() != 1 {
                    return Err(format!(
                        "auth: `payload_format` must contain `{{body}}` exactly once, got {:?}",
                        hmac.format()
                    ));
                }
                if !hmac.include_timestamp && pieces.contains(&Piece::Timestamp) {
                    return Err("auth: `payload_format` uses `{timestamp}` but `include_timestamp` is false".into());
                }
                if let Some(url) = &hmac.public_url
                    && !(url.starts_with("http://") || url.starts_with("https://"))
                {
                    return Err(format!(
                        "auth: `public_url` must start with http:// or https://, got {url:?}"
                    ));
                }
                Ok(())
            }
        }
    }

    /// Checks everything that needs no body: the whole credential in the secret and bearer modes; for HMAC
    /// that the signature is present and well-formed and the timestamp (and message id) are there and fresh.
    /// `header` looks a header up by (case-insensitive) name; `now_ms` is the current time in epoch
    /// milliseconds.
    pub fn verify_headers<'a>(&self, header: impl Fn(&str) -> Option<&'a str>, now_ms: i64) -> Result<(), AuthError> {
        self.check_headers(&header, now_ms).map(drop)
    }

    /// Checks one whole request: [`AuthConfig::verify_headers`], then the HMAC over the payload built from
    /// `method`, `path_and_query` (for `{url}`) and the raw `body`.
    pub fn verify<'a>(
        &self,
        header: impl Fn(&str) -> Option<&'a str>,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now_ms: i64,
    ) -> Result<(), AuthError> {
        let Some(presented) = self.check_headers(&header, now_ms)? else {
            return Ok(());
        };
        let AuthConfig::Hmac(hmac) = self else {
            return Ok(());
        };
        let url = request_url(hmac, &header, path_and_query);
        let timestamp = header(&hmac.timestamp_header).unwrap_or_default().trim();
        let message_id = header(hmac.message_id_header()).unwrap_or_default().trim();
        let request = SignedRequest {
            timestamp,
            method,
            url: &url,
            message_id,
            body,
        };
        let expected = mac(hmac, &request).map_err(|_| AuthError::Mismatch(hmac.signature_header.clone()))?;
        same(&presented, &expected, &hmac.signature_header)
    }

    /// The header checks; for HMAC, the decoded signature still to be compared.
    fn check_headers<'a>(
        &self,
        header: &impl Fn(&str) -> Option<&'a str>,
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>, AuthError> {
        let required = |name: &str| header(name).ok_or_else(|| AuthError::MissingHeader(name.to_string()));
        match self {
            AuthConfig::None => Ok(None),
            AuthConfig::Secret { secret } => {
                let name = "x-vapi-secret";
                same(required(name)?.as_bytes(), secret.as_bytes(), name).map(|()| None)
            }
            AuthConfig::Bearer { token, header: name } => {
                let value = required(name)?;
                // A custom header may carry the bare token (Vapi's `bearerPrefixEnabled: false`).
                let presented = strip_bearer(value).unwrap_or(value);
                same(presented.as_bytes(), token.as_bytes(), name).map(|()| None)
            }
            AuthConfig::Hmac(hmac) => {
                let signature = required(&hmac.signature_header)?;
                if hmac.include_timestamp {
                    let timestamp = required(&hmac.timestamp_header)?;
                    check_window(timestamp, &hmac.timestamp_header, hmac.tolerance_seconds, now_ms)?;
                }
                if hmac.format().contains("{svix-id}") {
                    required(hmac.message_id_header())?;
                }
                let presented = decode_signature(hmac, signature)
                    .filter(|bytes| bytes.len() == hmac.algorithm.output_len())
                    .ok_or_else(|| AuthError::Mismatch(hmac.signature_header.clone()))?;
                Ok(Some(presented))
            }
        }
    }
}

/// Removes the configured prefix (or, without one, a tolerated `<algorithm>=`) and decodes the signature.
fn decode_signature(hmac: &HmacConfig, value: &str) -> Option<Vec<u8>> {
    let value = value.trim();
    let bare = match &hmac.signature_prefix {
        Some(prefix) => strip_prefix_ignore_case(value, prefix)?,
        None => strip_prefix_ignore_case(value, &format!("{}=", hmac.algorithm.as_str())).unwrap_or(value),
    };
    match hmac.signature_encoding {
        SignatureEncoding::Hex => hex::decode(bare).ok(),
        SignatureEncoding::Base64 => {
            use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(bare).ok())
        }
    }
}

fn strip_prefix_ignore_case<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &value[prefix.len()..])
}

/// The URL Vapi posted to: the configured public base, or one rebuilt from forwarding headers or `Host`.
fn request_url<'a>(hmac: &HmacConfig, header: &impl Fn(&str) -> Option<&'a str>, path_and_query: &str) -> String {
    if let Some(base) = &hmac.public_url {
        return format!("{}{path_and_query}", base.trim_end_matches('/'));
    }
    let first = |name: &str| header(name).and_then(|value| value.split(',').next()).map(str::trim);
    let scheme = first("x-forwarded-proto").unwrap_or("http");
    let host = first("x-forwarded-host").or_else(|| header("host")).unwrap_or_default();
    format!("{scheme}://{host}{path_and_query}")
}

/// The parts of a request an HMAC payload format can name.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The timestamp header's value.
    pub timestamp: &'a str,
    /// The HTTP method.
    pub method: &'a str,
    /// The full URL.
    pub url: &'a str,
    /// The message id header's value (`{svix-id}`).
    pub message_id: &'a str,
    /// The raw body.
    pub body: &'a [u8],
}

/// The raw MAC of `request` under `hmac`'s key, algorithm and payload format.
pub fn mac(hmac: &HmacConfig, request: &SignedRequest<'_>) -> Result<Vec<u8>, String> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], pieces: &[Piece<'_>], request: &SignedRequest<'_>) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
        for piece in pieces {
            mac.update(match piece {
                Piece::Literal(text) => text.as_bytes(),
                Piece::Body => request.body,
                Piece::Timestamp => request.timestamp.as_bytes(),
                Piece::Method => request.method.as_bytes(),
                Piece::Url => request.url.as_bytes(),
                Piece::MessageId => request.message_id.as_bytes(),
            });
        }
        mac.finalize().into_bytes().to_vec()
    }
    let key = hmac.key()?;
    let pieces = parse_format(hmac.format())?;
    Ok(match hmac.algorithm {
        HmacAlgorithm::Sha256 => run::<Hmac<sha2::Sha256>>(&key, &pieces, request),
        HmacAlgorithm::Sha512 => run::<Hmac<sha2::Sha512>>(&key, &pieces, request),
        HmacAlgorithm::Sha1 => run::<Hmac<sha1::Sha1>>(&key, &pieces, request),
    })
}

/// `HMAC(secret, "{timestamp}.{body}")`: the payload Vapi signs by default.
pub fn sign(algorithm: HmacAlgorithm, secret: &[u8], timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut signed = Vec::with_capacity(timestamp.len() + 1 + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    fn run<M: Mac + hmac::digest::KeyInit>(secret: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
        mac.update(payload);
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        HmacAlgorithm::Sha256 => run::<Hmac<sha2::Sha256>>(secret, &signed),
        HmacAlgorithm::Sha512 => run::<Hmac<sha2::Sha512>>(secret, &signed),
        HmacAlgorithm::Sha1 => run::<Hmac<sha1::Sha1>>(secret, &signed),
    }
}

/// The token of an `Authorization`-style value whose scheme is `Bearer` in any letter case.
pub fn strip_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether `presented` equals `expected`, in time independent of where they differ.
pub fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    bool::from(presented.ct_eq(expected))
}

fn same(presented: &[u8], expected: &[u8], header: &str) -> Result<(), AuthError> {
    if constant_time_eq(presented, expected) {
        Ok(())
    } else {
        Err(AuthError::Mismatch(header.to_string()))
    }
}

fn check_window(timestamp: &str, header: &str, tolerance_seconds: u64, now_ms: i64) -> Result<(), AuthError> {
    let problem = |problem| AuthError::Timestamp {
        header: header.to_string(),
        problem,
    };
    let value: i64 = timestamp.trim().parse().map_err(|_| problem("not an integer"))?;
    // Vapi does not document the unit: anything past year 5138 in seconds is taken as milliseconds.
    let sent_ms = if value > 100_000_000_000 {
        value
    } else {
        value.saturating_mul(1000)
    };
    let tolerance_ms = i64::try_from(tolerance_seconds)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    if now_ms.saturating_sub(sent_ms).saturating_abs() > tolerance_ms {
        return Err(problem("outside the allowed window"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_787_155_346_082;
    const TS: &str = "1787155346";
    const BODY: &[u8] = br#"{"a":1}"#;

    fn check(config: &AuthConfig, headers: &[(&str, &str)], body: &[u8], expected: Result<(), AuthError>) {
        let lookup = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        let got = config.verify(lookup, "POST", "/webhook?x=1", body, NOW_MS);
        assert_eq!(got, expected, "{headers:?}");
    }

    #[test]
    fn shared_secret() {
        let config = AuthConfig::Secret {
            secret: "s3cret".into(),
        };
        check(&config, &[("X-Vapi-Secret", "s3cret")], b"{}", Ok(()));
        let mismatch = Err(AuthError::Mismatch("x-vapi-secret".into()));
        check(&config, &[("x-vapi-secret", "wrong")], b"{}", mismatch.clone());
        check(&config, &[("x-vapi-secret", "s3cret-and-more")], b"{}", mismatch);
        check(
            &config,
            &[],
            b"{}",
            Err(AuthError::MissingHeader("x-vapi-secret".into())),
        );
    }

    #[test]
    fn bearer_token_in_default_and_custom_headers() {
        let config = AuthConfig::Bearer {
            token: "t0k".into(),
            header: "authorization".into(),
        };
        check(&config, &[("Authorization", "Bearer t0k")], b"", Ok(()));
        check(&config, &[("Authorization", "bearer t0k")], b"", Ok(()));
        check(&config, &[("Authorization", "BEARER  t0k ")], b"", Ok(()));
        check(
            &config,
            &[("Authorization", "Bearer nope")],
            b"",
            Err(AuthError::Mismatch("authorization".into())),
        );
        check(&config, &[], b"", Err(AuthError::MissingHeader("authorization".into())));
        let custom = AuthConfig::Bearer {
            token: "t0k".into(),
            header: "x-api-key".into(),
        };
        check(&custom, &[("X-Api-Key", "t0k")], b"", Ok(()));
        check(
            &custom,
            &[("Authorization", "Bearer t0k")],
            b"",
            Err(AuthError::MissingHeader("x-api-key".into())),
        );
    }

    /// Signatures computed independently with `openssl dgst -hmac`, one per Vapi set-up.
    #[test]
    fn every_vapi_hmac_set_up_against_openssl_vectors() {
        let base = || HmacConfig::new("k3y");
        let cases: Vec<(HmacConfig, Vec<(&str, &str)>)> = vec![
            // The default: hex SHA-256 over "{timestamp}.{body}".
            (
                base(),
                vec![
                    ("x-timestamp", TS),
                    (
                        "x-signature",
                        "7e144609186198d0875f74ee008954a0e346ca047b1c87dcb099949bd74fd99c",
                    ),
                ],
            ),
            // SHA-512 and SHA-1, GitHub-style prefix, custom headers.
            (
                HmacConfig {
                    algorithm: HmacAlgorithm::Sha512,
                    signature_header: "x-hub-signature".into(),
                    timestamp_header: "x-hub-time".into(),
                    signature_prefix: Some("sha512=".into()),
                    ..base()
                },
                vec![
                    ("x-hub-time", TS),
                    (
                        "x-hub-signature",
                        "sha512=dc20a2ad3ecdda2a725c188f4480e759041e878ecd242bad9cb71f0517667c332bde9c0b8b984e91759af0df1854203d6d031aea0d251b7c1f50226f23d74221",
                    ),
                ],
            ),
            (
                HmacConfig {
                    algorithm: HmacAlgorithm::Sha1,
                    ..base()
                },
                vec![
                    ("x-timestamp", TS),
                    ("x-signature", "73CFC4AFC918907996AAF8311ED971291C3A3115"),
                ],
            ),
            // Base64 over "{method} {url} {body}" (the URL from the configured public base), no timestamp.
            (
                HmacConfig {
                    include_timestamp: false,
                    payload_format: Some("{method} {url} {body}".into()),
                    signature_encoding: SignatureEncoding::Base64,
                    public_url: Some("https://sb.example.com/".into()),
                    ..base()
                },
                vec![("x-signature", "4knev9dOu8hq4kFLxuiex38JW6hfmcHhbRfCnwz60LQ=")],
            ),
            // The same URL rebuilt from the forwarding headers a proxy adds.
            (
                HmacConfig {
                    include_timestamp: false,
                    payload_format: Some("{method} {url} {body}".into()),
                    signature_encoding: SignatureEncoding::Base64,
                    ..base()
                },
                vec![
                    ("host", "127.0.0.1:3000"),
                    ("x-forwarded-proto", "https"),
                    ("x-forwarded-host", "sb.example.com"),
                    ("x-signature", "4knev9dOu8hq4kFLxuiex38JW6hfmcHhbRfCnwz60LQ"),
                ],
            ),
            // A base64 secret, body only.
            (
                HmacConfig {
                    secret: "c2VjcmV0LWtleQ==".into(),
                    secret_is_base64: true,
                    include_timestamp: false,
                    ..base()
                },
                vec![(
                    "x-signature",
                    "b55a81137d0df4a3c2585b246e9dbc7e957811e4fd6613fdab592f15687ec523",
                )],
            ),
            // Svix-style: message id, timestamp and body, base64, `v1,` prefix.
            (
                HmacConfig {
                    secret: "c2VjcmV0LWtleQ==".into(),
                    secret_is_base64: true,
                    signature_header: "svix-signature".into(),
                    timestamp_header: "svix-timestamp".into(),
                    signature_prefix: Some("v1,".into()),
                    payload_format: Some("{svix-id}.{timestamp}.{body}".into()),
                    signature_encoding: SignatureEncoding::Base64,
                    ..base()
                },
                vec![
                    ("svix-id", "msg_1"),
                    ("svix-timestamp", TS),
                    ("svix-signature", "v1,TLHsK8dAALfYAtTPQz5i//rZpW50VtsiRUh6tmZ/Tcw="),
                ],
            ),
        ];
        for (hmac, headers) in cases {
            let config = AuthConfig::Hmac(hmac.clone());
            config.validate().unwrap();
            check(&config, &headers, BODY, Ok(()));
            // The same headers over another body, and the same body under another key, are refused.
            let mismatch = Err(AuthError::Mismatch(hmac.signature_header.clone()));
            check(&config, &headers, br#"{"a":2}"#, mismatch.clone());
            let other_key = AuthConfig::Hmac(HmacConfig {
                secret: "b3RoZXI=".into(),
                ..hmac.clone()
            });
            check(&other_key, &headers, BODY, mismatch.clone());
            // A signature truncated by one byte is refused before the body is read.
            let (name, signature) = headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&hmac.signature_header))
                .unwrap();
            let short = hex_or_b64_truncated(signature, hmac.signature_encoding);
            let mut truncated = headers.clone();
            truncated.retain(|(n, _)| n != name);
            truncated.push((name, &short));
            let lookup = |want: &str| {
                truncated
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(want))
                    .map(|(_, v)| *v)
            };
            assert_eq!(config.verify_headers(lookup, NOW_MS), mismatch);
        }
    }

    fn hex_or_b64_truncated(signature: &str, encoding: SignatureEncoding) -> String {
        match encoding {
            SignatureEncoding::Hex => signature[..signature.len() - 2].to_string(),
            SignatureEncoding::Base64 => signature.replacen('=', "", 2)[..signature.len() - 6].to_string(),
        }
    }

    #[test]
    fn timestamps_in_seconds_or_millis_within_the_window() {
        let config = AuthConfig::Hmac(HmacConfig::new("k3y"));
        let body = br#"{"message":{"type":"hang"}}"#;
        for algorithm in [HmacAlgorithm::Sha256, HmacAlgorithm::Sha512, HmacAlgorithm::Sha1] {
            let config = AuthConfig::Hmac(HmacConfig {
                algorithm,
                ..HmacConfig::new("k3y")
            });
            for when in [(NOW_MS / 1000).to_string(), NOW_MS.to_string()] {
                let signature = hex::encode(sign(algorithm, b"k3y", &when, body));
                check(
                    &config,
                    &[("x-timestamp", &when), ("x-signature", &signature)],
                    body,
                    Ok(()),
                );
                // An `<algorithm>=` prefix is tolerated when none is configured.
                let prefixed = format!("{}={signature}", algorithm.as_str());
                check(
                    &config,
                    &[("x-timestamp", &when), ("x-signature", &prefixed)],
                    body,
                    Ok(()),
                );
            }
            for skew in [-301, 301] {
                let when = (NOW_MS / 1000 + skew).to_string();
                let signed = hex::encode(sign(algorithm, b"k3y", &when, body));
                check(
                    &config,
                    &[("x-timestamp", &when), ("x-signature", &signed)],
                    body,
                    Err(AuthError::Timestamp {
                        header: "x-timestamp".into(),
                        problem: "outside the allowed window",
                    }),
                );
            }
        }
        check(
            &config,
            &[("x-signature", "00")],
            b"",
            Err(AuthError::MissingHeader("x-timestamp".into())),
        );
        check(
            &config,
            &[("x-timestamp", "soon"), ("x-signature", "00")],
            b"",
            Err(AuthError::Timestamp {
                header: "x-timestamp".into(),
                problem: "not an integer",
            }),
        );
        check(
            &config,
            &[("x-timestamp", "-9223372036854775808"), ("x-signature", "00")],
            b"",
            Err(AuthError::Timestamp {
                header: "x-timestamp".into(),
                problem: "outside the allowed window",
            }),
        );
    }

    #[test]
    fn a_configured_prefix_is_required() {
        let config = AuthConfig::Hmac(HmacConfig {
            signature_prefix: Some("sha256=".into()),
            ..HmacConfig::new("k3y")
        });
        let bare = "7e144609186198d0875f74ee008954a0e346ca047b1c87dcb099949bd74fd99c";
        check(
            &config,
            &[("x-timestamp", TS), ("x-signature", bare)],
            BODY,
            Err(AuthError::Mismatch("x-signature".into())),
        );
        check(
            &config,
            &[("x-timestamp", TS), ("x-signature", &format!("SHA256={bare}"))],
            BODY,
            Ok(()),
        );
    }

    #[test]
    fn invalid_set_ups_are_refused_with_the_reason() {
        let check = |hmac: HmacConfig, expected: &str| {
            let error = AuthConfig::Hmac(hmac).validate().unwrap_err();
            assert!(error.contains(expected), "{error}");
        };
        let base = || HmacConfig::new("k3y");
        check(
            HmacConfig {
                payload_format: Some("{timestamp}".into()),
                ..base()
            },
            "must contain `{body}` exactly once",
        );
        check(
            HmacConfig {
                payload_format: Some("{body}.{nonce}".into()),
                ..base()
            },
            "unknown placeholder `{nonce}`",
        );
        check(
            HmacConfig {
                payload_format: Some("{body".into()),
                ..base()
            },
            "unclosed",
        );
        check(
            HmacConfig {
                include_timestamp: false,
                payload_format: Some("{timestamp}.{body}".into()),
                ..base()
            },
            "`include_timestamp` is false",
        );
        check(
            HmacConfig {
                secret_is_base64: true,
                secret: "not base64!".into(),
                ..base()
            },
            "not valid base64",
        );
        check(
            HmacConfig {
                signature_header: "bad header".into(),
                ..base()
            },
            "signature_header",
        );
    }

    #[test]
    fn toml_names_follow_vapi() {
        let config: AuthConfig = toml::from_str(
            r#"
            mode = "hmac"
            secret_key = "k3y"
            algorithm = "sha1"
            signature_header = "x-sig"
            timestamp_header = "x-ts"
            signature_prefix = "sha1="
            include_timestamp = false
            payload_format = "{method}:{body}"
            message_id_header = "x-id"
            signature_encoding = "base64"
            secret_is_base64 = false
            tolerance_seconds = 60
            "#,
        )
        .unwrap();
        let AuthConfig::Hmac(hmac) = &config else {
            panic!("{config:?}")
        };
        assert_eq!(
            (hmac.algorithm, hmac.signature_encoding, hmac.format()),
            (HmacAlgorithm::Sha1, SignatureEncoding::Base64, "{method}:{body}")
        );
        config.validate().unwrap();
        let error = toml::from_str::<AuthConfig>("mode = \"hmac\"\nsecret = \"k\"\nsignature_headr = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("signature_headr"), "{error}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let config = AuthConfig::Hmac(HmacConfig::new("hunter2"));
        assert!(!format!("{config:?}").contains("hunter2"));
        let AuthConfig::Hmac(hmac) = config else { unreachable!() };
        assert!(!format!("{hmac:?}").contains("hunter2"));
    }
}
