//! Verifying that a webhook really comes from Vapi: a shared secret, a bearer token, or an HMAC signature.
//!
//! Pure logic over headers and the raw body, so it is tested without a server. Comparisons of secrets are
//! constant-time. Secrets are never formatted: [`AuthConfig`]'s `Debug` redacts them.

use std::fmt;

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
    /// An HMAC credential: `x-signature = hex(HMAC(secret, "{timestamp}.{body}"))`.
    Hmac {
        /// The shared key.
        secret: String,
        /// `sha256` (default), `sha512` or `sha1`.
        #[serde(default)]
        algorithm: HmacAlgorithm,
        /// The header carrying the hex signature (default `x-signature`).
        #[serde(default = "default_signature_header")]
        signature_header: String,
        /// The header carrying the timestamp (default `x-timestamp`), in seconds or milliseconds.
        #[serde(default = "default_timestamp_header")]
        timestamp_header: String,
        /// How far the timestamp may be from now, in seconds (default 300).
        #[serde(default = "default_tolerance")]
        tolerance_seconds: u64,
    },
}

fn default_bearer_header() -> String {
    "authorization".into()
}
fn default_signature_header() -> String {
    "x-signature".into()
}
fn default_timestamp_header() -> String {
    "x-timestamp".into()
}
fn default_tolerance() -> u64 {
    300
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
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

impl AuthConfig {
    /// A short description for logs, naming the mode but never the secret.
    pub fn describe(&self) -> &'static str {
        match self {
            AuthConfig::None => "none",
            AuthConfig::Secret { .. } => "x-vapi-secret",
            AuthConfig::Bearer { .. } => "bearer",
            AuthConfig::Hmac { .. } => "hmac",
        }
    }

    /// Whether the configuration is usable: secrets are non-empty and header names are valid.
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
            AuthConfig::Hmac {
                secret,
                signature_header,
                timestamp_header,
                ..
            } => {
                non_empty("secret", secret)?;
                header("signature_header", signature_header)?;
                header("timestamp_header", timestamp_header)
            }
        }
    }

    /// Checks one request. `header` looks a header up by (case-insensitive) name; `now_ms` is the current
    /// time in epoch milliseconds.
    pub fn verify<'a>(
        &self,
        header: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
        now_ms: i64,
    ) -> Result<(), AuthError> {
        let required = |name: &str| header(name).ok_or_else(|| AuthError::MissingHeader(name.to_string()));
        match self {
            AuthConfig::None => Ok(()),
            AuthConfig::Secret { secret } => {
                let name = "x-vapi-secret";
                same(required(name)?.as_bytes(), secret.as_bytes(), name)
            }
            AuthConfig::Bearer { token, header: name } => {
                let value = required(name)?;
                // A custom header may carry the bare token (Vapi's `bearerPrefixEnabled: false`).
                let presented = strip_bearer(value).unwrap_or(value);
                same(presented.as_bytes(), token.as_bytes(), name)
            }
            AuthConfig::Hmac {
                secret,
                algorithm,
                signature_header,
                timestamp_header,
                tolerance_seconds,
            } => {
                let timestamp = required(timestamp_header)?;
                let signature = required(signature_header)?;
                check_window(timestamp, timestamp_header, *tolerance_seconds, now_ms)?;
                let signature = signature.rsplit('=').next().unwrap_or(signature).trim();
                let presented = hex::decode(signature).map_err(|_| AuthError::Mismatch(signature_header.clone()))?;
                let expected = sign(*algorithm, secret.as_bytes(), timestamp, body);
                same(&presented, &expected, signature_header)
            }
        }
    }
}

fn strip_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn same(presented: &[u8], expected: &[u8], header: &str) -> Result<(), AuthError> {
    if bool::from(presented.ct_eq(expected)) {
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
    if now_ms.saturating_sub(sent_ms).abs() > tolerance_ms {
        return Err(problem("outside the allowed window"));
    }
    Ok(())
}

/// `HMAC(secret, "{timestamp}.{body}")`: the payload Vapi signs by default.
pub fn sign(algorithm: HmacAlgorithm, secret: &[u8], timestamp: &str, body: &[u8]) -> Vec<u8> {
    fn mac<M: Mac + hmac::digest::KeyInit>(secret: &[u8], timestamp: &str, body: &[u8]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        HmacAlgorithm::Sha256 => mac::<Hmac<sha2::Sha256>>(secret, timestamp, body),
        HmacAlgorithm::Sha512 => mac::<Hmac<sha2::Sha512>>(secret, timestamp, body),
        HmacAlgorithm::Sha1 => mac::<Hmac<sha1::Sha1>>(secret, timestamp, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_787_155_346_082;

    fn hmac(algorithm: HmacAlgorithm) -> AuthConfig {
        AuthConfig::Hmac {
            secret: "k3y".into(),
            algorithm,
            signature_header: default_signature_header(),
            timestamp_header: default_timestamp_header(),
            tolerance_seconds: 300,
        }
    }

    fn check(config: &AuthConfig, headers: &[(&str, &str)], body: &[u8], expected: Result<(), AuthError>) {
        let lookup = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        assert_eq!(config.verify(lookup, body, NOW_MS), expected, "{headers:?}");
    }

    #[test]
    fn shared_secret() {
        let config = AuthConfig::Secret {
            secret: "s3cret".into(),
        };
        check(&config, &[("X-Vapi-Secret", "s3cret")], b"{}", Ok(()));
        check(
            &config,
            &[("x-vapi-secret", "wrong")],
            b"{}",
            Err(AuthError::Mismatch("x-vapi-secret".into())),
        );
        check(
            &config,
            &[("x-vapi-secret", "s3cret-and-more")],
            b"{}",
            Err(AuthError::Mismatch("x-vapi-secret".into())),
        );
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

    #[test]
    fn hmac_signatures_for_every_algorithm() {
        let body = br#"{"message":{"type":"hang"}}"#;
        for algorithm in [HmacAlgorithm::Sha256, HmacAlgorithm::Sha512, HmacAlgorithm::Sha1] {
            let config = hmac(algorithm);
            let seconds = (NOW_MS / 1000).to_string();
            let signature = hex::encode(sign(algorithm, b"k3y", &seconds, body));
            check(
                &config,
                &[("x-timestamp", &seconds), ("x-signature", &signature)],
                body,
                Ok(()),
            );
            // Milliseconds are accepted as well as seconds.
            let millis = NOW_MS.to_string();
            let signed_ms = hex::encode(sign(algorithm, b"k3y", &millis, body));
            check(
                &config,
                &[("x-timestamp", &millis), ("x-signature", &signed_ms)],
                body,
                Ok(()),
            );
            // A `sha256=` style prefix is accepted.
            let prefixed = format!("{}={signature}", "sha256");
            check(
                &config,
                &[("x-timestamp", &seconds), ("x-signature", &prefixed)],
                body,
                Ok(()),
            );
            // Tampered body, wrong key, stale or future timestamp.
            let mismatch = Err(AuthError::Mismatch("x-signature".into()));
            check(
                &config,
                &[("x-timestamp", &seconds), ("x-signature", &signature)],
                b"{}",
                mismatch.clone(),
            );
            let other_key = hex::encode(sign(algorithm, b"other", &seconds, body));
            check(
                &config,
                &[("x-timestamp", &seconds), ("x-signature", &other_key)],
                body,
                mismatch.clone(),
            );
            check(
                &config,
                &[("x-timestamp", &seconds), ("x-signature", "zz")],
                body,
                mismatch,
            );
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
        let config = hmac(HmacAlgorithm::Sha256);
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
    }

    #[test]
    fn debug_never_shows_secrets() {
        let config = AuthConfig::Hmac {
            secret: "hunter2".into(),
            algorithm: HmacAlgorithm::Sha256,
            signature_header: "x-signature".into(),
            timestamp_header: "x-timestamp".into(),
            tolerance_seconds: 300,
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
